// ProtocolServer (the reference server's sans-I/O side) on virtual time:
// client frames are written as raw JSON so the wire format is checked
// independently of the encoder; server frames are parsed with nlohmann::json.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub.hpp"

namespace {

using tether::chat::Action;
using tether::chat::ConnId;
using tether::chat::ProtocolServer;
using tether::chat::ProtocolServerOptions;
using tether::core::TimePoint;
using json = nlohmann::json;
using namespace std::chrono_literals;

struct Harness {
    explicit Harness(ProtocolServerOptions options = {})
        : hub(std::move(options), [this] { return "secret-" + std::to_string(++secrets); }) {}

    int secrets = 0;
    TimePoint now{std::chrono::hours(1)};
    ProtocolServer hub;
    std::vector<Action> log; // every action, in order, since the last clear()

    std::vector<Action> collect() {
        auto out = hub.take_actions();
        log.insert(log.end(), out.begin(), out.end());
        return out;
    }
    std::vector<Action> open(ConnId c) {
        hub.on_open(c, now);
        return collect();
    }
    std::vector<Action> text(ConnId c, const std::string& t) {
        hub.on_text(c, t, now);
        return collect();
    }
    std::vector<Action> closed(ConnId c) {
        hub.on_closed(c, now);
        return collect();
    }
    // Moves virtual time forward, firing every deadline on the way, in order.
    std::vector<Action> advance(std::chrono::milliseconds d) {
        const TimePoint end = now + d;
        std::vector<Action> out;
        for (auto t = hub.next_timeout(); t && *t <= end; t = hub.next_timeout()) {
            now = std::max(now, *t);
            hub.on_timeout(now);
            auto batch = collect();
            out.insert(out.end(), batch.begin(), batch.end());
        }
        now = end;
        return out;
    }

    // hello without resume; returns the welcome
    json connect(ConnId c, std::optional<std::string> token = std::nullopt) {
        open(c);
        json hello = {{"type", "hello"}, {"v", 1}};
        if (token) hello["token"] = *token;
        auto acts = text(c, hello.dump());
        EXPECT_FALSE(acts.empty());
        return acts.empty() ? json{} : json::parse(acts.front().text);
    }
    std::vector<Action> resume(ConnId c, const json& welcome, std::uint64_t last_seq, std::uint64_t attempt = 0) {
        open(c);
        json hello = {{"type", "hello"},
                      {"v", 1},
                      {"resume",
                       {{"session", welcome.at("session")},
                        {"resume_token", welcome.at("resume_token")},
                        {"last_seq", last_seq}}}};
        if (attempt != 0) hello["resume"]["attempt"] = attempt;
        return text(c, hello.dump());
    }
    std::vector<Action> msg(ConnId c, std::uint64_t seq, const std::string& id, const json& data) {
        return text(c, json{{"type", "msg"}, {"seq", seq}, {"id", id}, {"data", data}}.dump());
    }
    std::vector<Action> ack(ConnId c, std::uint64_t seq) { return text(c, json{{"type", "ack"}, {"seq", seq}}.dump()); }
};

std::vector<json> frames(const std::vector<Action>& acts, ConnId c, const std::string& type = "") {
    std::vector<json> out;
    for (const auto& a : acts) {
        if (a.kind != Action::Kind::send_text || a.conn != c) continue;
        json j = json::parse(a.text);
        if (type.empty() || j.at("type") == type) out.push_back(std::move(j));
    }
    return out;
}

std::optional<Action> close_of(const std::vector<Action>& acts, ConnId c) {
    for (const auto& a : acts)
        if ((a.kind == Action::Kind::close || a.kind == Action::Kind::terminate) && a.conn == c) return a;
    return std::nullopt;
}

std::vector<std::uint64_t> seqs(const std::vector<json>& msgs) {
    std::vector<std::uint64_t> out;
    for (const auto& m : msgs) out.push_back(m.at("seq").get<std::uint64_t>());
    return out;
}

// Expects: error frame `code` (last frame sent to c) and then close `close_code`.
void expect_error_close(const std::vector<Action>& acts, ConnId c, const std::string& code, std::uint16_t close_code) {
    auto errors = frames(acts, c, "error");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].at("code"), code);
    auto cl = close_of(acts, c);
    ASSERT_TRUE(cl.has_value());
    EXPECT_EQ(cl->kind, Action::Kind::close);
    EXPECT_EQ(cl->code, close_code);
    EXPECT_EQ(acts.back().kind, Action::Kind::close); // nothing after the close
}

