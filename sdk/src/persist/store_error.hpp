// Error codes of the persistence store (tether_persist).
//
// TODO(i14): fold into tether::errc after issue 11 merges. Proposed values
// 500-506 (a new "storage" block), with a third error_kind, `storage`: the
// condition is neither caller misuse nor the peer's fault, and the
// application decides (wait, free space, delete the file, ask the user).
// Until then they live in their own std::error_code category; caller misuse
// of the store API is reported with tether::errc::invalid_argument.
//
// Thread safety: immutable; safe from any thread.
#pragma once

#include <system_error>

namespace tether::persist {

enum class store_errc : int {
    store_locked = 500,       // another Store (this process or another) holds the file
    store_corrupt = 501,      // truncated or damaged: SQLite or a row/meta checksum says so
    store_foreign = 502,      // not a tether store: not SQLite, or another application_id
    store_newer_schema = 503, // written by a newer tether (user_version above ours); left untouched
    store_read_only = 504,    // the file or its file system cannot be written
    store_disk_full = 505,    // no space: the commit was rolled back, the stored state is intact
    store_io = 506,           // any other I/O failure (the detail names the call and errno)
};

const std::error_category& store_category() noexcept;
std::error_code make_error_code(store_errc e) noexcept;
// The short stable name, e.g. "store_locked".
const char* store_errc_name(store_errc e) noexcept;

} // namespace tether::persist

namespace std {
template <> struct is_error_code_enum<tether::persist::store_errc> : true_type {};
} // namespace std
