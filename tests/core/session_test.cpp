// Session state machine on virtual time: transitions, illegal inputs, the
// close-code table, half-open detection, resume and session loss.
#include <gtest/gtest.h>

#include "session_harness.hpp"

using namespace tether;
using namespace tether::core;
using namespace tether::core::testing;
using std::chrono::milliseconds;

namespace {

// ---- legal transitions ------------------------------------------------------

TEST(SessionTransitions, IdleConnectingAuthenticatingReady) {
    Harness h;
    EXPECT_EQ(h.session.state(), State::idle);
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    EXPECT_EQ(h.session.state(), State::connecting);
    const auto opens = h.take<OpenTransport>();
    ASSERT_EQ(opens.size(), 1u);
    EXPECT_EQ(opens[0].url, "ws://127.0.0.1:1/ws");
    EXPECT_EQ(opens[0].subprotocol, "tether.v1");

    const Hello hello = h.open(opens[0].id);
    EXPECT_EQ(h.session.state(), State::authenticating);
    EXPECT_FALSE(hello.resume.has_value());

    h.server_frame(Harness::welcome("s1"));
    EXPECT_EQ(h.session.state(), State::ready);
    EXPECT_EQ(h.session.session_id(), "s1");
    EXPECT_EQ(h.states(), (std::vector<State>{State::connecting, State::authenticating, State::ready}));
}

TEST(SessionTransitions, ReadyDropBackoffConnectingResumes) {
    Harness h;
    h.start_ready();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.last_error(), errc::transport_closed);
    h.advance(milliseconds(100)); // rng 0 -> delay 0..: fires at once
    EXPECT_EQ(h.session.state(), State::connecting);
    const auto id = h.expect_open();
    const Hello hello = h.open(id);
    ASSERT_TRUE(hello.resume.has_value());
    EXPECT_EQ(hello.resume->session, "s1");
    EXPECT_EQ(hello.resume->resume_token, "rt-0");
    EXPECT_EQ(hello.resume->last_seq, 0u);
    h.server_frame(Harness::welcome("s1", true, 0));
    EXPECT_EQ(h.session.state(), State::ready);
    EXPECT_EQ(h.events_of<SessionResumed>().size(), 1u);
    EXPECT_EQ(h.session.stats().resumes, 1u);
    EXPECT_EQ(h.session.stats().reconnects, 1u);
}

TEST(SessionTransitions, GracefulCloseFromReadySendsByeThenClosed) {
    Harness h;
    h.start_ready();
    h.take<SendText>();
    ASSERT_FALSE(h.session.close(h.now, milliseconds(1000)));
    h.drain();
    EXPECT_EQ(h.session.state(), State::closing);
    EXPECT_EQ(h.sent<Bye>().size(), 1u);
    auto closes = h.take<CloseTransport>();
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(closes[0].code, 1000);
    h.close_transport(Harness::close_code(1000));
    EXPECT_EQ(h.session.state(), State::closed);
    EXPECT_FALSE(h.session.poll_timeout().has_value());
}

TEST(SessionTransitions, GracefulCloseDrainsOutboxFirst) {
    Harness h;
    h.start_ready();
    auto id = h.session.send(h.now, R"({"a":1})");
    ASSERT_TRUE(id.ok());
    h.drain();
    h.take<SendText>();
    ASSERT_FALSE(h.session.close(h.now, milliseconds(1000)));
    h.drain();
    EXPECT_TRUE(h.sent<Bye>().empty()) << "bye must wait for the outbox to drain";
    h.server_frame(Ack{1});
    EXPECT_EQ(h.events_of<MessageAcked>().size(), 1u);
    EXPECT_EQ(h.sent<Bye>().size(), 1u);
    EXPECT_TRUE(h.events_of<MessageFailed>().empty());
}

TEST(SessionTransitions, GracefulCloseDrainDeadlineFailsTheRest) {
    Harness h;
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    h.drain();
    ASSERT_FALSE(h.session.close(h.now, milliseconds(500)));
    h.drain();
    h.take<SendText>();
    h.server_frame(Ack{0}); // keep the link alive, nothing acked
    h.advance(milliseconds(500));
    EXPECT_EQ(h.sent<Bye>().size(), 1u);
    auto failed = h.events_of<MessageFailed>();
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].error, errc::closed);
    // the server never finishes the close handshake: bounded by close_timeout
    h.advance(milliseconds(2000));
    EXPECT_EQ(h.session.state(), State::closed);
    EXPECT_EQ(h.take<AbortTransport>().size(), 1u);
}

TEST(SessionTransitions, CloseWhileNotReadyClosesAtOnceAndFailsQueued) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    ASSERT_TRUE(h.session.send(h.now, "{}").ok());
    ASSERT_FALSE(h.session.close(h.now, milliseconds(1000)));
    h.drain();
    EXPECT_EQ(h.session.state(), State::closed);
    EXPECT_EQ(h.take<AbortTransport>().size(), 1u);
    ASSERT_EQ(h.events_of<MessageFailed>().size(), 1u);
}

// The one input that reaches the transport only through an action: the
// session asks for the connection to be torn down and otherwise carries on
// as if the network had failed under it.
TEST(SessionTransitions, SimulatedNetworkDropAbortsTheTransportAndRecoversLikeARealDrop) {
    Harness h;
    EXPECT_EQ(h.session.simulate_network_drop(h.now), errc::invalid_state); // idle: nothing to drop
    EXPECT_EQ(h.session.stats().caller_errors, 1u);
    const ConnectionId id = h.start_ready();
    EXPECT_FALSE(h.session.simulate_network_drop(h.now));
    h.drain();
    auto aborts = h.take<AbortTransport>();
    ASSERT_EQ(aborts.size(), 1u);
    EXPECT_EQ(aborts[0].id, id);
    EXPECT_EQ(h.session.state(), State::ready); // until the transport reports the drop
    h.close_transport(Harness::transport_error(errc::transport_closed));
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.session.stats().caller_errors, 1u);
}

