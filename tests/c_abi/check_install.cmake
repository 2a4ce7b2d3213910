# Installs a build into a scratch prefix, then builds and runs a consumer
# through find_package(tether) (C and C++ targets) and through tether.pc.
#
# Two configurations:
# - BUILD_DIR: the build under test (with the bindings): C++ SDK + C ABI.
# - SOURCE_DIR (instead of BUILD_DIR): configures and builds the SDK alone in
#   a scratch tree with -DTETHER_BUILD_BINDINGS=OFF first; the install must
#   then hold the C++ SDK and no C ABI.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

set(expect_c ON)
if(SOURCE_DIR)
  set(expect_c OFF)
  set(BUILD_DIR ${WORK_DIR}/sdk-build)
  set(launcher)
  if(CXX_LAUNCHER)
    set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER} -DCMAKE_C_COMPILER_LAUNCHER=${CXX_LAUNCHER})
  endif()
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BUILD_DIR} -G ${GENERATOR} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
      -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} ${launcher}
      -DTETHER_WERROR=${WERROR} -DTETHER_BUILD_BINDINGS=OFF -DTETHER_BUILD_TESTS=OFF -DTETHER_BUILD_SAMPLES=OFF -DTETHER_BUILD_BENCH=OFF)
  run(${CMAKE_COMMAND} --build ${BUILD_DIR})
endif()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
file(GLOB_RECURSE sonames ${prefix}/*/libtether.so.0)
file(GLOB_RECURSE configs ${prefix}/*/tetherConfig.cmake)
file(GLOB_RECURSE pcs ${prefix}/*/tether.pc)
file(GLOB_RECURSE archives ${prefix}/*/libtether.a)
if(NOT configs OR NOT archives OR NOT EXISTS ${prefix}/include/tether/client.hpp)
  message(FATAL_ERROR "install is missing the C++ SDK: '${configs}' '${archives}'")
endif()
# Only the public headers: nothing from sdk/src or the protocol headers.
file(GLOB_RECURSE headers RELATIVE ${prefix}/include ${prefix}/include/*)
foreach(h IN LISTS headers)
  if(NOT h MATCHES "^tether/[a-z0-9_]+\\.(hpp|h)$" OR h MATCHES "^tether/protocol")
    message(FATAL_ERROR "install has a non-public header: ${h}")
  endif()
endforeach()
if(expect_c)
  if(NOT sonames OR NOT pcs OR NOT EXISTS ${prefix}/include/tether/tether.h)
    message(FATAL_ERROR "install is missing the C ABI: '${sonames}' '${pcs}'")
  endif()
elseif(sonames OR pcs OR EXISTS ${prefix}/include/tether/tether.h)
  message(FATAL_ERROR "a build without the bindings installed C ABI files: '${sonames}' '${pcs}'")
endif()

# find_package(tether)
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer -G ${GENERATOR}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
    -DEXPECT_C=${expect_c})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run(${WORK_DIR}/consumer/consumer_cpp)
if(NOT expect_c)
  message(STATUS "install (C++ SDK only, TETHER_BUILD_BINDINGS=OFF) and find_package(tether) work")
  return()
endif()
run(${WORK_DIR}/consumer/consumer_c)

# pkg-config
get_filename_component(libdir ${sonames} DIRECTORY)
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
