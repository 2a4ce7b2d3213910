# Debian packages through CPack: `cmake --build build --target package` (or
# `cpack --config build/CPackConfig.cmake`) writes, into the build directory,
#   libtether0     the C ABI's runtime library, libtether.so.0 (component runtime)
#   libtether-dev  headers, the static C++ SDK, the CMake package, tether.pc and
#                  the libtether.so link (component dev)
# Depends of libtether0 come from dpkg-shlibdeps. Both install under /usr.
# tests/packaging installs them with apt-get, builds consumers, and purges them.
include(GNUInstallDirs)

set(TETHER_PACKAGE_MAINTAINER "tether maintainers <maintainers@users.noreply.h-seed-96a6773b.example>"
  CACHE STRING "Maintainer field of the Debian packages")
set(TETHER_DEB_REVISION 1 CACHE STRING "Debian revision of the packages (the -N in 0.1.0-N)")
set(TETHER_DEB_VERSION ${PROJECT_VERSION}-${TETHER_DEB_REVISION})
set(tether_deb_runtime libtether${PROJECT_VERSION_MAJOR})
set(tether_deb_dev libtether-dev)

# /usr/share/doc/<package>: copyright and changelog.Debian.gz for each.
string(TIMESTAMP tether_deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC) # honours SOURCE_DATE_EPOCH
set(tether_deb_doc ${PROJECT_BINARY_DIR}/debian-doc)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/changelog.Debian.in ${tether_deb_doc}/changelog.Debian @ONLY)
execute_process(COMMAND gzip -9nc ${tether_deb_doc}/changelog.Debian
  OUTPUT_FILE ${tether_deb_doc}/changelog.Debian.gz RESULT_VARIABLE tether_gzip_rc)
if(NOT tether_gzip_rc EQUAL 0)
  message(FATAL_ERROR "gzip of changelog.Debian failed")
endif()
foreach(comp runtime dev)
  set(pkg ${tether_deb_${comp}})
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright ${tether_deb_doc}/changelog.Debian.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} COMPONENT ${comp})
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/${pkg}.lintian-overrides
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME ${pkg} COMPONENT ${comp}
    OPTIONAL)
endforeach()
# CPACK_STRIP_FILES strips the shared library only; the static libraries lose
# their debug sections here (cpack and `cmake --install --strip`).
install(CODE [[
  if(CMAKE_INSTALL_DO_STRIP)
    file(GLOB archives "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib*/libtether*.a" "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib*/*/libtether*.a")
    foreach(a IN LISTS archives)
      execute_process(COMMAND strip --strip-debug --enable-deterministic-archives ${a} RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        message(FATAL_ERROR "strip --strip-debug ${a} failed")
      endif()
    endforeach()
  endif()
]] COMPONENT dev)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tether)
set(CPACK_PACKAGE_VENDOR "tether")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${TETHER_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)

set(CPACK_DEBIAN_PACKAGE_RELEASE ${TETHER_DEB_REVISION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SOURCE tether)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME ${tether_deb_runtime})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# A shlibs file for packages linking libtether.so.0, and the ldconfig trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/${tether_deb_runtime}.triggers ${tether_deb_doc}/control/triggers COPYONLY)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${tether_deb_doc}/control/triggers)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "WebSocket client SDK that survives disconnects (C ABI)
tether keeps a WebSocket conversation alive: automatic reconnect with
jittered backoff, session resume, and replay of every message the other
side has not acknowledged (protocol tether.v1).
This package holds the C ABI shared library, libtether.so.0, used by C
programs and by the Python and C# bindings.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME ${tether_deb_dev})
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The static C++ SDK needs OpenSSL, SQLite and nlohmann-json at link/compile time
# (tetherConfig.cmake finds them); tether/asio.hpp includes Asio.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "${tether_deb_runtime} (= ${TETHER_DEB_VERSION}), libssl-dev, libsqlite3-dev, nlohmann-json3-dev (>= 3.10), libasio-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION "WebSocket client SDK that survives disconnects (development files)
tether keeps a WebSocket conversation alive: automatic reconnect with
jittered backoff, session resume, and replay of every message the other
side has not acknowledged (protocol tether.v1).
This package holds the C and C++ headers, the static C++ SDK
(find_package(tether): tether::tether), the C ABI link (tether::tether_c,
pkg-config tether, -ltether) and the CMake package files.")

include(CPack)
