// How the transport names the end of a connection: pure functions from what
// websocketpp reported (reduced to facts) to the CloseInfo the Session acts
// on. websocket_transport.cpp gathers the facts; this file decides nothing
// about websocketpp and includes none of it, so it compiles fast and is
// tested alone (tests/integration/classify_test.cpp, one row per branch).
//
// Model: a failed open (websocketpp's fail handler) becomes one errc chosen
// by the first rule that matches, in this order: an HTTP status other than
// 101, a timeout, a certificate the verifier refused, TLS, the proxy, DNS or
// an unreachable peer (proxy_error when going through a proxy), a bad URI, a
// broken upgrade, a drop during the handshake, else connect_failed. An ended
// connection (the close handler) keeps the server's close code and reason,
// unless websocketpp closed it itself for a protocol error, which becomes
// message_too_big, frame_invalid_json or bad_frame; a close the application
// asked for is never one of those.
//
// Thread safety: pure functions over values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

#include "core/close_info.hpp"

namespace tether::transport::detail {

// The kind of error code websocketpp's fail handler reported. The codes come
// from websocketpp's, Asio's and OpenSSL's categories; websocket_transport.cpp
// sorts them into these kinds, because comparing them needs those headers.
enum class FailureCause {
    none,                // no error code
    invalid_http_status, // the response had a status other than 101
    timeout,             // a websocketpp phase timer or ETIMEDOUT
    tls,                 // socket/TLS layer: handshake, short read, OpenSSL
    proxy,               // the proxy refused or answered garbage
    pass_through,        // an error websocketpp passed through unchanged
    dns,                 // the resolver failed
    unreachable,         // refused, unreachable, network down
    invalid_uri,
    bad_upgrade,         // processor error or websocketpp's general error
    dropped,             // EOF, reset, broken pipe, aborted
    other,
};

struct FailureFacts {
    FailureCause cause = FailureCause::none;
    std::error_code error;  // as reported; only its message is used here
    int http_status = 0;    // 0: no response
    std::string http_reason; // the response's reason phrase
    std::string retry_after; // the response's Retry-After header, as sent
    std::string verify_failure; // why the certificate verifier refused; empty: it did not
    std::string host;
    std::uint16_t port = 0;
    std::string proxy_url; // empty: a direct connection
};

core::CloseInfo classify_failure(const FailureFacts& facts, std::chrono::system_clock::time_point now);

// Whether the reason websocketpp put in its own close frame is the text of
// one of its processor errors, and which.
enum class ProcessorReason { none, invalid_utf8, other };

// RFC 6455 close codes the classification tells apart.
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseAbnormal = 1006; // websocketpp's "no close frame received"
inline constexpr std::uint16_t kCloseInvalidPayload = 1007;
inline constexpr std::uint16_t kCloseMessageTooBig = 1009;

// The reasons websocketpp 0.8.2 puts in the 1002 it answers an invalid close
// frame with (connection_impl.hpp, process_control_frame): a code that is not
// allowed on the wire (0-999, 1004-1006, 1015, 1016-2999, >= 5000), a 1-byte
// payload, or a reason that is not UTF-8.
inline constexpr const char* kInvalidCloseCodeReason = "Invalid close code";
inline constexpr const char* kInvalidCloseReasonReason = "Invalid close reason";

struct CloseFacts {
    std::uint16_t remote_code = kCloseAbnormal; // kCloseAbnormal: no close frame received
    std::string remote_reason;
    std::uint16_t local_code = kCloseAbnormal; // the code of the close frame we sent
    std::string local_reason;
    ProcessorReason local_reason_kind = ProcessorReason::none;
    int user_close_code = -1; // the code passed to Transport::close(); -1: none
    std::error_code error;    // the connection's error code, if any
};

// `opened` is left false; the caller knows whether on_open was delivered.
core::CloseInfo classify_close(const CloseFacts& facts);

} // namespace tether::transport::detail