TEST(SessionTransitions, AbortFromReady) {
    Harness h;
    h.start_ready();
    ASSERT_FALSE(h.session.abort(h.now));
    h.drain();
    EXPECT_EQ(h.session.state(), State::closed);
    EXPECT_EQ(h.take<AbortTransport>().size(), 1u);
}

TEST(SessionTransitions, IdleCloseIsClosed) {
    Harness h;
    ASSERT_FALSE(h.session.close(h.now, milliseconds(0)));
    EXPECT_EQ(h.session.state(), State::closed);
}

TEST(SessionTransitions, ReconnectNowSkipsBackoff) {
    Harness h;
    h.rng.set_fallback(~0ull); // maximal jitter: a long wait
    h.start_ready();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    ASSERT_EQ(h.session.state(), State::backoff);
    ASSERT_FALSE(h.session.reconnect_now(h.now));
    h.drain();
    EXPECT_EQ(h.session.state(), State::connecting);
    EXPECT_EQ(h.take<OpenTransport>().size(), 1u);
}

TEST(SessionTransitions, ReconnectNowFromReadyDropsAndReconnects) {
    Harness h;
    const auto first = h.start_ready();
    ASSERT_FALSE(h.session.reconnect_now(h.now));
    h.drain();
    auto aborts = h.take<AbortTransport>();
    ASSERT_EQ(aborts.size(), 1u);
    EXPECT_EQ(aborts[0].id, first);
    EXPECT_EQ(h.session.state(), State::connecting);
    EXPECT_NE(h.expect_open(), first);
}

TEST(SessionTransitions, TokenProviderAskedBeforeEachConnection) {
    auto c = test_config();
    c.has_token_provider = true;
    Harness h(c);
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    auto fetch = h.take<FetchToken>();
    ASSERT_EQ(fetch.size(), 1u);
    EXPECT_FALSE(fetch[0].refresh);
    EXPECT_TRUE(h.take<OpenTransport>().empty()) << "no connection before the token";
    ASSERT_FALSE(h.session.provide_token(h.now, std::string("tok")));
    h.drain();
    const Hello hello = h.open(h.expect_open());
    EXPECT_EQ(hello.token, std::optional<std::string>("tok"));
}

// ---- illegal inputs leave the state unchanged ---------------------------------

TEST(SessionIllegal, InputsInTheWrongStateChangeNothing) {
    Harness h;
    EXPECT_EQ(h.session.on_transport_open(h.now, 1, "tether.v1"), errc::invalid_state);
    EXPECT_EQ(h.session.on_text(h.now, 1, "{}"), errc::invalid_state);
    EXPECT_EQ(h.session.on_binary(h.now, 1, 3), errc::invalid_state);
    EXPECT_EQ(h.session.on_transport_closed(h.now, 1, {}), errc::invalid_state);
    EXPECT_EQ(h.session.reconnect_now(h.now), errc::invalid_state);
    EXPECT_EQ(h.session.provide_token(h.now, std::string("x")), errc::invalid_state);
    h.drain();
    EXPECT_EQ(h.session.state(), State::idle);
    EXPECT_TRUE(h.actions.empty());
    EXPECT_TRUE(h.events.empty());

    h.start_ready();
    h.actions.clear();
    h.events.clear();
    EXPECT_EQ(h.session.start(h.now), errc::invalid_state);
    EXPECT_EQ(h.session.on_transport_open(h.now, h.session.connection(), "tether.v1"), errc::invalid_state);
    EXPECT_EQ(h.session.on_text(h.now, 999, R"({"type":"ack","seq":0})"), errc::invalid_state) << "stale connection";
    EXPECT_EQ(h.session.on_transport_closed(h.now, 999, {}), errc::invalid_state) << "stale connection";
    h.drain();
    EXPECT_EQ(h.session.state(), State::ready);
    EXPECT_TRUE(h.actions.empty());
    EXPECT_TRUE(h.events.empty());
    EXPECT_GE(h.session.stats().caller_errors, 1u);
}

TEST(SessionIllegal, AfterCloseEverythingIsRefused) {
    Harness h;
    h.start_ready();
    ASSERT_FALSE(h.session.abort(h.now));
    h.drain();
    h.actions.clear();
    h.events.clear();
    EXPECT_EQ(h.session.close(h.now, milliseconds(0)), errc::closed);
    EXPECT_EQ(h.session.abort(h.now), errc::closed);
    EXPECT_EQ(h.session.reconnect_now(h.now), errc::closed);
    auto sent = h.session.send(h.now, "1");
    ASSERT_FALSE(sent.ok());
    EXPECT_EQ(sent.error(), errc::closed);
    h.drain();
    EXPECT_TRUE(h.actions.empty());
    EXPECT_TRUE(h.events.empty());
    EXPECT_EQ(h.session.state(), State::closed);
}

TEST(SessionIllegal, CloseTwiceWhileClosingIsAnError) {
    Harness h;
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    ASSERT_FALSE(h.session.close(h.now, milliseconds(1000)));
    EXPECT_EQ(h.session.close(h.now, milliseconds(1000)), errc::invalid_state);
    EXPECT_EQ(h.session.state(), State::closing);
}