ProtocolServerOptions echo_options() {
    ProtocolServerOptions o;
    o.echo = true;
    return o;
}

TEST(ProtocolServer, NewSessionWelcome) {
    Harness h;
    json w = h.connect(1);
    EXPECT_EQ(w.at("type"), "welcome");
    EXPECT_FALSE(w.at("session").get<std::string>().empty());
    EXPECT_FALSE(w.at("resume_token").get<std::string>().empty());
    EXPECT_NE(w.at("session"), w.at("resume_token"));
    EXPECT_EQ(w.at("resumed"), false);
    EXPECT_EQ(w.at("last_seq"), 0);
    EXPECT_EQ(w.at("heartbeat_ms"), 15000);
    EXPECT_EQ(w.at("session_ttl_ms"), 60000);
    EXPECT_EQ(h.hub.stats().sessions_created, 1u);
    EXPECT_EQ(h.hub.session_count(), 1u);
}

TEST(ProtocolServer, WelcomeCarriesConfiguredTimers) {
    ProtocolServerOptions o;
    o.heartbeat = 2000ms;
    o.session_ttl = 5000ms;
    Harness h(o);
    json w = h.connect(1);
    EXPECT_EQ(w.at("heartbeat_ms"), 2000);
    EXPECT_EQ(w.at("session_ttl_ms"), 5000);
}

TEST(ProtocolServer, ResumeReplaysExactlyTheUnackedRangeAndRotatesToken) {
    Harness h(echo_options());
    json w = h.connect(1);
    for (std::uint64_t i = 1; i <= 5; ++i) h.msg(1, i, "m" + std::to_string(i), i);
    h.ack(1, 2); // the client acked 1..2, delivered 1..3 (4 and 5 are lost in flight)
    h.closed(1);

    auto acts = h.resume(2, w, 3);
    auto sent = frames(acts, 2);
    ASSERT_EQ(sent.size(), 3u);
    EXPECT_EQ(sent[0].at("type"), "welcome");
    EXPECT_EQ(sent[0].at("resumed"), true);
    EXPECT_EQ(sent[0].at("session"), w.at("session"));
    EXPECT_EQ(sent[0].at("last_seq"), 5);
    EXPECT_NE(sent[0].at("resume_token"), w.at("resume_token"));
    EXPECT_EQ(seqs({sent[1], sent[2]}), (std::vector<std::uint64_t>{4, 5}));
    EXPECT_EQ(sent[1].at("data").at("id"), "m4");
    EXPECT_EQ(h.hub.stats().resumes, 1u);
    EXPECT_EQ(h.hub.stats().msgs_replayed, 2u);

    // The next msg continues both directions' numbering.
    auto more = frames(h.msg(2, 6, "m6", 6), 2, "msg");
    ASSERT_EQ(more.size(), 1u);
    EXPECT_EQ(more[0].at("seq"), 6);

    // The old token was rotated away: it now gets a new session.
    h.closed(2);
    auto stale = frames(h.resume(3, w, 6), 3);
    ASSERT_EQ(stale.size(), 1u);
    EXPECT_EQ(stale[0].at("resumed"), false);
    EXPECT_NE(stale[0].at("session"), w.at("session"));
}

TEST(ProtocolServer, ResumeWithNothingToReplay) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.msg(1, 1, "a", 1);
    h.closed(1);
    auto sent = frames(h.resume(2, w, 1), 2);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), true);
    EXPECT_EQ(sent[0].at("last_seq"), 1);
}

TEST(ProtocolServer, ResumeBeforeAckedRangeIsNotReplayable) {
    // Acks trim the buffer: a resume asking for an acked msg gets a new session.
    Harness h(echo_options());
    json w = h.connect(1);
    for (std::uint64_t i = 1; i <= 3; ++i) h.msg(1, i, "m", i);
    h.ack(1, 3);
    h.closed(1);
    auto sent = frames(h.resume(2, w, 2), 2);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), false);
    EXPECT_EQ(sent[0].at("last_seq"), 0);
    EXPECT_EQ(h.hub.stats().resume_misses, 1u);
    EXPECT_EQ(h.hub.session_count(), 1u); // the unresumable session was freed
}

