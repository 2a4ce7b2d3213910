# install() of the C ABI: tether.h, libtether.so.0 (tether::tether_c, in the
# export set of cmake/TetherInstall.cmake, which installs the C++ SDK and the
# CMake package) and tether.pc.
include(GNUInstallDirs)

install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/include/tether/tether.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tether)
install(TARGETS tether_c
  EXPORT tetherTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# Relocatable: the prefix is found from the .pc file's own directory.
file(RELATIVE_PATH TETHER_PC_PREFIX_REL /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(${CMAKE_CURRENT_LIST_DIR}/tether.pc.in ${CMAKE_CURRENT_BINARY_DIR}/tether.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tether.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
