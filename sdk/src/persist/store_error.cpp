#include "persist/store_error.hpp"

#include <string>

namespace tether::persist {
namespace {

struct Entry {
    store_errc code;
    const char* name;
    const char* message;
};

constexpr Entry kEntries[] = {
    {store_errc::store_locked, "store_locked", "the store is open elsewhere (this or another process)"},
    {store_errc::store_corrupt, "store_corrupt", "the store file is truncated or damaged"},
    {store_errc::store_foreign, "store_foreign", "the file is not a tether store"},
    {store_errc::store_newer_schema, "store_newer_schema", "the store was written by a newer tether version"},
    {store_errc::store_read_only, "store_read_only", "the store file or its file system is read-only"},
    {store_errc::store_disk_full, "store_disk_full", "no space left for the store; the stored state is unchanged"},
    {store_errc::store_io, "store_io", "I/O error on the store file"},
};

const Entry* find(int value) noexcept {
    for (const Entry& e : kEntries)
        if (static_cast<int>(e.code) == value) return &e;
    return nullptr;
}

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "tether.store"; }
    std::string message(int value) const override {
        const Entry* e = find(value);
        return e ? e->message : "unknown store error " + std::to_string(value);
    }
};

} // namespace

const std::error_category& store_category() noexcept {
    static const Category category;
    return category;
}

std::error_code make_error_code(store_errc e) noexcept { return {static_cast<int>(e), store_category()}; }

const char* store_errc_name(store_errc e) noexcept {
    const Entry* entry = find(static_cast<int>(e));
    return entry ? entry->name : "unknown";
}

} // namespace tether::persist