TEST(ProtocolServer, ResumeClaimingUnsentSeqGetsNewSession) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.closed(1);
    auto sent = frames(h.resume(2, w, 7), 2);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), false);
}

TEST(ProtocolServer, UnknownSessionGetsNewSession) {
    Harness h;
    auto acts = h.resume(1, json{{"session", "nope"}, {"resume_token", "x"}}, 0);
    auto sent = frames(acts, 1);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), false);
    EXPECT_EQ(sent[0].at("last_seq"), 0);
    EXPECT_EQ(h.hub.stats().resume_misses, 1u);
}

TEST(ProtocolServer, WrongResumeTokenLeavesSessionAlone) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.msg(1, 1, "a", 1);
    json forged = w;
    forged["resume_token"] = "guess";
    auto acts = h.resume(2, forged, 0);
    EXPECT_FALSE(close_of(acts, 1).has_value()); // no takeover by session id alone
    auto sent = frames(acts, 2);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), false);
    EXPECT_NE(sent[0].at("session"), w.at("session"));
    EXPECT_EQ(h.hub.stats().takeovers, 0u);
    // The real owner still resumes.
    h.closed(1);
    EXPECT_EQ(frames(h.resume(3, w, 1), 3).at(0).at("resumed"), true);
}

TEST(ProtocolServer, DuplicateIsAckedAgainNotReprocessed) {
    Harness h(echo_options());
    h.connect(1);
    auto first = h.msg(1, 1, "a", "x");
    EXPECT_EQ(frames(first, 1, "msg").size(), 1u);
    auto acked = h.advance(50ms);
    ASSERT_EQ(frames(acked, 1, "ack").size(), 1u);

    auto dup = h.msg(1, 1, "a", "x");
    EXPECT_TRUE(frames(dup, 1, "msg").empty()); // not processed again
    auto again = frames(h.advance(50ms), 1, "ack");
    ASSERT_EQ(again.size(), 1u); // acked again, same value
    EXPECT_EQ(again[0].at("seq"), 1);
    EXPECT_EQ(h.hub.stats().msgs_in, 1u);
    EXPECT_EQ(h.hub.stats().msgs_in_duplicate, 1u);
}

TEST(ProtocolServer, SeqGapIsBadFrame) {
    Harness h(echo_options());
    h.connect(1);
    h.msg(1, 1, "a", 1);
    auto acts = h.msg(1, 3, "c", 3);
    EXPECT_TRUE(frames(acts, 1, "msg").empty());
    expect_error_close(acts, 1, "bad_frame", 4008);
    // The pending ack of seq 1 is flushed before the error and the close.
    auto acks = frames(acts, 1, "ack");
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].at("seq"), 1);
    EXPECT_EQ(json::parse(acts.front().text).at("type"), "ack");
    EXPECT_EQ(h.hub.stats().bad_frames, 1u);
    // Input after the close is ignored.
    EXPECT_TRUE(h.msg(1, 2, "b", 2).empty());
}

TEST(ProtocolServer, MsgSeqZeroIsBadFrame) {
    Harness h(echo_options());
    h.connect(1);
    auto acts = h.msg(1, 0, "z", 0);
    EXPECT_TRUE(frames(acts, 1, "msg").empty());
    EXPECT_TRUE(frames(acts, 1, "ack").empty()); // not taken as a duplicate of "nothing yet"
    expect_error_close(acts, 1, "bad_frame", 4008);
    EXPECT_EQ(h.hub.stats().msgs_in_duplicate, 0u);
    EXPECT_EQ(h.hub.stats().bad_frames, 1u);
}

