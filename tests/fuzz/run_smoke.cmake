# CTest driver for one fuzz smoke run (see CMakeLists.txt). Inputs:
#   FUZZER   the libFuzzer executable
#   CORPUS   the checked-in seed corpus (read only)
#   WORK_DIR scratch directory: new inputs and crash artifacts go here
#   SECONDS  time budget
#   DICT     optional libFuzzer dictionary
foreach(var FUZZER CORPUS WORK_DIR SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_smoke.cmake: ${var} is not set")
  endif()
endforeach()

set(dict_arg "")
if(DICT)
  set(dict_arg "-dict=${DICT}")
endif()

file(REMOVE_RECURSE "${WORK_DIR}/new")
file(MAKE_DIRECTORY "${WORK_DIR}/new" "${WORK_DIR}/artifacts")

# -runs bounds the run even on a fast machine; -max_total_time bounds it on a
# slow one. -timeout/-rss_limit_mb turn a hang or a leak into a failure.
execute_process(
  COMMAND "${FUZZER}" "${WORK_DIR}/new" "${CORPUS}"
          -max_total_time=${SECONDS} -runs=20000000 -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix=${WORK_DIR}/artifacts/ ${dict_arg}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); the reproducer is in ${WORK_DIR}/artifacts/")
endif()
