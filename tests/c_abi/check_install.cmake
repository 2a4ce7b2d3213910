# Installs the build into a scratch prefix, then builds and runs a consumer
# through find_package(tether) (C and C++ targets) and through tether.pc.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
file(GLOB_RECURSE sonames ${prefix}/*/libtether.so.0)
file(GLOB_RECURSE configs ${prefix}/*/tetherConfig.cmake)
file(GLOB_RECURSE pcs ${prefix}/*/tether.pc)
if(NOT sonames OR NOT configs OR NOT pcs OR NOT EXISTS ${prefix}/include/tether/tether.h
   OR NOT EXISTS ${prefix}/include/tether/client.hpp)
  message(FATAL_ERROR "install is missing files: '${sonames}' '${configs}' '${pcs}'")
endif()
get_filename_component(libdir ${sonames} DIRECTORY)

# find_package(tether)
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer -G ${GENERATOR}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run(${WORK_DIR}/consumer/consumer_c)
run(${WORK_DIR}/consumer/consumer_cpp)

# pkg-config
find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} ${libdir}/pkgconfig)
  run(${PKG_CONFIG} --cflags --libs tether)
  string(STRIP "${run_out}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${C_COMPILER} -std=c99 ${CONSUMER_DIR}/consumer.c ${flags} -Wl,-rpath,${libdir} -o ${WORK_DIR}/consumer_pc)
  run(${WORK_DIR}/consumer_pc)
endif()
message(STATUS "install, find_package(tether) and tether.pc work")
