// tether version numbers (compile time). Run time: tether::version_string().
#pragma once

#define TETHER_VERSION_MAJOR 0
#define TETHER_VERSION_MINOR 1
#define TETHER_VERSION_PATCH 0
#define TETHER_VERSION_STRING "0.1.0"
// MAJOR * 10000 + MINOR * 100 + PATCH
#define TETHER_VERSION_NUM (TETHER_VERSION_MAJOR * 10000 + TETHER_VERSION_MINOR * 100 + TETHER_VERSION_PATCH)

namespace tether {
const char* version_string() noexcept;
int version_number() noexcept;
} // namespace tether
