// Error codes of the persistence store: the `storage` block of tether::errc
// (500-506, kind error_kind::storage). store_errc names the same values so
// the store's code reads as its own vocabulary; `ec == store_errc::x` and
// `ec == tether::errc::x` are the same test. Caller misuse of the store API
// is reported with tether::errc::invalid_argument.
//
// Thread safety: immutable; safe from any thread.
#pragma once

#include <system_error>

#include "tether/error.hpp"

namespace tether::persist {

enum class store_errc : int {
    store_locked = static_cast<int>(errc::store_locked),
    store_corrupt = static_cast<int>(errc::store_corrupt),
    store_foreign = static_cast<int>(errc::store_foreign),
    store_newer_schema = static_cast<int>(errc::store_newer_schema),
    store_read_only = static_cast<int>(errc::store_read_only),
    store_disk_full = static_cast<int>(errc::store_disk_full),
    store_io = static_cast<int>(errc::store_io),
};

inline std::error_code make_error_code(store_errc e) noexcept {
    return tether::make_error_code(static_cast<errc>(e));
}
// The short stable name, e.g. "store_locked".
inline const char* store_errc_name(store_errc e) noexcept { return errc_name(static_cast<errc>(e)); }

} // namespace tether::persist

namespace std {
template <> struct is_error_code_enum<tether::persist::store_errc> : true_type {};
} // namespace std