TEST(SessionIllegal, BadPayloadsAreRejectedAndCounted) {
    Harness h;
    const std::pair<std::string, errc> cases[] = {
        {"", errc::invalid_json},
        {"{", errc::invalid_json},
        {"{} {}", errc::invalid_json},
        {"\"\xff\"", errc::invalid_json},
    };
    for (const auto& [payload, code] : cases) {
        auto r = h.session.send(h.now, payload);
        ASSERT_FALSE(r.ok()) << payload;
        EXPECT_TRUE(r.error() == code || r.error() == errc::invalid_utf8) << payload << " -> " << r.error().message();
        EXPECT_TRUE(r.error() == error_kind::local);
    }
    auto bad_id = h.session.send(h.now, "1", "\xc3\x28");
    EXPECT_EQ(bad_id.error(), errc::invalid_argument);
    EXPECT_EQ(h.session.stats().caller_errors, 5u);
    EXPECT_EQ(h.session.outbox_size(), 0u);
}

TEST(SessionIllegal, OutboxBoundsAreReportedNotDropped) {
    auto c = test_config();
    c.outbox.max_messages = 2;
    c.outbox.max_message_bytes = 8;
    c.outbox.max_bytes = 1024;
    Harness h(c);
    EXPECT_EQ(h.session.send(h.now, "\"123456789\"").error(), errc::message_too_large);
    EXPECT_TRUE(h.session.send(h.now, "1").ok());
    EXPECT_TRUE(h.session.send(h.now, "2").ok());
    EXPECT_EQ(h.session.send(h.now, "3").error(), errc::outbox_full);
    EXPECT_EQ(h.session.outbox_size(), 2u);
}

TEST(SessionIllegal, ConfigValidation) {
    auto c = test_config();
    EXPECT_EQ(validate(c), "");
    c.heartbeat.timeout = c.heartbeat.interval;
    EXPECT_NE(validate(c), "");
    c = test_config();
    c.backoff.max = milliseconds(1);
    EXPECT_NE(validate(c), "");
    c = test_config();
    c.url.clear();
    EXPECT_NE(validate(c), "");
    c = test_config();
    c.outbox.max_in_flight = 0;
    EXPECT_NE(validate(c), "");
}

// ---- the close-code / HTTP status table, one row per test ---------------------

struct Row {
    const char* name;
    CloseInfo info;
    State expected;
    errc reason;
};

class CloseTable : public ::testing::TestWithParam<Row> {};

TEST_P(CloseTable, ReactionMatchesTheTable) {
    const Row& row = GetParam();
    Harness h;
    h.start_ready();
    h.close_transport(row.info);
    EXPECT_EQ(h.session.state(), row.expected) << row.name;
    const StateChanged change = h.last_change();
    EXPECT_EQ(change.reason, row.reason) << row.name << ": " << change.reason.message();
    if (row.expected == State::backoff) {
        h.advance(milliseconds(60000));
        EXPECT_EQ(h.session.state(), State::connecting) << "retries after the delay";
    } else {
        EXPECT_FALSE(h.session.poll_timeout().has_value()) << "terminal states arm no timer";
    }
}

CloseInfo http_info(int status) { return Harness::http(status); }

INSTANTIATE_TEST_SUITE_P(
    Rows, CloseTable,
    ::testing::Values(Row{"1000_no_bye", Harness::close_code(1000), State::backoff, errc::going_away},
                      Row{"1001", Harness::close_code(1001), State::backoff, errc::going_away},
                      Row{"1012", Harness::close_code(1012), State::backoff, errc::going_away},
                      Row{"1013", Harness::close_code(1013), State::backoff, errc::server_busy},
                      Row{"4001", Harness::close_code(4001), State::failed, errc::unauthorized},
                      Row{"4003", Harness::close_code(4003), State::failed, errc::forbidden},
                      Row{"4002_no_provider", Harness::close_code(4002), State::failed, errc::token_expired},
                      Row{"4009", Harness::close_code(4009), State::closed, errc::session_taken_over},
                      Row{"1002", Harness::close_code(1002), State::backoff, errc::bad_frame},
                      Row{"1007", Harness::close_code(1007), State::backoff, errc::bad_frame},
                      Row{"1009", Harness::close_code(1009), State::backoff, errc::message_too_big},
                      Row{"4008", Harness::close_code(4008), State::backoff, errc::bad_frame},
                      Row{"1011", Harness::close_code(1011), State::backoff, errc::server_error},
                      Row{"1006", Harness::close_code(1006), State::backoff, errc::transport_closed},
                      Row{"http401", http_info(401), State::failed, errc::unauthorized},
                      Row{"http403", http_info(403), State::failed, errc::forbidden},
                      Row{"http404", http_info(404), State::failed, errc::not_found},
                      Row{"http400", http_info(400), State::failed, errc::http_status},
                      Row{"http429", http_info(429), State::backoff, errc::rate_limited},
                      Row{"http503", http_info(503), State::backoff, errc::server_busy},
                      Row{"http502", http_info(502), State::backoff, errc::server_error},
                      Row{"http200", http_info(200), State::backoff, errc::handshake_failed},
                      Row{"tcp_refused", Harness::transport_error(errc::connect_failed), State::backoff,
                          errc::connect_failed},
                      Row{"dns", Harness::transport_error(errc::dns_failed), State::backoff, errc::dns_failed},
                      Row{"tls_handshake", Harness::transport_error(errc::tls_error), State::backoff, errc::tls_error},
                      Row{"tls_verify", Harness::transport_error(errc::tls_verify_failed), State::failed,
                          errc::tls_verify_failed},
                      Row{"bad_url", Harness::transport_error(errc::bad_url), State::failed, errc::bad_url},
                      Row{"inbound_too_big", Harness::transport_error(errc::message_too_big), State::backoff,
                          errc::message_too_big},
                      Row{"tcp_drop", Harness::transport_error(errc::transport_closed), State::backoff,
                          errc::transport_closed},
                      Row{"no_close_frame", CloseInfo{}, State::backoff, errc::transport_closed}),
    [](const ::testing::TestParamInfo<Row>& p) { return std::string(p.param.name); });

