# The release version is written in several files that tools read on their
# own (C headers, Python and C# packaging). The top CMakeLists.txt is the one
# source; this check fails when any of the others says something else.
# Run: cmake -DSOURCE=<repo> -DVERSION=<x.y.z> -P check_version.cmake
string(REPLACE "." ";" parts "${VERSION}")
list(GET parts 0 major)
list(GET parts 1 minor)
list(GET parts 2 patch)
math(EXPR num "${major} * 10000 + ${minor} * 100 + ${patch}")
set(expectations
  "sdk/include/tether/version.hpp|#define TETHER_VERSION_STRING \"${VERSION}\""
  "sdk/include/tether/version.hpp|#define TETHER_VERSION_MAJOR ${major}[^0-9]"
  "sdk/include/tether/version.hpp|#define TETHER_VERSION_MINOR ${minor}[^0-9]"
  "sdk/include/tether/version.hpp|#define TETHER_VERSION_PATCH ${patch}[^0-9]"
  "bindings/c/include/tether/tether.h|#define TETHER_VERSION_STRING \"${VERSION}\""
  "bindings/c/include/tether/tether.h|#define TETHER_VERSION_MAJOR ${major}[^0-9]"
  "bindings/c/include/tether/tether.h|#define TETHER_VERSION_MINOR ${minor}[^0-9]"
  "bindings/c/include/tether/tether.h|#define TETHER_VERSION_PATCH ${patch}[^0-9]"
  "bindings/python/pyproject.toml|version = \"${VERSION}\""
  "bindings/python/tether/__init__.py|__version__ = \"${VERSION}\""
  "bindings/csharp/src/AssemblyInfo.cs|AssemblyVersion(\"${VERSION}.0\")"
  "bindings/python/tests/test_client.py|version_number() == ${num}"
  "bindings/csharp/tests/TetherClientTests.cs|Assert.AreEqual(\"${VERSION}\", TetherClient.Version)"
  "bindings/csharp/tests/TetherClientTests.cs|Assert.AreEqual(${num}, TetherClient.VersionNumber)"
  "CHANGELOG.md|## [${VERSION}]")
set(failed "")
foreach(e IN LISTS expectations)
  string(FIND "${e}" "|" bar)
  string(SUBSTRING "${e}" 0 ${bar} file)
  math(EXPR start "${bar} + 1")
  string(SUBSTRING "${e}" ${start} -1 text)
  file(READ "${SOURCE}/${file}" content)
  if(text MATCHES "\\[\\^0-9\\]$")
    string(REGEX MATCH "${text}" hit "${content}")
    set(at 0)
    if(NOT hit)
      set(at -1)
    endif()
  else()
    string(FIND "${content}" "${text}" at)
  endif()
  if(at EQUAL -1)
    string(APPEND failed "\n  ${file}: expected `${text}`")
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "version ${VERSION} (CMakeLists.txt project()) is not written everywhere:${failed}")
endif()
message(STATUS "version ${VERSION} consistent in ${SOURCE}")