TEST(ProtocolServer, ProtocolViolationsAreBadFrame) {
    const std::vector<std::string> after_hello = {
        "not json",
        "[1,2]",
        R"({"type":"msg","seq":1,"data":1})",          // no id
        R"({"type":"msg","seq":-1,"id":"a","data":1})", // bad seq
        R"({"type":"ack","seq":1})",                   // ack beyond sent
        R"({"type":"hello","v":1})",                   // second hello
    };
    for (const auto& t : after_hello) {
        SCOPED_TRACE(t);
        Harness h(echo_options());
        h.connect(1);
        expect_error_close(h.text(1, t), 1, "bad_frame", 4008);
    }
    for (const auto& t : {std::string(R"({"type":"msg","seq":1,"id":"a","data":1})"),
                          std::string(R"({"type":"ack","seq":0})"), std::string("{}")}) {
        SCOPED_TRACE("before hello: " + t);
        Harness h;
        h.open(1);
        expect_error_close(h.text(1, t), 1, "bad_frame", 4008);
    }
    Harness h;
    h.connect(1);
    h.hub.on_binary(1, h.now);
    expect_error_close(h.collect(), 1, "bad_frame", 4008);
}

TEST(ProtocolServer, UnsupportedVersionIsProtocolVersion) {
    Harness h;
    h.open(1);
    auto acts = h.text(1, R"({"type":"hello","v":2})");
    expect_error_close(acts, 1, "protocol_version", 1002);
}

TEST(ProtocolServer, UnknownTypeIsIgnored) {
    Harness h;
    h.open(1);
    EXPECT_TRUE(h.text(1, R"({"type":"future","x":1})").empty()); // even before hello
    h.text(1, R"({"type":"hello","v":1})");
    EXPECT_TRUE(h.text(1, R"({"type":"future"})").empty());
    EXPECT_EQ(h.hub.stats().unknown_frames, 2u);
}

// The client aborted connection 2 while its resume hello (attempt 1) was in
// flight, and resumed on connection 3 (attempt 2) with the same token. Both
// arrival orders must leave the session with connection 3.
TEST(ProtocolServer, StaleResumeHelloArrivingFirstIsSupersededByTheNewerAttempt) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.msg(1, 1, "a", 1);
    h.closed(1);
    auto stale = h.resume(2, w, 1, 1); // got here first: attached, welcome lost with the aborted socket
    ASSERT_EQ(frames(stale, 2).at(0).at("resumed"), true);

    auto acts = h.resume(3, w, 1, 2);  // same token, later attempt
    auto sent = frames(acts, 3);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), true) << "the live connection must not lose the session";
    EXPECT_EQ(sent[0].at("session"), w.at("session"));
    EXPECT_EQ(sent[0].at("last_seq"), 1);
    auto cl = close_of(acts, 2);
    ASSERT_TRUE(cl.has_value());
    EXPECT_EQ(cl->code, 4009);
    EXPECT_EQ(h.hub.stats().stale_resumes_superseded, 1u);
    EXPECT_EQ(h.hub.stats().resume_misses, 0u);
    EXPECT_EQ(frames(h.msg(3, 2, "b", 2), 3, "msg").size(), 1u);

    // The token is spent now: the same attempt again, or the token from the
    // stale welcome nobody saw, do not take the session.
    EXPECT_EQ(frames(h.resume(4, w, 1, 2), 4).at(0).at("resumed"), false);
    EXPECT_EQ(frames(h.resume(5, frames(stale, 2).at(0), 1, 1), 5).at(0).at("resumed"), false);
}

TEST(ProtocolServer, StaleResumeHelloArrivingLaterIsRefusedAndLeavesTheSessionAlone) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.closed(1);
    ASSERT_EQ(frames(h.resume(3, w, 0, 2), 3).at(0).at("resumed"), true); // the live attempt first
    auto acts = h.resume(2, w, 0, 1);                                       // then the stale one
    EXPECT_EQ(frames(acts, 2).at(0).at("resumed"), false);
    EXPECT_FALSE(close_of(acts, 3).has_value()) << "the live connection must not be taken over";
    EXPECT_EQ(h.hub.stats().takeovers, 0u);
    EXPECT_EQ(frames(h.msg(3, 1, "a", 1), 3, "msg").size(), 1u);
}

TEST(ProtocolServer, PreviousTokenWithoutAttemptIsNotAccepted) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.closed(1);
    ASSERT_EQ(frames(h.resume(2, w, 0), 2).at(0).at("resumed"), true);
    EXPECT_EQ(frames(h.resume(3, w, 0), 3).at(0).at("resumed"), false) << "older clients keep strict rotation";
}