struct ErrorRow {
    const char* code;
    State expected;
    errc reason;
};

class ErrorFrameTable : public ::testing::TestWithParam<ErrorRow> {};

TEST_P(ErrorFrameTable, ServerErrorFrameReaction) {
    const ErrorRow& row = GetParam();
    Harness h;
    const auto id = h.start_ready();
    ErrorFrame e;
    e.code = row.code;
    h.server_frame(e);
    EXPECT_EQ(h.session.state(), row.expected);
    EXPECT_EQ(h.last_change().reason, row.reason);
    auto aborts = h.take<AbortTransport>();
    ASSERT_EQ(aborts.size(), 1u) << "the client does not wait for the server's close";
    EXPECT_EQ(aborts[0].id, id);
}

INSTANTIATE_TEST_SUITE_P(Codes, ErrorFrameTable,
                         ::testing::Values(ErrorRow{"unauthorized", State::failed, errc::unauthorized},
                                           ErrorRow{"forbidden", State::failed, errc::forbidden},
                                           ErrorRow{"token_expired", State::failed, errc::token_expired},
                                           ErrorRow{"server_busy", State::backoff, errc::server_busy},
                                           ErrorRow{"rate_limited", State::backoff, errc::rate_limited},
                                           ErrorRow{"bad_frame", State::backoff, errc::bad_frame},
                                           ErrorRow{"session_taken_over", State::closed, errc::session_taken_over},
                                           ErrorRow{"protocol_version", State::failed, errc::protocol_version},
                                           ErrorRow{"something_new", State::backoff, errc::server_error}),
                         [](const ::testing::TestParamInfo<ErrorRow>& p) { return std::string(p.param.code); });

TEST(SessionTable, RetryAfterIsAFloor) {
    Harness h;
    h.rng.set_fallback(0); // no jitter
    h.start_ready();
    ErrorFrame e;
    e.code = "server_busy";
    e.retry_after_ms = 7000;
    h.server_frame(e);
    ASSERT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.last_change().retry_in, milliseconds(7000));
    h.advance(milliseconds(6999));
    EXPECT_EQ(h.session.state(), State::backoff);
    h.advance(milliseconds(1));
    EXPECT_EQ(h.session.state(), State::connecting);
}

TEST(SessionTable, Http503RetryAfterHonoured) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.expect_open();
    h.close_transport(Harness::http(503, milliseconds(3000)));
    ASSERT_EQ(h.session.state(), State::backoff);
    EXPECT_GE(h.last_change().retry_in, milliseconds(3000));
    h.advance(milliseconds(2999));
    EXPECT_EQ(h.session.state(), State::backoff);
}

TEST(SessionTable, TokenExpiredRefreshesOnceThenFails) {
    auto c = test_config();
    c.has_token_provider = true;
    Harness h(c);
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    ASSERT_EQ(h.take<FetchToken>().size(), 1u);
    ASSERT_FALSE(h.session.provide_token(h.now, std::string("old")));
    h.drain();
    h.open(h.expect_open());
    ErrorFrame e;
    e.code = "token_expired";
    h.server_frame(e);
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.last_change().retry_in, milliseconds(0)) << "reconnect at once";
    h.advance(milliseconds(0));
    auto fetch = h.take<FetchToken>();
    ASSERT_EQ(fetch.size(), 1u);
    EXPECT_TRUE(fetch[0].refresh);
    ASSERT_FALSE(h.session.provide_token(h.now, std::string("new")));
    h.drain();
    EXPECT_EQ(h.open(h.expect_open()).token, std::optional<std::string>("new"));
    h.server_frame(e); // rejected again
    EXPECT_EQ(h.session.state(), State::failed);
    EXPECT_EQ(h.last_change().reason, errc::token_expired);
}

TEST(SessionTable, TokenExpiredWithoutAFreshTokenFails) {
    auto c = test_config();
    c.has_token_provider = true;
    Harness h(c);
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    ASSERT_FALSE(h.session.provide_token(h.now, std::string("old")));
    h.drain();
    h.open(h.expect_open());
    h.close_transport(Harness::close_code(4002));
    h.advance(milliseconds(0));
    ASSERT_EQ(h.take<FetchToken>().size(), 2u);
    ASSERT_FALSE(h.session.provide_token(h.now, std::nullopt));
    h.drain();
    EXPECT_EQ(h.session.state(), State::failed);
    EXPECT_EQ(h.last_change().reason, errc::no_token);
}

TEST(SessionTable, WrongSubprotocolIsFatal) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    const auto id = h.expect_open();
    h.session.on_transport_open(h.now, id, "chat.v2");
    h.drain();
    EXPECT_EQ(h.session.state(), State::failed);
    EXPECT_EQ(h.last_change().reason, errc::protocol_version);
}

TEST(SessionTable, NoSubprotocolSelectedIsAccepted) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.open(h.expect_open(), "");
    EXPECT_EQ(h.session.state(), State::authenticating);
}

