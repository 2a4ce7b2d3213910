# The API reference with Doxygen (Debian package doxygen): target api-docs
# writes build/docs/api/html; test docs.api (label docs) fails on any warning,
# such as an undocumented public symbol or parameter. Skipped without doxygen.
find_program(TETHER_DOXYGEN doxygen)
if(NOT TETHER_DOXYGEN)
  message(STATUS "api-docs: skipped (doxygen not found; apt-get install doxygen)")
  return()
endif()
set(TETHER_API_DOCS_DIR ${PROJECT_BINARY_DIR}/docs/api)
configure_file(${PROJECT_SOURCE_DIR}/docs/api/Doxyfile.in ${TETHER_API_DOCS_DIR}/Doxyfile @ONLY)
add_custom_target(api-docs
  COMMAND ${TETHER_DOXYGEN} ${TETHER_API_DOCS_DIR}/Doxyfile
  COMMAND ${CMAKE_COMMAND} -E echo "API reference: ${TETHER_API_DOCS_DIR}/html/index.html"
  WORKING_DIRECTORY ${TETHER_API_DOCS_DIR}
  COMMENT "doxygen (public headers)"
  VERBATIM)
if(TETHER_BUILD_TESTS)
  add_test(NAME docs.api COMMAND ${TETHER_DOXYGEN} ${TETHER_API_DOCS_DIR}/Doxyfile WORKING_DIRECTORY ${TETHER_API_DOCS_DIR})
  set_tests_properties(docs.api PROPERTIES LABELS docs TIMEOUT 120)
endif()