TEST(ProtocolServer, TakeoverClosesOldConnectionWith4009) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.msg(1, 1, "a", 1); // ack pending on the old connection
    auto acts = h.resume(2, w, 1);
    auto cl = close_of(acts, 1);
    ASSERT_TRUE(cl.has_value());
    EXPECT_EQ(cl->kind, Action::Kind::close);
    EXPECT_EQ(cl->code, 4009);
    EXPECT_EQ(cl->text, "session_taken_over");
    auto sent = frames(acts, 2);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), true);
    EXPECT_EQ(sent[0].at("last_seq"), 1);
    EXPECT_EQ(h.hub.stats().takeovers, 1u);

    // The new connection owns the session: its msgs are processed there.
    auto echoed = frames(h.msg(2, 2, "b", 2), 2, "msg");
    ASSERT_EQ(echoed.size(), 1u);
    EXPECT_EQ(echoed[0].at("seq"), 2);
    // The old connection is closing: its input is ignored, its close report detaches nothing.
    EXPECT_TRUE(h.msg(1, 2, "b", 2).empty());
    h.closed(1);
    EXPECT_EQ(frames(h.msg(2, 3, "c", 3), 2, "msg").size(), 1u);
}

TEST(ProtocolServer, TokenAuth) {
    ProtocolServerOptions o;
    o.tokens = {"good", "also-good"};
    o.expired_tokens = {"old"};
    {
        Harness h(o);
        EXPECT_EQ(h.connect(1, "good").at("type"), "welcome");
    }
    {
        Harness h(o);
        h.open(1);
        expect_error_close(h.text(1, R"({"type":"hello","v":1,"token":"bad"})"), 1, "unauthorized", 4001);
        EXPECT_EQ(h.hub.session_count(), 0u);
        EXPECT_EQ(h.hub.stats().auth_failures, 1u);
    }
    {
        Harness h(o);
        h.open(1);
        expect_error_close(h.text(1, R"({"type":"hello","v":1})"), 1, "unauthorized", 4001);
    }
    {
        Harness h(o);
        h.open(1);
        expect_error_close(h.text(1, R"({"type":"hello","v":1,"token":"old"})"), 1, "token_expired", 4002);
    }
    {
        // Authentication at the upgrade: the hello token is not checked.
        o.check_hello_token = false;
        Harness h(o);
        EXPECT_EQ(h.connect(1).at("type"), "welcome");
    }
}

TEST(ProtocolServer, ExpiredTokensWithoutTokenList) {
    ProtocolServerOptions o;
    o.expired_tokens = {"old"};
    Harness h(o);
    EXPECT_EQ(h.connect(1, "anything").at("type"), "welcome");
    h.open(2);
    expect_error_close(h.text(2, R"({"type":"hello","v":1,"token":"old"})"), 2, "token_expired", 4002);
}

TEST(ProtocolServer, SessionTtlExpiry) {
    ProtocolServerOptions o;
    o.session_ttl = 1000ms;
    Harness h(o);
    json w = h.connect(1);
    h.closed(1);
    h.advance(999ms);
    EXPECT_EQ(frames(h.resume(2, w, 0), 2).at(0).at("resumed"), true); // just in time

    json w2 = frames(h.log, 2).at(0);
    h.closed(2);
    h.advance(1000ms);
    EXPECT_EQ(h.hub.stats().sessions_expired, 1u);
    auto sent = frames(h.resume(3, w2, 0), 3);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].at("resumed"), false);
    EXPECT_EQ(sent[0].at("last_seq"), 0);
}

TEST(ProtocolServer, ConnectedSessionDoesNotExpire) {
    ProtocolServerOptions o;
    o.session_ttl = 1000ms;
    o.heartbeat = 0ms; // no liveness checks in this test
    Harness h(o);
    h.connect(1);
    h.advance(10s);
    EXPECT_EQ(h.hub.session_count(), 1u);
}