TEST(SessionTable, GoingAwayAfterAStableConnectionIsNotAFailure) {
    Harness h;
    h.rng.set_fallback(~0ull);
    const auto id = h.start_ready();
    for (int i = 0; i < 12; ++i) { // 6 s > stable_after, kept alive by pongs
        h.advance(milliseconds(500));
        h.session.on_pong(h.now, id);
    }
    ASSERT_EQ(h.session.state(), State::ready);
    h.close_transport(Harness::close_code(1001));
    ASSERT_EQ(h.session.state(), State::backoff);
    EXPECT_LE(h.last_change().retry_in, milliseconds(100)) << "within base";
    EXPECT_EQ(h.session.backoff().failures(), 0u) << "not a failed attempt";
}

TEST(SessionTable, RepeatedGoingAwayOnYoungConnectionsBacksOff) {
    Harness h;
    h.start_ready();
    for (int i = 0; i < 6; ++i) {
        h.close_transport(Harness::close_code(1001));
        ASSERT_EQ(h.session.state(), State::backoff);
        h.advance(h.last_change().retry_in);
        h.reconnect_ready(Harness::welcome("s1", true, 0));
    }
    EXPECT_EQ(h.session.backoff().failures(), 6u) << "a welcome-close loop must back off, not spin at base";
    EXPECT_EQ(h.session.backoff().ceiling(h.session.backoff().failures()), milliseconds(6400));
}

TEST(SessionTable, MaxAttemptsFails) {
    auto c = test_config();
    c.backoff.max_attempts = 3;
    Harness h(c);
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    for (int i = 0; i < 3; ++i) {
        h.expect_open();
        h.close_transport(Harness::transport_error(errc::connect_failed));
        if (h.session.state() == State::backoff) h.advance(h.last_change().retry_in);
    }
    EXPECT_EQ(h.session.state(), State::failed);
    EXPECT_EQ(h.last_change().reason, errc::max_attempts_exceeded);
    EXPECT_EQ(h.session.stats().connect_attempts, 3u);
}

TEST(SessionTable, HttpUnauthorizedFailsAfterExactlyOneAttempt) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.expect_open();
    h.close_transport(Harness::http(401));
    h.advance(milliseconds(60000));
    EXPECT_EQ(h.session.state(), State::failed);
    EXPECT_EQ(h.session.stats().connect_attempts, 1u);
    EXPECT_TRUE(h.take<OpenTransport>().empty());
}

// ---- timeouts and the half-open connection ------------------------------------

TEST(SessionTimeouts, HalfOpenIsDetectedWithinHeartbeatPlusTimeout) {
    Harness h; // interval 1000 ms, timeout auto = 2000 ms
    h.start_ready();
    const TimePoint ready_at = h.now;
    // The network silently eats everything: the session only sees time pass.
    h.rng.set_fallback(1u << 20); // a non-zero backoff, so the reconnect stays visible
    while (h.session.state() == State::ready && h.now - ready_at < milliseconds(10000)) h.advance(milliseconds(10));
    const auto dead = h.entered(State::backoff, errc::heartbeat_timeout);
    ASSERT_TRUE(dead.has_value());
    EXPECT_LE(h.now - ready_at, milliseconds(1000 + 2000));
    EXPECT_GE(h.take<SendPing>().size(), 1u);
    EXPECT_EQ(h.take<AbortTransport>().size(), 1u) << "abort, never a close handshake on a dead link";
}

TEST(SessionTimeouts, AnyInboundFrameKeepsTheConnectionAlive) {
    Harness h;
    const auto id = h.start_ready();
    for (int i = 0; i < 20; ++i) {
        h.advance(milliseconds(900));
        h.session.on_pong(h.now, id);
    }
    EXPECT_EQ(h.session.state(), State::ready);
    EXPECT_GE(h.take<SendPing>().size(), 15u);
}

TEST(SessionTimeouts, ServerHeartbeatOverridesInterval) {
    Harness h;
    auto w = Harness::welcome();
    w.heartbeat_ms = 5000;
    h.start_ready(w);
    EXPECT_EQ(h.session.heartbeat().interval(), milliseconds(5000));
    EXPECT_EQ(h.session.heartbeat().timeout(), milliseconds(10000));
    h.take<SendPing>();
    h.advance(milliseconds(4999));
    EXPECT_TRUE(h.take<SendPing>().empty());
    h.advance(milliseconds(1));
    EXPECT_EQ(h.take<SendPing>().size(), 1u);
}

TEST(SessionTimeouts, ConnectTimeout) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    const auto id = h.expect_open();
    h.advance(milliseconds(3000));
    EXPECT_TRUE(h.entered(State::backoff, errc::connect_timeout).has_value());
    auto aborts = h.take<AbortTransport>();
    ASSERT_EQ(aborts.size(), 1u);
    EXPECT_EQ(aborts[0].id, id);
}

TEST(SessionTimeouts, HelloTimeout) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.open(h.expect_open());
    h.advance(milliseconds(2000));
    EXPECT_TRUE(h.entered(State::backoff, errc::auth_timeout).has_value());
}

TEST(SessionTimeouts, IdleReadyClientWakesOnlyForHeartbeat) {
    Harness h;
    h.start_ready();
    int wakeups = 0;
    const TimePoint end = h.now + milliseconds(10000);
    while (auto t = h.session.poll_timeout()) {
        if (*t > end) break;
        h.now = *t;
        h.session.on_timeout(h.now);
        h.drain();
        if (auto pings = h.take<SendPing>(); !pings.empty()) h.session.on_pong(h.now, pings[0].id);
        ++wakeups;
    }
    EXPECT_EQ(wakeups, 10) << "one wakeup per heartbeat interval";
}

// ---- resume, acks, duplicates, loss ----------------------------------------------

