#include "transport/classify.hpp"

#include "tether/error.hpp"
#include "transport/transport_util.hpp"

namespace tether::transport::detail {
namespace {

core::CloseInfo refused(errc e, std::string reason) {
    core::CloseInfo info;
    info.error = make_error_code(e);
    info.reason = std::move(reason);
    return info;
}

// websocketpp closes by itself on a protocol error, with the processor error
// text (or its invalid-close-frame text) as reason. Sets the error and reason
// of such a close and returns true; otherwise leaves `info` alone.
bool classify_own_close(const CloseFacts& f, core::CloseInfo& info) {
    const bool processor = f.local_reason_kind != ProcessorReason::none;
    auto set = [&info](errc e, std::string reason) {
        info.error = make_error_code(e);
        info.reason = std::move(reason);
        return true;
    };
    if (f.local_code == kCloseMessageTooBig && processor) return set(errc::message_too_big, f.local_reason);
    if (f.local_code == kCloseInvalidPayload && f.local_reason_kind == ProcessorReason::invalid_utf8) {
        // A text message that is not UTF-8: docs/protocol.md §3.1 makes
        // that frame_invalid_json, whichever layer noticed it.
        return set(errc::frame_invalid_json, "text message is not valid UTF-8 (" + f.local_reason + ")");
    }
    if ((f.local_code == kCloseProtocolError || f.local_code == kCloseInvalidPayload) && processor) {
        return set(errc::bad_frame, f.local_reason);
    }
    if (f.local_code == kCloseProtocolError &&
        (f.local_reason == kInvalidCloseCodeReason || f.local_reason == kInvalidCloseReasonReason)) {
        // The server's close frame itself broke RFC 6455 §5.5.1/§7.4: a
        // protocol violation, not a close code to act on. Neither its code
        // nor its reason is passed on (the reason may be the invalid UTF-8).
        // websocketpp reports a 1-byte payload as remote code 1002.
        info.close_code = 0;
        return set(errc::bad_frame, "invalid close frame from the server (" + f.local_reason +
                                        (f.remote_code == kCloseProtocolError
                                             ? std::string(": 1-byte payload")
                                             : ", code " + std::to_string(f.remote_code)) +
                                        ")");
    }
    return false;
}

} // namespace

core::CloseInfo classify_failure(const FailureFacts& f, std::chrono::system_clock::time_point now) {
    const std::string target = f.host + ":" + std::to_string(f.port);
    const std::string what = f.error.message();
    const bool via_proxy = !f.proxy_url.empty();
    const int status = f.http_status;

    if (f.cause == FailureCause::invalid_http_status || (status != 0 && status != 101)) {
        core::CloseInfo info = refused(status == 404 ? errc::not_found : errc::http_status,
                                       "upgrade refused: HTTP " + std::to_string(status) + " " + f.http_reason);
        info.http_status = status;
        if (!f.retry_after.empty()) info.retry_after = parse_retry_after(f.retry_after, now);
        return info;
    }
    if (f.cause == FailureCause::timeout) {
        return refused(errc::connect_timeout, "connect to " + target + " timed out: " + what);
    }
    if (!f.verify_failure.empty()) {
        return refused(errc::tls_verify_failed, "TLS verification failed for " + f.host + ": " + f.verify_failure);
    }
    if (f.cause == FailureCause::tls) {
        return refused(errc::tls_error, "TLS handshake with " + target + " failed: " + what);
    }
    if (f.cause == FailureCause::proxy || (via_proxy && f.cause == FailureCause::pass_through)) {
        return refused(errc::proxy_error, "proxy " + f.proxy_url + " failed: " + what);
    }
    const bool dns = f.cause == FailureCause::dns;
    const bool unreachable = f.cause == FailureCause::unreachable;
    if ((dns || unreachable) && via_proxy) {
        return refused(errc::proxy_error, "cannot reach proxy " + f.proxy_url + ": " + what);
    }
    if (dns) return refused(errc::dns_failed, "cannot resolve " + f.host + ": " + what);
    if (unreachable) return refused(errc::connect_failed, "connect to " + target + " failed: " + what);
    if (f.cause == FailureCause::invalid_uri) return refused(errc::bad_url, what);
    if (f.cause == FailureCause::bad_upgrade || status == 101) {
        return refused(errc::handshake_failed, "invalid upgrade response from " + target + ": " + what);
    }
    if (f.cause == FailureCause::dropped) {
        return refused(errc::transport_closed, "connection to " + target + " dropped during the handshake: " + what);
    }
    return refused(errc::connect_failed,
                   "connect to " + target + " failed: " + (f.error ? what : std::string("unknown")));
}

core::CloseInfo classify_close(const CloseFacts& f) {
    core::CloseInfo info;
    const bool received_close = f.remote_code != kCloseAbnormal;
    if (received_close) {
        info.close_code = f.remote_code;
        info.reason = f.remote_reason;
    }
    // A close the application asked for is never websocketpp's own.
    const bool ours = f.user_close_code >= 0 && f.local_code == f.user_close_code;
    if (!ours && classify_own_close(f, info)) return info;
    if (!received_close) {
        info.error = make_error_code(errc::transport_closed);
        info.reason = f.error ? f.error.message() : std::string("connection closed without a close frame");
    }
    return info;
}

} // namespace tether::transport::detail
