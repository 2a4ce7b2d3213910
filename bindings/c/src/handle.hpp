// The tether_client handle and the last-error helpers every entry point uses.
//
// A failing call records its message (per client, or per thread when there is
// no client: create) and returns its code; nothing throws out of an entry
// point: guarded() turns every exception into a code.
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <system_error>

#include "event_router.hpp"
#include "tether/client.hpp"
#include "tether/tether.h"

struct tether_client {
    static constexpr std::uint32_t kMagic = 0x74657468u; // "teth"
    std::uint32_t magic = kMagic;
    std::shared_ptr<tether::c_abi::EventRouter> router;
    std::unique_ptr<tether::Client> client;
    std::mutex error_mu;
    std::string last_error; // guarded by error_mu
};

namespace tether::c_abi {

bool valid(const tether_client* c) noexcept;

// Records `message` as the client's last error (or the thread's, without a
// client) and returns `code`. Never throws.
int fail(tether_client* c, int code, std::string_view message) noexcept;

// The C code of `ec`, recording the failure (if any) as fail() does.
int result(tether_client* c, std::error_code ec, const std::string& detail = std::string()) noexcept;

// What tether_client_last_error returns (valid on this thread until the next call).
const char* last_error(tether_client* c) noexcept;

template <class F>
int guarded(tether_client* c, F&& f) noexcept {
    try {
        return f();
    } catch (const std::bad_alloc&) {
        return fail(c, TETHER_E_NO_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return fail(c, TETHER_E_INTERNAL, e.what());
    } catch (...) {
        return fail(c, TETHER_E_INTERNAL, "unknown exception");
    }
}

// Writes our struct into the caller's, keeping the caller's struct_size
// (which may be larger: a newer header).
template <class T>
void copy_out(T* dst, const T& src) {
    const size_t caller_size = dst->struct_size;
    std::memcpy(static_cast<void*>(dst), &src, sizeof(T));
    dst->struct_size = caller_size;
}

} // namespace tether::c_abi

// The common prologue of client calls.
#define TETHER_CHECK_CLIENT(c)                                                                                       \
    do {                                                                                                             \
        if ((c) == nullptr) return ::tether::c_abi::fail(nullptr, TETHER_E_INVALID_ARGUMENT, "client is NULL");      \
        if (!::tether::c_abi::valid(c))                                                                              \
            return ::tether::c_abi::fail(nullptr, TETHER_E_INVALID_ARGUMENT, "not a live tether_client");            \
    } while (0)