TEST(ProtocolServer, ReplayBufferOverflowMakesResumeFail) {
    ProtocolServerOptions o = echo_options();
    o.replay_buffer = 3;
    {
        Harness h(o);
        json w = h.connect(1);
        for (std::uint64_t i = 1; i <= 3; ++i) h.msg(1, i, "m", i);
        h.closed(1);
        auto sent = frames(h.resume(2, w, 0), 2); // 1..3 all still buffered
        EXPECT_EQ(sent.at(0).at("resumed"), true);
        EXPECT_EQ(seqs(std::vector<json>(sent.begin() + 1, sent.end())), (std::vector<std::uint64_t>{1, 2, 3}));
    }
    {
        Harness h(o);
        json w = h.connect(1);
        for (std::uint64_t i = 1; i <= 4; ++i) h.msg(1, i, "m", i); // seq 1 evicted
        EXPECT_EQ(h.hub.stats().replay_dropped, 1u);
        h.closed(1);
        auto sent = frames(h.resume(2, w, 0), 2);
        ASSERT_EQ(sent.size(), 1u);
        EXPECT_EQ(sent[0].at("resumed"), false);
        EXPECT_EQ(sent[0].at("last_seq"), 0);
    }
}

TEST(ProtocolServer, EchoReply) {
    Harness h(echo_options());
    h.connect(1);
    auto m = frames(h.msg(1, 1, "id-1", json{{"hello", "world"}}), 1, "msg");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].at("seq"), 1);
    EXPECT_EQ(m[0].at("data"), (json{{"echo", {{"hello", "world"}}}, {"id", "id-1"}}));
    EXPECT_EQ(m[0].at("id"), "id-1");
    EXPECT_EQ(h.hub.stats().msgs_out, 1u);
}

TEST(ProtocolServer, RoomBroadcastIncludingDisconnectedSession) {
    Harness h;
    json a = h.connect(1);
    json b = h.connect(2);
    h.connect(3); // never joins
    h.msg(1, 1, "j1", json{{"room", "r"}});
    h.msg(2, 1, "j2", json{{"room", "r"}});
    h.closed(2); // b is detached but its session lives on

    const json said = {{"room", "r"}, {"text", "hi"}};
    auto acts = h.msg(1, 2, "say-1", said);
    auto to_a = frames(acts, 1, "msg");
    ASSERT_EQ(to_a.size(), 1u); // the sender gets it too
    EXPECT_EQ(to_a[0].at("data"), said);
    EXPECT_EQ(to_a[0].at("id"), "say-1");
    EXPECT_TRUE(frames(acts, 3, "msg").empty());

    // b gets it when it resumes.
    auto sent = frames(h.resume(4, b, 0), 4);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].at("resumed"), true);
    EXPECT_EQ(sent[1].at("seq"), 1);
    EXPECT_EQ(sent[1].at("data"), said);
    EXPECT_EQ(sent[1].at("id"), "say-1");
    (void)a;
}

// ---- send window: the replay buffer is the send queue

std::vector<std::uint64_t> msg_seqs(const std::vector<Action>& acts, ConnId c) { return seqs(frames(acts, c, "msg")); }

// The transport of `c` writes whatever it is given at once: reports 0 unsent
// until `got` holds `want` msg seqs; every report must release more.
void drain_window(Harness& h, ConnId c, std::vector<std::uint64_t>& got, std::size_t want) {
    for (int round = 0; round < 10 && got.size() < want; ++round) {
        h.hub.on_unsent(c, 0, h.now);
        auto sent = msg_seqs(h.collect(), c);
        ASSERT_FALSE(sent.empty());
        got.insert(got.end(), sent.begin(), sent.end());
    }
}

TEST(ProtocolServer, SendWindowHoldsMsgsUntilTheTransportCatchesUp) {
    ProtocolServerOptions o = echo_options();
    o.send_window_bytes = 200; // about 3 echo frames
    Harness h(o);
    h.connect(1);
    std::vector<std::uint64_t> got;
    for (std::uint64_t i = 1; i <= 10; ++i) {
        auto sent = msg_seqs(h.msg(1, i, "m" + std::to_string(i), i), 1);
        got.insert(got.end(), sent.begin(), sent.end());
    }
    ASSERT_GE(got.size(), 3u);
    ASSERT_LT(got.size(), 10u) << "the window should hold the rest back";
    EXPECT_EQ(h.hub.held_connections().count(1), 1u);
    EXPECT_EQ(h.hub.stats().sends_held, 1u);

    // The transport reports a backlog still over the window: nothing moves.
    h.hub.on_unsent(1, 500, h.now);
    EXPECT_TRUE(msg_seqs(h.collect(), 1).empty());
    // It drains: the held msgs go out, a window at a time, in order.
    drain_window(h, 1, got, 10);
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    EXPECT_TRUE(h.hub.held_connections().empty());
    EXPECT_EQ(h.hub.stats().msgs_out, 10u);
}

