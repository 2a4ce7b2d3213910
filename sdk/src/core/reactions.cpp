#include "core/reactions.hpp"

#include <algorithm>

namespace tether::core {
namespace {

Reaction make(Reaction::Kind kind, errc e, std::string detail, std::optional<Duration> retry_after = std::nullopt) {
    Reaction r;
    r.kind = kind;
    r.reason = make_error_code(e);
    r.detail = std::move(detail);
    r.retry_after = retry_after;
    return r;
}

Reaction protocol(errc e, std::string detail) {
    Reaction r = make(Reaction::Kind::retry, e, std::move(detail));
    r.protocol_error = true;
    return r;
}

// The bad_frame family (docs/protocol.md §3.2), protocol_version aside.
bool is_violation(const std::error_code& ec) {
    if (ec.category() != error_category()) return false;
    const int v = ec.value();
    return v >= static_cast<int>(errc::bad_frame) && v <= static_cast<int>(errc::frame_too_deep) &&
           v != static_cast<int>(errc::protocol_version);
}

Reaction from_http_status(const CloseInfo& info) {
    const int s = info.http_status;
    const std::string what = "HTTP " + std::to_string(s) + " at the upgrade";
    if (s == 401) return make(Reaction::Kind::fail, errc::unauthorized, what);
    if (s == 403) return make(Reaction::Kind::fail, errc::forbidden, what);
    if (s == 404) return make(Reaction::Kind::fail, errc::not_found, what);
    if (s == 429) return make(Reaction::Kind::retry, errc::rate_limited, what, info.retry_after);
    if (s == 503) return make(Reaction::Kind::retry, errc::server_busy, what, info.retry_after);
    if (s >= 500) return make(Reaction::Kind::retry, errc::server_error, what, info.retry_after);
    // Other 4xx: the request itself is wrong; repeating it cannot help.
    if (s >= 400) return make(Reaction::Kind::fail, errc::http_status, what);
    // 1xx/2xx/3xx instead of 101: a broken or intercepting hop; retry.
    return make(Reaction::Kind::retry, errc::handshake_failed, what);
}

Reaction from_close_code(const CloseInfo& info) {
    const std::uint16_t c = info.close_code;
    std::string what = "close " + std::to_string(c);
    if (!info.reason.empty()) what += " (" + info.reason + ")";
    switch (c) {
    case close_code::normal: // without our bye: the server ended the connection, not the session
    case close_code::going_away:
    case close_code::service_restart: {
        Reaction r = make(Reaction::Kind::retry_soon, errc::going_away, what);
        r.report = false;
        return r;
    }
    case close_code::try_again_later: return make(Reaction::Kind::retry, errc::server_busy, what);
    case close_code::unauthorized: return make(Reaction::Kind::fail, errc::unauthorized, what);
    case close_code::token_expired: return make(Reaction::Kind::refresh, errc::token_expired, what);
    case close_code::forbidden: return make(Reaction::Kind::fail, errc::forbidden, what);
    case close_code::session_taken_over: return make(Reaction::Kind::closed, errc::session_taken_over, what);
    case close_code::protocol_error:
    case close_code::invalid_payload:
    case close_code::bad_frame: return protocol(errc::bad_frame, what);
    case close_code::message_too_big: return protocol(errc::message_too_big, what);
    case close_code::abnormal: return make(Reaction::Kind::retry, errc::transport_closed, what);
    default: return make(Reaction::Kind::retry, errc::server_error, what); // 1011, 1014, unknown 4xxx, ...
    }
}

} // namespace

const char* to_string(Reaction::Kind k) noexcept {
    switch (k) {
    case Reaction::Kind::retry: return "retry";
    case Reaction::Kind::retry_soon: return "retry_soon";
    case Reaction::Kind::refresh: return "refresh";
    case Reaction::Kind::fail: return "fail";
    case Reaction::Kind::closed: return "closed";
    }
    return "unknown";
}

Reaction classify_close(const CloseInfo& info) {
    if (info.http_status != 0) return from_http_status(info);
    if (info.error) {
        const std::string detail = info.reason.empty() ? info.error.message() : info.reason;
        if (info.error == errc::tls_verify_failed || info.error == errc::bad_url ||
            info.error == errc::protocol_version || info.error == errc::not_found ||
            info.error == errc::unauthorized || info.error == errc::forbidden)
            return make(Reaction::Kind::fail, static_cast<errc>(info.error.value()), detail);
        // Violations the transport detected (WebSocket framing, UTF-8, an
        // invalid close frame, an inbound message over the limit) count as
        // protocol errors like those the session detects.
        if (info.error == errc::message_too_big || is_violation(info.error))
            return protocol(static_cast<errc>(info.error.value()), detail);
        if (info.error.category() == error_category())
            return make(Reaction::Kind::retry, static_cast<errc>(info.error.value()), detail, info.retry_after);
        Reaction r = make(Reaction::Kind::retry, errc::transport_closed, detail);
        r.reason = info.error;
        return r;
    }
    if (info.close_code != 0) return from_close_code(info);
    return make(Reaction::Kind::retry, errc::transport_closed,
                info.reason.empty() ? "connection closed without a close frame" : info.reason);
}

Reaction classify_error_frame(const ErrorFrame& f) {
    std::string what = "server error `" + f.code + "`";
    if (f.message) what += ": " + *f.message;
    std::optional<Duration> retry_after;
    if (f.retry_after_ms) retry_after = clamp_duration(Duration(static_cast<Duration::rep>(
                               std::min<std::uint64_t>(*f.retry_after_ms, static_cast<std::uint64_t>(kMaxDuration.count())))));
    if (f.code == "unauthorized") return make(Reaction::Kind::fail, errc::unauthorized, what);
    if (f.code == "forbidden") return make(Reaction::Kind::fail, errc::forbidden, what);
    if (f.code == "token_expired") return make(Reaction::Kind::refresh, errc::token_expired, what);
    if (f.code == "server_busy") return make(Reaction::Kind::retry, errc::server_busy, what, retry_after);
    if (f.code == "rate_limited") return make(Reaction::Kind::retry, errc::rate_limited, what, retry_after);
    if (f.code == "session_taken_over") return make(Reaction::Kind::closed, errc::session_taken_over, what);
    if (f.code == "protocol_version") return make(Reaction::Kind::fail, errc::protocol_version, what);
    if (f.code == "bad_frame") return protocol(errc::bad_frame, what);
    return make(Reaction::Kind::retry, errc::server_error, what, retry_after);
}

} // namespace tether::core
