// The C ABI's error codes: TETHER_E_* against tether::errc (one table, checked
// 1:1 by the compiler), and the codes of the C layer itself.
#pragma once

#include <system_error>

namespace tether::c_abi {

// TETHER_OK, or the C code of `ec`; TETHER_E_INTERNAL for a code the C ABI
// does not know (another category, or an errc it does not list).
int to_c(std::error_code ec);

// For tether_strerror / tether_error_name / tether_error_is_local.
const char* error_message(int code) noexcept; // "unknown error" if unknown
const char* error_name(int code) noexcept;    // "unknown" if unknown
bool is_local_error(int code) noexcept;

} // namespace tether::c_abi
