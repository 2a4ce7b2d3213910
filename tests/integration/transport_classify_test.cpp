// The transport's failure and close classification (classify.hpp) alone:
// one row per rule, plus the rows that pin down which rule wins when two
// could match. No sockets, no websocketpp: the facts are written by hand, as
// websocket_transport.cpp gathers them.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "tether/error.hpp"
#include "transport/classify.hpp"

namespace tether::transport::detail {
namespace {

using std::chrono::milliseconds;
using C = FailureCause;

const std::error_code kSomeError = std::make_error_code(std::errc::io_error);
const std::chrono::system_clock::time_point kNow{std::chrono::seconds(784111777)}; // Sun, 06 Nov 1994 08:49:37 GMT

struct FailureRow {
    const char* name;
    C cause;
    int status;
    std::string verify;
    std::string proxy;
    errc expected;
    std::string reason_has;
    std::string retry_after = {};
    std::optional<milliseconds> retry = std::nullopt;
};

FailureFacts facts_of(const FailureRow& r) {
    FailureFacts f;
    f.cause = r.cause;
    f.error = r.cause == C::none ? std::error_code() : kSomeError;
    f.http_status = r.status;
    f.http_reason = r.status == 0 ? "" : "Reason";
    f.retry_after = r.retry_after;
    f.verify_failure = r.verify;
    f.host = "example.test";
    f.port = 443;
    f.proxy_url = r.proxy;
    return f;
}

TEST(TransportClassifyTest, EachFailureRuleAndWhichRuleWins) {
    const std::string io = kSomeError.message();
    const std::string proxy = "http://proxy.test:3128";
    const std::vector<FailureRow> rows = {
        {"status_refusal", C::other, 401, "", "", errc::http_status, "upgrade refused: HTTP 401 Reason"},
        {"status_404", C::none, 404, "", "", errc::not_found, "HTTP 404"},
        {"status_with_retry_after", C::other, 503, "", "", errc::http_status, "HTTP 503", "7", milliseconds(7000)},
        {"status_with_past_date", C::other, 429, "", "", errc::http_status, "HTTP 429",
         "Thu, 01 Jan 1970 00:00:00 GMT", milliseconds(0)},
        {"invalid_status_code_without_status", C::invalid_http_status, 0, "", "", errc::http_status, "HTTP 0"},
        {"status_beats_timeout", C::timeout, 500, "", "", errc::http_status, "HTTP 500"},
        {"timeout", C::timeout, 0, "", "", errc::connect_timeout, "connect to example.test:443 timed out: " + io},
        {"101_is_no_refusal", C::timeout, 101, "", "", errc::connect_timeout, "timed out"},
        {"timeout_beats_verify", C::timeout, 0, "bad cert", "", errc::connect_timeout, "timed out"},
        {"verify", C::tls, 0, "bad cert", "", errc::tls_verify_failed,
         "TLS verification failed for example.test: bad cert"},
        {"verify_beats_everything_after_it", C::dns, 0, "bad cert", proxy, errc::tls_verify_failed, "bad cert"},
        {"tls", C::tls, 0, "", "", errc::tls_error, "TLS handshake with example.test:443 failed: " + io},
        {"proxy", C::proxy, 0, "", proxy, errc::proxy_error, "proxy " + proxy + " failed: " + io},
        {"proxy_without_proxy_url", C::proxy, 0, "", "", errc::proxy_error, "failed"},
        {"pass_through_via_proxy", C::pass_through, 0, "", proxy, errc::proxy_error, "proxy " + proxy + " failed"},
        {"pass_through_direct", C::pass_through, 0, "", "", errc::connect_failed, "connect to example.test:443 failed"},
        {"dns_via_proxy", C::dns, 0, "", proxy, errc::proxy_error, "cannot reach proxy " + proxy + ": " + io},
        {"unreachable_via_proxy", C::unreachable, 0, "", proxy, errc::proxy_error, "cannot reach proxy"},
        {"dns", C::dns, 0, "", "", errc::dns_failed, "cannot resolve example.test: " + io},
        {"unreachable", C::unreachable, 0, "", "", errc::connect_failed,
         "connect to example.test:443 failed: " + io},
        {"invalid_uri", C::invalid_uri, 0, "", "", errc::bad_url, io},
        {"bad_upgrade", C::bad_upgrade, 0, "", "", errc::handshake_failed,
         "invalid upgrade response from example.test:443: " + io},
        {"101_without_an_error", C::none, 101, "", "", errc::handshake_failed, "invalid upgrade response"},
        {"101_with_a_drop", C::dropped, 101, "", "", errc::handshake_failed, "invalid upgrade response"},
        {"dropped", C::dropped, 0, "", "", errc::transport_closed,
         "connection to example.test:443 dropped during the handshake: " + io},
        {"other", C::other, 0, "", "", errc::connect_failed, "connect to example.test:443 failed: " + io},
        {"nothing_known", C::none, 0, "", "", errc::connect_failed, "connect to example.test:443 failed: unknown"},
    };
    for (const auto& r : rows) {
        SCOPED_TRACE(r.name);
        const core::CloseInfo info = classify_failure(facts_of(r), kNow);
        EXPECT_EQ(info.error, make_error_code(r.expected)) << info.reason;
        EXPECT_NE(info.reason.find(r.reason_has), std::string::npos) << info.reason;
        const bool refusal = r.cause == C::invalid_http_status || (r.status != 0 && r.status != 101);
        EXPECT_EQ(info.http_status, refusal ? r.status : 0);
        EXPECT_EQ(info.retry_after, r.retry);
        EXPECT_EQ(info.close_code, 0);
        EXPECT_FALSE(info.opened);
    }
}

struct CloseRow {
    const char* name;
    std::uint16_t remote;
    std::string remote_reason;
    std::uint16_t local;
    std::string local_reason;
    ProcessorReason kind;
    int user;
    bool with_error;
    std::optional<errc> expected; // nullopt: a clean close
    std::uint16_t close_code;
    std::string reason_has;
};

TEST(TransportClassifyTest, EachCloseRule) {
    using P = ProcessorReason;
    const std::string io = kSomeError.message();
    const std::vector<CloseRow> rows = {
        {"our_close_answered", 1000, "bye", 1000, "bye", P::none, 1000, false, std::nullopt, 1000, "bye"},
        {"server_close", 4009, "taken over", 4009, "taken over", P::none, -1, false, std::nullopt, 4009,
         "taken over"},
        {"no_close_frame", kCloseAbnormal, "", kCloseAbnormal, "", P::none, -1, true, errc::transport_closed, 0, io},
        {"no_close_frame_no_error", kCloseAbnormal, "", kCloseAbnormal, "", P::none, -1, false,
         errc::transport_closed, 0, "connection closed without a close frame"},
        {"too_big", kCloseAbnormal, "", 1009, "message too big", P::other, -1, false, errc::message_too_big, 0,
         "message too big"},
        {"too_big_keeps_the_servers_code", 1009, "server reason", 1009, "message too big", P::other, -1, false,
         errc::message_too_big, 1009, "message too big"},
        {"our_own_1009_is_not_too_big", 1009, "ok", 1009, "message too big", P::other, 1009, false, std::nullopt,
         1009, "ok"},
        {"1009_with_a_reason_of_ours", kCloseAbnormal, "", 1009, "app reason", P::none, -1, false,
         errc::transport_closed, 0, "without a close frame"},
        {"invalid_utf8", kCloseAbnormal, "", 1007, "Invalid UTF8", P::invalid_utf8, -1, false,
         errc::frame_invalid_json, 0, "text message is not valid UTF-8 (Invalid UTF8)"},
        {"invalid_payload", kCloseAbnormal, "", 1007, "other processor error", P::other, -1, false, errc::bad_frame,
         0, "other processor error"},
        {"protocol_error", 1002, "", 1002, "some processor error", P::other, -1, false, errc::bad_frame, 1002,
         "some processor error"},
        {"invalid_close_code", 999, "garbage", 1002, kInvalidCloseCodeReason, P::none, -1, false, errc::bad_frame, 0,
         "invalid close frame from the server (Invalid close code, code 999)"},
        {"one_byte_close_payload", 1002, "", 1002, kInvalidCloseReasonReason, P::none, -1, false, errc::bad_frame, 0,
         "(Invalid close reason: 1-byte payload)"},
        {"our_own_1002", 1002, "r", 1002, kInvalidCloseCodeReason, P::none, 1002, false, std::nullopt, 1002, "r"},
        {"1002_with_a_reason_of_ours", 1002, "r", 1002, "app reason", P::none, -1, false, std::nullopt, 1002, "r"},
    };
    for (const auto& r : rows) {
        SCOPED_TRACE(r.name);
        CloseFacts f;
        f.remote_code = r.remote;
        f.remote_reason = r.remote_reason;
        f.local_code = r.local;
        f.local_reason = r.local_reason;
        f.local_reason_kind = r.kind;
        f.user_close_code = r.user;
        if (r.with_error) f.error = kSomeError;
        const core::CloseInfo info = classify_close(f);
        if (r.expected) {
            EXPECT_EQ(info.error, make_error_code(*r.expected)) << info.reason;
        } else {
            EXPECT_FALSE(info.error) << info.error.message();
        }
        EXPECT_EQ(info.close_code, r.close_code);
        EXPECT_NE(info.reason.find(r.reason_has), std::string::npos) << info.reason;
        EXPECT_FALSE(info.opened);
    }
}

} // namespace
} // namespace tether::transport::detail
