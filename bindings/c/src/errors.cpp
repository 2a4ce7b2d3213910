#include "errors.hpp"

#include <map>
#include <string>

#include "tether/error.hpp"
#include "tether/tether.h"

namespace tether::c_abi {
namespace {

// Every errc, with its C value: the compiler checks the 1:1 mapping.
struct CodeEntry {
    int c;
    errc e;
};
#define TETHER_CODE(C, E)                                                                                            \
    CodeEntry { C, errc::E }
constexpr CodeEntry kCodes[] = {
    TETHER_CODE(TETHER_E_INVALID_ARGUMENT, invalid_argument),
    TETHER_CODE(TETHER_E_INVALID_STATE, invalid_state),
    TETHER_CODE(TETHER_E_OUTBOX_FULL, outbox_full),
    TETHER_CODE(TETHER_E_MESSAGE_TOO_LARGE, message_too_large),
    TETHER_CODE(TETHER_E_INVALID_JSON, invalid_json),
    TETHER_CODE(TETHER_E_CLOSED, closed),
    TETHER_CODE(TETHER_E_IN_CALLBACK, in_callback),
    TETHER_CODE(TETHER_E_INVALID_UTF8, invalid_utf8),
    TETHER_CODE(TETHER_E_CONNECT_FAILED, connect_failed),
    TETHER_CODE(TETHER_E_CONNECT_TIMEOUT, connect_timeout),
    TETHER_CODE(TETHER_E_DNS_FAILED, dns_failed),
    TETHER_CODE(TETHER_E_TLS_ERROR, tls_error),
    TETHER_CODE(TETHER_E_TLS_VERIFY_FAILED, tls_verify_failed),
    TETHER_CODE(TETHER_E_HANDSHAKE_FAILED, handshake_failed),
    TETHER_CODE(TETHER_E_HTTP_STATUS, http_status),
    TETHER_CODE(TETHER_E_NOT_FOUND, not_found),
    TETHER_CODE(TETHER_E_TRANSPORT_CLOSED, transport_closed),
    TETHER_CODE(TETHER_E_HEARTBEAT_TIMEOUT, heartbeat_timeout),
    TETHER_CODE(TETHER_E_AUTH_TIMEOUT, auth_timeout),
    TETHER_CODE(TETHER_E_PROXY_ERROR, proxy_error),
    TETHER_CODE(TETHER_E_MESSAGE_TOO_BIG, message_too_big),
    TETHER_CODE(TETHER_E_BAD_URL, bad_url),
    TETHER_CODE(TETHER_E_BAD_FRAME, bad_frame),
    TETHER_CODE(TETHER_E_PROTOCOL_VERSION, protocol_version),
    TETHER_CODE(TETHER_E_UNEXPECTED_FRAME, unexpected_frame),
    TETHER_CODE(TETHER_E_SEQ_GAP, seq_gap),
    TETHER_CODE(TETHER_E_ACK_OUT_OF_RANGE, ack_out_of_range),
    TETHER_CODE(TETHER_E_BINARY_FRAME, binary_frame),
    TETHER_CODE(TETHER_E_FRAME_INVALID_JSON, frame_invalid_json),
    TETHER_CODE(TETHER_E_FRAME_NOT_OBJECT, frame_not_object),
    TETHER_CODE(TETHER_E_FRAME_MISSING_FIELD, frame_missing_field),
    TETHER_CODE(TETHER_E_FRAME_WRONG_TYPE, frame_wrong_type),
    TETHER_CODE(TETHER_E_FRAME_SEQ_OUT_OF_RANGE, frame_seq_out_of_range),
    TETHER_CODE(TETHER_E_FRAME_TOO_LARGE, frame_too_large),
    TETHER_CODE(TETHER_E_FRAME_TOO_DEEP, frame_too_deep),
    TETHER_CODE(TETHER_E_UNAUTHORIZED, unauthorized),
    TETHER_CODE(TETHER_E_FORBIDDEN, forbidden),
    TETHER_CODE(TETHER_E_TOKEN_EXPIRED, token_expired),
    TETHER_CODE(TETHER_E_SERVER_BUSY, server_busy),
    TETHER_CODE(TETHER_E_RATE_LIMITED, rate_limited),
    TETHER_CODE(TETHER_E_SESSION_TAKEN_OVER, session_taken_over),
    TETHER_CODE(TETHER_E_GOING_AWAY, going_away),
    TETHER_CODE(TETHER_E_SERVER_ERROR, server_error),
    TETHER_CODE(TETHER_E_SESSION_LOST, session_lost),
    TETHER_CODE(TETHER_E_MAX_ATTEMPTS_EXCEEDED, max_attempts_exceeded),
    TETHER_CODE(TETHER_E_NO_TOKEN, no_token),
    TETHER_CODE(TETHER_E_STORE_LOCKED, store_locked),
    TETHER_CODE(TETHER_E_STORE_CORRUPT, store_corrupt),
    TETHER_CODE(TETHER_E_STORE_FOREIGN, store_foreign),
    TETHER_CODE(TETHER_E_STORE_NEWER_SCHEMA, store_newer_schema),
    TETHER_CODE(TETHER_E_STORE_READ_ONLY, store_read_only),
    TETHER_CODE(TETHER_E_STORE_DISK_FULL, store_disk_full),
    TETHER_CODE(TETHER_E_STORE_IO, store_io),
};
#undef TETHER_CODE

constexpr bool codes_match() {
    for (const auto& entry : kCodes)
        if (entry.c != -static_cast<int>(entry.e)) return false;
    return true;
}
static_assert(codes_match(), "TETHER_E_* must equal -tether::errc");

struct CLayerCode {
    int c;
    const char* name;
    const char* message;
};
constexpr CLayerCode kCLayerCodes[] = {
    {TETHER_E_TIMEOUT, "timeout", "timed out waiting (no event, or the state was not reached)"},
    {TETHER_E_NO_MEMORY, "no_memory", "out of memory"},
    {TETHER_E_INTERNAL, "internal", "internal error in the tether library"},
};

const std::map<int, std::string>& messages() {
    static const std::map<int, std::string> table = [] {
        std::map<int, std::string> m;
        m[TETHER_OK] = "success";
        for (const auto& entry : kCodes) m[entry.c] = make_error_code(entry.e).message();
        for (const auto& entry : kCLayerCodes) m[entry.c] = entry.message;
        return m;
    }();
    return table;
}

bool known_code(int code) {
    for (const auto& entry : kCodes)
        if (entry.c == code) return true;
    return false;
}

} // namespace

int to_c(std::error_code ec) {
    if (!ec) return TETHER_OK;
    if (ec.category() == error_category() && known_code(-ec.value())) return -ec.value();
    return TETHER_E_INTERNAL;
}

const char* error_message(int code) noexcept {
    try {
        const auto& m = messages();
        const auto it = m.find(code);
        return it == m.end() ? "unknown error" : it->second.c_str();
    } catch (...) {
        return "unknown error";
    }
}

const char* error_name(int code) noexcept {
    if (code == TETHER_OK) return "ok";
    for (const auto& entry : kCodes)
        if (entry.c == code) return errc_name(entry.e);
    for (const auto& entry : kCLayerCodes)
        if (entry.c == code) return entry.name;
    return "unknown";
}

bool is_local_error(int code) noexcept { return code <= -1 && code >= -99 && known_code(code); }

} // namespace tether::c_abi