TEST(SessionResume, PartialAckResendsExactlyTheUnackedRange) {
    Harness h;
    h.start_ready();
    for (int i = 1; i <= 5; ++i) ASSERT_TRUE(h.session.send(h.now, std::to_string(i)).ok());
    h.drain();
    auto first = h.sent<ClientMsg>();
    ASSERT_EQ(first.size(), 5u);
    for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(first[i].seq, i + 1);
    h.server_frame(Ack{2});
    EXPECT_EQ(h.events_of<MessageAcked>().size(), 2u);

    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(milliseconds(200));
    h.reconnect_ready(Harness::welcome("s1", true, 3)); // the server got 3 but our ack never came
    auto resent = h.sent<ClientMsg>();
    ASSERT_EQ(resent.size(), 2u);
    EXPECT_EQ(resent[0].seq, 4u);
    EXPECT_EQ(resent[0].id, first[3].id);
    EXPECT_EQ(resent[0].data_json, "4");
    EXPECT_EQ(resent[1].seq, 5u);
    EXPECT_EQ(h.events_of<MessageAcked>().size(), 3u) << "welcome.last_seq acks 3";
    EXPECT_EQ(h.session.stats().frames_resent, 2u);
}

TEST(SessionResume, ServerDuplicatesDroppedAndReacked) {
    Harness h;
    h.start_ready();
    h.take<SendText>();
    ServerMsg m;
    m.data = {{"k", 1}};
    for (std::uint64_t seq : {1u, 2u, 2u, 1u, 3u}) {
        m.seq = seq;
        h.server_frame(m);
    }
    auto got = h.events_of<MessageReceived>();
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].seq, 1u);
    EXPECT_EQ(got[2].seq, 3u);
    EXPECT_EQ(h.session.stats().duplicates_dropped, 2u);
    auto acks = h.sent<Ack>();
    ASSERT_FALSE(acks.empty()) << "a duplicate is acked again at once";
    EXPECT_EQ(acks.front().seq, 2u);
}

TEST(SessionResume, ResumeCarriesLastDeliveredSeq) {
    Harness h;
    h.start_ready();
    ServerMsg m;
    m.data = 1;
    for (std::uint64_t seq = 1; seq <= 7; ++seq) {
        m.seq = seq;
        h.server_frame(m);
    }
    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(milliseconds(200));
    const Hello hello = h.open(h.expect_open());
    ASSERT_TRUE(hello.resume);
    EXPECT_EQ(hello.resume->last_seq, 7u);
}

TEST(SessionResume, AckBatchingByCountAndTime) {
    Harness h;
    h.start_ready();
    h.take<SendText>();
    ServerMsg m;
    m.data = 0;
    for (std::uint64_t seq = 1; seq <= 32; ++seq) {
        m.seq = seq;
        h.server_frame(m);
    }
    auto acks = h.sent<Ack>();
    ASSERT_EQ(acks.size(), 1u) << "one ack per 32 messages";
    EXPECT_EQ(acks[0].seq, 32u);
    m.seq = 33;
    h.server_frame(m);
    EXPECT_TRUE(h.sent<Ack>().empty());
    h.advance(milliseconds(50));
    acks = h.sent<Ack>();
    ASSERT_EQ(acks.size(), 1u) << "or after 50 ms";
    EXPECT_EQ(acks[0].seq, 33u);
}

TEST(SessionResume, SessionLostRenumbersWithSameIds) {
    Harness h;
    h.start_ready();
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(h.session.send(h.now, std::to_string(i)).ok());
    h.drain();
    auto first = h.sent<ClientMsg>();
    h.server_frame(Ack{1});
    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(milliseconds(200));
    h.reconnect_ready(Harness::welcome("s2", false, 0));
    auto lost = h.events_of<SessionLost>();
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_EQ(lost[0].previous_session, "s1");
    EXPECT_EQ(lost[0].new_session, "s2");
    EXPECT_EQ(lost[0].unacked, 2u);
    auto resent = h.sent<ClientMsg>();
    ASSERT_EQ(resent.size(), 2u);
    EXPECT_EQ(resent[0].seq, 1u);
    EXPECT_EQ(resent[0].id, first[1].id);
    EXPECT_EQ(resent[1].seq, 2u);
    EXPECT_EQ(resent[1].id, first[2].id);
    EXPECT_EQ(h.session.stats().sessions_lost, 1u);
}

TEST(SessionResume, SessionLostFailPolicy) {
    auto c = test_config();
    c.on_session_lost = SessionLostPolicy::fail;
    Harness h(c);
    h.start_ready();
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(h.session.send(h.now, std::to_string(i)).ok());
    h.drain();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(milliseconds(200));
    h.reconnect_ready(Harness::welcome("s2", false, 0));
    auto failed = h.events_of<MessageFailed>();
    ASSERT_EQ(failed.size(), 3u);
    for (auto& f : failed) EXPECT_EQ(f.error, errc::session_lost);
    EXPECT_TRUE(h.sent<ClientMsg>().empty());
}

TEST(SessionResume, InboundSessionLostResetsNumbering) {
    Harness h;
    h.start_ready();
    ServerMsg m;
    m.data = 0;
    m.seq = 1;
    h.server_frame(m);
    m.seq = 2;
    h.server_frame(m);
    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(milliseconds(200));
    h.reconnect_ready(Harness::welcome("s2", false, 0));
    m.seq = 1;
    h.server_frame(m);
    EXPECT_EQ(h.events_of<MessageReceived>().size(), 3u) << "seq 1 of the new session is new";
}

