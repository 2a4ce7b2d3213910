#include "handle.hpp"

#include "errors.hpp"

namespace tether::c_abi {
namespace {

thread_local std::string t_create_error; // tether_client_last_error(NULL)
thread_local std::string t_error_copy;   // what tether_client_last_error returns

} // namespace

bool valid(const tether_client* c) noexcept { return c != nullptr && c->magic == tether_client::kMagic && c->client; }

int fail(tether_client* c, int code, std::string_view message) noexcept {
    try {
        if (valid(c)) {
            std::lock_guard<std::mutex> lock(c->error_mu);
            c->last_error.assign(message);
        } else {
            t_create_error.assign(message);
        }
    } catch (...) {
    }
    return code;
}

int result(tether_client* c, std::error_code ec, const std::string& detail) noexcept {
    if (!ec) return TETHER_OK;
    try {
        return fail(c, to_c(ec), detail.empty() ? ec.message() : ec.message() + ": " + detail);
    } catch (...) {
        return to_c(ec);
    }
}

const char* last_error(tether_client* c) noexcept {
    try {
        if (c == nullptr) {
            t_error_copy = t_create_error;
        } else if (valid(c)) {
            std::lock_guard<std::mutex> lock(c->error_mu);
            t_error_copy = c->last_error;
        } else {
            t_error_copy = "not a live tether_client";
        }
        return t_error_copy.c_str();
    } catch (...) {
        return "";
    }
}

} // namespace tether::c_abi