TEST(ProtocolServer, ResumeReplayIsPacedByTheWindow) {
    ProtocolServerOptions o = echo_options();
    o.send_window_bytes = 200;
    Harness h(o);
    json w = h.connect(1);
    for (std::uint64_t i = 1; i <= 10; ++i) {
        h.msg(1, i, "m", i);
        h.hub.on_unsent(1, 0, h.now); // a healthy link: everything written at once
    }
    EXPECT_TRUE(h.hub.held_connections().empty());
    h.closed(1);

    auto acts = h.resume(2, w, 0);
    EXPECT_EQ(frames(acts, 2).at(0).at("resumed"), true);
    std::vector<std::uint64_t> got = msg_seqs(acts, 2);
    EXPECT_LT(got.size(), 10u);
    drain_window(h, 2, got, 10);
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
    EXPECT_EQ(h.hub.stats().msgs_replayed, 10u);
}

TEST(ProtocolServer, MsgsEvictedBeforeTheConnectionTookThemDropIt) {
    ProtocolServerOptions o = echo_options();
    o.send_window_bytes = 100; // 2 echo frames
    o.replay_buffer = 3;
    Harness h(o);
    json w = h.connect(1);
    std::vector<Action> acts;
    for (std::uint64_t i = 1; i <= 6; ++i) {
        auto a = h.msg(1, i, "m", i);
        acts.insert(acts.end(), a.begin(), a.end());
    }
    auto cut = close_of(acts, 1);
    ASSERT_TRUE(cut.has_value());
    EXPECT_EQ(cut->kind, Action::Kind::terminate);
    EXPECT_EQ(h.hub.stats().window_overruns, 1u);
    EXPECT_TRUE(h.hub.held_connections().empty());
    h.closed(1);
    auto sent = frames(h.resume(2, w, 2), 2); // the client got 1 and 2; 3 is gone
    ASSERT_FALSE(sent.empty());
    EXPECT_EQ(sent.at(0).at("resumed"), false);
}

TEST(ProtocolServer, SendWindowZeroMeansNoLimit) {
    ProtocolServerOptions o = echo_options();
    o.send_window_bytes = 0;
    Harness h(o);
    h.connect(1);
    std::size_t n = 0;
    for (std::uint64_t i = 1; i <= 200; ++i) n += msg_seqs(h.msg(1, i, "m", i), 1).size();
    EXPECT_EQ(n, 200u);
    EXPECT_TRUE(h.hub.held_connections().empty());
}

TEST(ProtocolServer, AckBatchingByCount) {
    Harness h(echo_options());
    h.connect(1);
    for (std::uint64_t i = 1; i <= 31; ++i) EXPECT_TRUE(frames(h.msg(1, i, "m", i), 1, "ack").empty());
    auto acks = frames(h.msg(1, 32, "m", 32), 1, "ack");
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].at("seq"), 32);
    EXPECT_TRUE(frames(h.advance(1s), 1, "ack").empty()); // nothing left to ack
    EXPECT_EQ(h.hub.stats().acks_out, 1u);
}

TEST(ProtocolServer, AckBatchingByTime) {
    Harness h(echo_options());
    h.connect(1);
    h.msg(1, 1, "m", 1);
    h.advance(30ms);
    h.msg(1, 2, "m", 2);
    EXPECT_TRUE(frames(h.advance(19ms), 1, "ack").empty());
    auto acks = frames(h.advance(1ms), 1, "ack"); // 50 ms after the first unacked msg
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].at("seq"), 2);
    EXPECT_EQ(h.now - TimePoint{std::chrono::hours(1)}, 50ms);
}

TEST(ProtocolServer, ByeFlushesAckFreesSessionAndCloses1000) {
    Harness h(echo_options());
    json w = h.connect(1);
    h.msg(1, 1, "m", 1);
    auto acts = h.text(1, R"({"type":"bye"})");
    auto acks = frames(acts, 1, "ack");
    ASSERT_EQ(acks.size(), 1u);
    auto cl = close_of(acts, 1);
    ASSERT_TRUE(cl.has_value());
    EXPECT_EQ(cl->code, 1000);
    EXPECT_EQ(h.hub.session_count(), 0u);
    h.closed(1);
    EXPECT_EQ(frames(h.resume(2, w, 1), 2).at(0).at("resumed"), false);
}

