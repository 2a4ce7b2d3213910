/// @file
/// tether version numbers (compile time). Run time: tether::version_string().
#pragma once

#define TETHER_VERSION_MAJOR 0         ///< incompatible API changes
#define TETHER_VERSION_MINOR 2         ///< compatible additions
#define TETHER_VERSION_PATCH 0         ///< fixes
#define TETHER_VERSION_STRING "0.2.0" ///< "MAJOR.MINOR.PATCH"
/// MAJOR * 10000 + MINOR * 100 + PATCH
#define TETHER_VERSION_NUM (TETHER_VERSION_MAJOR * 10000 + TETHER_VERSION_MINOR * 100 + TETHER_VERSION_PATCH)

namespace tether {
/// @return the library's TETHER_VERSION_STRING, at run time
const char* version_string() noexcept;
/// @return the library's TETHER_VERSION_NUM, at run time
int version_number() noexcept;
} // namespace tether
