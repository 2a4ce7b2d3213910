#include "tether/error.hpp"

namespace tether {
namespace {

struct Entry {
    errc code;
    const char* name;
    const char* message;
};

constexpr Entry kEntries[] = {
    {errc::invalid_argument, "invalid_argument", "invalid argument"},
    {errc::invalid_state, "invalid_state", "operation not allowed in the current state"},
    {errc::outbox_full, "outbox_full", "outbox is full (count or byte limit)"},
    {errc::message_too_large, "message_too_large", "message exceeds the maximum size"},
    {errc::invalid_json, "invalid_json", "payload is not valid JSON"},
    {errc::closed, "closed", "client is closed"},
    {errc::in_callback, "in_callback", "not allowed from inside an SDK callback"},
    {errc::invalid_utf8, "invalid_utf8", "string is not valid UTF-8"},
    {errc::connect_failed, "connect_failed", "could not connect to the server"},
    {errc::connect_timeout, "connect_timeout", "connect timed out"},
    {errc::dns_failed, "dns_failed", "host name lookup failed"},
    {errc::tls_error, "tls_error", "TLS handshake failed"},
    {errc::tls_verify_failed, "tls_verify_failed", "TLS certificate or host name verification failed"},
    {errc::handshake_failed, "handshake_failed", "WebSocket upgrade failed"},
    {errc::http_status, "http_status", "WebSocket upgrade refused with an HTTP status"},
    {errc::not_found, "not_found", "HTTP 404 at the upgrade (wrong URL?)"},
    {errc::transport_closed, "transport_closed", "connection closed"},
    {errc::heartbeat_timeout, "heartbeat_timeout", "no frame within the liveness deadline (dead connection)"},
    {errc::auth_timeout, "auth_timeout", "no welcome within the hello timeout"},
    {errc::proxy_error, "proxy_error", "HTTP proxy error"},
    {errc::message_too_big, "message_too_big", "inbound message exceeds the size limit"},
    {errc::bad_url, "bad_url", "URL is invalid or has an unsupported scheme"},
    {errc::bad_frame, "bad_frame", "protocol violation by the peer"},
    {errc::protocol_version, "protocol_version", "unsupported protocol version or subprotocol"},
    {errc::unexpected_frame, "unexpected_frame", "frame not allowed in the current state"},
    {errc::seq_gap, "seq_gap", "message sequence gap"},
    {errc::ack_out_of_range, "ack_out_of_range", "ack for a message that was never sent"},
    {errc::binary_frame, "binary_frame", "binary frames are not allowed in tether.v1"},
    {errc::frame_invalid_json, "frame_invalid_json", "frame is not valid JSON"},
    {errc::frame_not_object, "frame_not_object", "frame is not a JSON object"},
    {errc::frame_missing_field, "frame_missing_field", "frame lacks a required field"},
    {errc::frame_wrong_type, "frame_wrong_type", "frame field has the wrong type"},
    {errc::frame_seq_out_of_range, "frame_seq_out_of_range", "sequence number is not an integer in [0, 2^53)"},
    {errc::frame_too_large, "frame_too_large", "frame exceeds the size limit"},
    {errc::frame_too_deep, "frame_too_deep", "frame JSON nesting is too deep"},
    {errc::unauthorized, "unauthorized", "unauthorized"},
    {errc::forbidden, "forbidden", "forbidden"},
    {errc::token_expired, "token_expired", "token expired"},
    {errc::server_busy, "server_busy", "server busy, try again later"},
    {errc::rate_limited, "rate_limited", "rate limited"},
    {errc::session_taken_over, "session_taken_over", "session was taken over by another connection"},
    {errc::going_away, "going_away", "server going away or restarting"},
    {errc::server_error, "server_error", "server error"},
    {errc::session_lost, "session_lost", "session could not be resumed; messages may have been missed"},
    {errc::max_attempts_exceeded, "max_attempts_exceeded", "maximum reconnect attempts exceeded"},
    {errc::no_token, "no_token", "token provider returned no token"},
    {errc::store_locked, "store_locked", "the store is open elsewhere (this or another process)"},
    {errc::store_corrupt, "store_corrupt", "the store file is truncated or damaged"},
    {errc::store_foreign, "store_foreign", "the file is not a tether store"},
    {errc::store_newer_schema, "store_newer_schema", "the store was written by a newer tether version"},
    {errc::store_read_only, "store_read_only", "the store file or its file system is read-only"},
    {errc::store_disk_full, "store_disk_full", "no space left for the store; the stored state is unchanged"},
    {errc::store_io, "store_io", "I/O error on the store file"},
};

const Entry* find(int value) noexcept {
    for (const auto& e : kEntries)
        if (static_cast<int>(e.code) == value) return &e;
    return nullptr;
}

class Category final : public std::error_category {
public:
    const char* name() const noexcept override { return "tether"; }
    std::string message(int value) const override {
        const Entry* e = find(value);
        return e ? e->message : "unknown tether error " + std::to_string(value);
    }
    std::error_condition default_error_condition(int value) const noexcept override {
        if (is_local(static_cast<errc>(value))) return make_error_condition(error_kind::local);
        return make_error_condition(value >= 500 ? error_kind::storage : error_kind::remote);
    }
};

class KindCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "tether.kind"; }
    std::string message(int value) const override {
        switch (static_cast<error_kind>(value)) {
        case error_kind::local: return "caller error";
        case error_kind::remote: return "peer or network error";
        case error_kind::storage: return "persistence store error";
        }
        return "unknown kind";
    }
};

} // namespace

const std::error_category& error_category() noexcept {
    static const Category category;
    return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

std::error_condition make_error_condition(error_kind k) noexcept {
    static const KindCategory category;
    return {static_cast<int>(k), category};
}

const char* errc_name(errc e) noexcept {
    const Entry* entry = find(static_cast<int>(e));
    return entry ? entry->name : "unknown";
}

bool is_local(errc e) noexcept { return static_cast<int>(e) < 100; }

} // namespace tether