TEST(SessionResume, InFlightWindowLimitsFramesOnTheWire) {
    auto c = test_config();
    c.outbox.max_in_flight = 4;
    Harness h(c);
    h.start_ready();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.session.send(h.now, "0").ok());
    h.drain();
    EXPECT_EQ(h.sent<ClientMsg>().size(), 4u);
    h.server_frame(Ack{3});
    EXPECT_EQ(h.sent<ClientMsg>().size(), 3u);
}

TEST(SessionResume, MessagesQueuedWhileDisconnectedGoOutWhenReady) {
    Harness h;
    ASSERT_TRUE(h.session.send(h.now, "\"early\"").ok());
    h.start_ready();
    auto msgs = h.sent<ClientMsg>();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].seq, 1u);
}

TEST(SessionResume, CustomIdsAreKept) {
    Harness h;
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1", "order-42").ok());
    h.drain();
    auto msgs = h.sent<ClientMsg>();
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].id, "order-42");
}

// ---- peer violations: each aborts, reports, counts, and backs off ------------------

struct Violation {
    const char* name;
    std::string frame;
    errc code;
};

class SessionViolation : public ::testing::TestWithParam<Violation> {};

TEST_P(SessionViolation, AbortsReportsCountsAndRetries) {
    const Violation& v = GetParam();
    Harness h;
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    h.drain();
    h.take<SendText>();
    h.server(v.frame);
    EXPECT_EQ(h.session.state(), State::backoff) << v.name;
    EXPECT_EQ(h.last_error(), v.code) << v.name << ": " << h.last_error().message();
    EXPECT_EQ(h.session.stats().protocol_errors, 1u);
    EXPECT_EQ(h.take<AbortTransport>().size(), 1u);
    EXPECT_EQ(h.session.outbox_size(), 1u) << "the session's messages survive a violation";
}

INSTANTIATE_TEST_SUITE_P(
    Frames, SessionViolation,
    ::testing::Values(Violation{"not_json", "nope", errc::frame_invalid_json},
                      Violation{"array", "[1]", errc::frame_not_object},
                      Violation{"no_type", R"({"seq":1})", errc::frame_missing_field},
                      Violation{"seq_string", R"({"type":"msg","seq":"7","data":1})", errc::frame_wrong_type},
                      Violation{"seq_negative", R"({"type":"msg","seq":-1,"data":1})", errc::frame_seq_out_of_range},
                      Violation{"seq_fraction", R"({"type":"msg","seq":1.5,"data":1})", errc::frame_seq_out_of_range},
                      Violation{"seq_2_64", R"({"type":"msg","seq":18446744073709551616,"data":1})",
                                errc::frame_seq_out_of_range},
                      Violation{"seq_zero", R"({"type":"msg","seq":0,"data":1})", errc::frame_seq_out_of_range},
                      Violation{"gap", R"({"type":"msg","seq":5,"data":1})", errc::seq_gap},
                      Violation{"ack_unsent", R"({"type":"ack","seq":2})", errc::ack_out_of_range},
                      Violation{"welcome_twice",
                                R"({"type":"welcome","session":"s1","resume_token":"x","resumed":false,"last_seq":0})",
                                errc::unexpected_frame},
                      Violation{"hello_from_server", R"({"type":"hello","v":1})", errc::unexpected_frame}),
    [](const ::testing::TestParamInfo<Violation>& p) { return std::string(p.param.name); });

TEST(SessionViolation, BinaryFrame) {
    Harness h;
    const auto id = h.start_ready();
    h.session.on_binary(h.now, id, 10);
    h.drain();
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.last_error(), errc::binary_frame);
}

TEST(SessionViolation, MsgBeforeWelcome) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.open(h.expect_open());
    h.server(R"({"type":"msg","seq":1,"data":1})");
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.last_error(), errc::unexpected_frame);
}

TEST(SessionViolation, ResumedWelcomeForAnotherSession) {
    Harness h;
    h.start_ready();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(milliseconds(200));
    h.open(h.expect_open());
    h.server_frame(Harness::welcome("someone-else", true, 0));
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.last_error(), errc::unexpected_frame);
}

TEST(SessionViolation, UnknownTypeIsIgnoredAndCounted) {
    Harness h;
    h.start_ready();
    h.server(R"({"type":"presence","who":"x"})");
    EXPECT_EQ(h.session.state(), State::ready);
    EXPECT_EQ(h.session.stats().unknown_frames, 1u);
}

// ---- stats ---------------------------------------------------------------------------

TEST(SessionStats, CountsFramesBytesAndDepth) {
    Harness h;
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    ASSERT_TRUE(h.session.send(h.now, "2").ok());
    h.drain();
    auto s = h.session.stats();
    EXPECT_EQ(s.messages_sent, 2u);
    EXPECT_EQ(s.outbox_depth, 2u);
    EXPECT_EQ(s.outbox_high_water, 2u);
    EXPECT_EQ(s.frames_out, 3u); // hello + 2 msgs
    EXPECT_EQ(s.frames_in, 1u);  // welcome
    EXPECT_GT(s.bytes_out, 0u);
    h.server_frame(Ack{2});
    s = h.session.stats();
    EXPECT_EQ(s.outbox_depth, 0u);
    EXPECT_EQ(s.outbox_high_water, 2u);
    EXPECT_EQ(s.messages_acked, 2u);
    EXPECT_EQ(s.connects, 1u);
}

} // namespace

namespace {

// ---- regressions found in review -----------------------------------------------------

TEST(SessionRegression, NewSessionWelcomeWithNonZeroLastSeqIsAViolation) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.open(h.expect_open());
    h.server_frame(Harness::welcome("s1", false, 5));
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_EQ(h.last_error(), errc::bad_frame);
}

