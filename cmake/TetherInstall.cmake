# install() of the C++ SDK: its public headers (sdk/include/tether), the static
# library tether::tether with the static libraries it needs, and the CMake
# package (find_package(tether)). Works with or without the bindings; the C
# ABI (bindings/c/cmake/TetherInstall.cmake) adds tether::tether_c and tether.h
# to the same export set when it is built. Components (cmake/TetherPackaging.cmake):
# `dev` here; the C ABI's shared library is `runtime`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TETHER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tether)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/include/tether
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT dev
  FILES_MATCHING PATTERN "*.hpp")

# tether's static dependencies must be in the export set too (link-only).
install(TARGETS tether tether_core tether_protocol tether_transport tether_persist tether_warnings tether_websocketpp
  EXPORT tetherTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tetherTargets NAMESPACE tether:: DESTINATION ${TETHER_CMAKE_DIR} COMPONENT dev)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/tetherConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tetherConfig.cmake
  INSTALL_DESTINATION ${TETHER_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tetherConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tetherConfig.cmake ${PROJECT_BINARY_DIR}/tetherConfigVersion.cmake
  DESTINATION ${TETHER_CMAKE_DIR} COMPONENT dev)
