# install(): headers, libtether.so.0 (tether::tether_c), the static C++ SDK
# (tether::tether) with the static libraries it needs, a CMake package
# (find_package(tether)) and tether.pc for the C library.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TETHER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tether)

install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/include/tether/tether.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tether)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/include/tether
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")

# tether's static dependencies must be in the export set too (link-only).
install(TARGETS tether_c tether tether_core tether_transport tether_warnings tether_websocketpp
  EXPORT tetherTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tetherTargets NAMESPACE tether:: DESTINATION ${TETHER_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/tetherConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tetherConfig.cmake
  INSTALL_DESTINATION ${TETHER_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tetherConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tetherConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/tetherConfigVersion.cmake
  DESTINATION ${TETHER_CMAKE_DIR})

# Relocatable: the prefix is found from the .pc file's own directory.
file(RELATIVE_PATH TETHER_PC_PREFIX_REL /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(${CMAKE_CURRENT_LIST_DIR}/tether.pc.in ${CMAKE_CURRENT_BINARY_DIR}/tether.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tether.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