TEST(SessionRegression, ServerHeartbeatZeroKeepsTheClientInterval) {
    Harness h;
    auto w = Harness::welcome();
    w.heartbeat_ms = 0;
    h.start_ready(w);
    EXPECT_EQ(h.session.heartbeat().interval(), milliseconds(1000)) << "not clamped to 250 ms pings";
}

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(SessionRegression, PayloadNestingIsLimitedSoTheFrameStaysWithinTheDecoderDepth) {
    for (auto check : {PayloadCheck::validate, PayloadCheck::trusted}) {
        Harness h;
        EXPECT_TRUE(h.session.send(h.now, nested(kMaxPayloadDepth), {}, check).ok());
        auto deep = h.session.send(h.now, nested(kMaxPayloadDepth + 1), {}, check);
        ASSERT_FALSE(deep.ok());
        EXPECT_EQ(deep.error(), errc::invalid_json);
        EXPECT_TRUE(deep.error() == error_kind::local) << "the caller's mistake, not the peer's";
    }
    // The deepest accepted payload still decodes inside a frame on the other side.
    ClientMsg m;
    m.seq = 1;
    m.id = "x";
    m.data_json = nested(kMaxPayloadDepth);
    EXPECT_TRUE(decode_client_frame(encode(m)).ok());
}

} // namespace

// A message over a size limit is replayed on every resume and can never be
// acked: after kOversizedRepeatsBeforeFail closes in a row at the same point
// of the session the client fails with message_too_big instead of
// reconnecting forever.
class SessionOversized : public ::testing::TestWithParam<CloseInfo> {};

TEST_P(SessionOversized, RepeatedAtTheSamePointFailsWithAClearError) {
    Harness h;
    h.start_ready();
    for (std::uint32_t i = 1; i < kOversizedRepeatsBeforeFail; ++i) {
        h.close_transport(GetParam());
        ASSERT_EQ(h.session.state(), State::backoff) << "close " << i;
        h.advance(h.last_change().retry_in);
        h.reconnect_ready(Harness::welcome("s1", true, 0));
    }
    h.close_transport(GetParam());
    EXPECT_EQ(h.session.state(), State::failed);
    const StateChanged last = h.last_change();
    EXPECT_EQ(last.reason, make_error_code(errc::message_too_big));
    EXPECT_NE(last.detail.find("cannot move past it"), std::string::npos) << last.detail;
    EXPECT_EQ(h.session.stats().protocol_errors, kOversizedRepeatsBeforeFail);
}

TEST_P(SessionOversized, ProgressInBetweenStartsTheCountAgain) {
    Harness h;
    h.start_ready();
    ServerMsg m;
    m.data = 0;
    for (std::uint64_t seq = 1; seq <= 2 * kOversizedRepeatsBeforeFail; ++seq) {
        m.seq = seq; // one message delivered on every connection
        h.server_frame(m);
        h.close_transport(GetParam());
        ASSERT_EQ(h.session.state(), State::backoff) << "close " << seq;
        h.advance(h.last_change().retry_in);
        h.reconnect_ready(Harness::welcome("s1", true, 0));
    }
    // An ack of ours is progress too.
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    h.drain();
    for (std::uint32_t i = 1; i < kOversizedRepeatsBeforeFail; ++i) {
        h.close_transport(GetParam());
        ASSERT_EQ(h.session.state(), State::backoff);
        h.advance(h.last_change().retry_in);
        h.reconnect_ready(Harness::welcome("s1", true, 1)); // the server got our message
    }
    h.close_transport(GetParam());
    EXPECT_EQ(h.session.state(), State::backoff) << "the ack after the first close was progress";
    h.advance(h.last_change().retry_in);
    h.reconnect_ready(Harness::welcome("s1", true, 1));
    h.close_transport(GetParam());
    EXPECT_EQ(h.session.state(), State::failed);
}

INSTANTIATE_TEST_SUITE_P(InboundOrOutbound, SessionOversized,
                         ::testing::Values(Harness::transport_error(errc::message_too_big), // our limit
                                           Harness::close_code(1009)),                      // the server's
                         [](const ::testing::TestParamInfo<CloseInfo>& p) {
                             return p.param.close_code == 1009 ? std::string("server_closed_1009")
                                                               : std::string("inbound_over_our_limit");
                         });

// protocol.md §5: every resume hello carries a higher attempt, so a server can
// tell a stale hello (from a connection the client aborted) from the live one.
TEST(SessionResume, EveryResumeHelloCarriesAHigherAttempt) {
    Harness h;
    h.start_ready();
    std::uint64_t previous = 0;
    for (int i = 0; i < 3; ++i) {
        h.close_transport(Harness::transport_error(errc::transport_closed));
        h.advance(h.last_change().retry_in);
        const Hello hello = h.open(h.expect_open());
        ASSERT_TRUE(hello.resume.has_value());
        EXPECT_GT(hello.resume->attempt, previous);
        previous = hello.resume->attempt;
        // An attempt aborted before its welcome still counts.
        if (i == 1) continue;
        h.server_frame(Harness::welcome("s1", true, 0));
        ASSERT_EQ(h.session.state(), State::ready);
    }
    // A first hello has no resume, so no attempt; the encoding leaves it out at 0.
    Hello plain;
    plain.resume = ResumeRequest{"s", "t", 0, 0};
    EXPECT_EQ(encode(plain).find("attempt"), std::string::npos);
    plain.resume->attempt = 7;
    auto decoded = decode_client_frame(encode(plain));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(std::get<Hello>(decoded.value()).resume->attempt, 7u);
}