TEST(ProtocolServer, PushesPerSession) {
    ProtocolServerOptions o;
    o.push_interval = 100ms;
    Harness h(o);
    json w = h.connect(1);
    h.advance(50ms);
    h.connect(2);
    auto acts = h.advance(200ms); // t = 250 ms after conn 1's session began
    std::vector<json> p1 = frames(acts, 1, "msg");
    std::vector<json> p2 = frames(acts, 2, "msg");
    ASSERT_EQ(p1.size(), 2u);
    EXPECT_EQ(p1[0].at("data"), (json{{"push", 1}}));
    EXPECT_EQ(p1[1].at("data"), (json{{"push", 2}}));
    EXPECT_EQ(seqs(p1), (std::vector<std::uint64_t>{1, 2}));
    ASSERT_EQ(p2.size(), 2u);
    EXPECT_EQ(p2[1].at("data"), (json{{"push", 2}}));

    // A detached session keeps receiving them in its replay buffer.
    h.ack(1, 2);
    h.closed(1);
    h.advance(100ms);
    auto sent = frames(h.resume(3, w, 2), 3);
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[1].at("data"), (json{{"push", 3}}));
}

TEST(ProtocolServer, HeartbeatPingsAndTerminatesSilentConnection) {
    ProtocolServerOptions o;
    o.heartbeat = 1000ms;
    o.session_ttl = 60s;
    Harness h(o);
    json w = h.connect(1);
    auto acts = h.advance(1000ms);
    ASSERT_EQ(acts.size(), 1u);
    EXPECT_EQ(acts[0].kind, Action::Kind::ping);
    h.hub.on_activity(1, h.now); // the pong
    acts = h.advance(1999ms);    // one more ping, still alive
    ASSERT_EQ(acts.size(), 1u);
    EXPECT_EQ(acts[0].kind, Action::Kind::ping);
    acts = h.advance(1ms); // 2 x heartbeat since the last inbound frame
    auto cl = close_of(acts, 1);
    ASSERT_TRUE(cl.has_value());
    EXPECT_EQ(cl->kind, Action::Kind::terminate);
    EXPECT_EQ(h.hub.stats().liveness_timeouts, 1u);
    // The session survives for its TTL and resumes.
    h.closed(1);
    EXPECT_EQ(frames(h.resume(2, w, 0), 2).at(0).at("resumed"), true);
}

TEST(ProtocolServer, HelloTimeout) {
    ProtocolServerOptions o;
    o.heartbeat = 0ms;
    o.hello_timeout = 500ms;
    Harness h(o);
    h.open(1);
    EXPECT_TRUE(h.advance(499ms).empty());
    expect_error_close(h.advance(1ms), 1, "bad_frame", 4008);
}

TEST(ProtocolServer, ShutdownClosesEveryConnectionGoingAway) {
    Harness h(echo_options());
    h.connect(1);
    h.connect(2);
    h.msg(2, 1, "m", 1);
    h.hub.shutdown(h.now);
    auto acts = h.collect();
    for (ConnId c : {ConnId{1}, ConnId{2}}) {
        auto cl = close_of(acts, c);
        ASSERT_TRUE(cl.has_value());
        EXPECT_EQ(cl->code, 1001);
    }
    EXPECT_EQ(frames(acts, 2, "ack").size(), 1u); // flushed before the close
    auto late = h.open(3);
    ASSERT_TRUE(close_of(late, 3).has_value());
    EXPECT_EQ(close_of(late, 3)->code, 1001);
}

TEST(ProtocolServer, ConnectionAndSessionCounters) {
    Harness h;
    json w = h.connect(1);
    h.closed(1);
    h.resume(2, w, 0);
    EXPECT_EQ(h.hub.stats().connections_total, 2u);
    EXPECT_EQ(h.hub.stats().connections_open, 1u);
    EXPECT_EQ(h.hub.stats().sessions_open, 1u);
    EXPECT_EQ(h.hub.connection_count(), 1u);
}

} // namespace
