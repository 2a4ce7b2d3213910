// Authentication and refused connections, end to end against the server:
// what is final (bad token in hello, HTTP 401 at the upgrade) fails after
// exactly one attempt; what is temporary (HTTP 503 + Retry-After, a closed
// port) backs off, honouring the server's floor, until it works or close().
#include <gtest/gtest.h>

#include "client_test_support.hpp"

namespace tether::itest {
namespace {

bool terminal(State s) { return s == State::failed || s == State::closed; }

TEST(ClientAuth, BadHelloTokenFailsAfterOneAttempt) {
    ServerProcess server({"--echo", "--tokens", "good"});
    Recorder rec;
    ClientOptions o = test_options(server.url(), rec);
    o.token = "bad";
    Client client(o);
    ASSERT_FALSE(client.connect());

    ASSERT_EQ(client.wait_until_terminal(scaled(milliseconds(10000))), State::failed) << rec.summary();
    // Nothing retries after a final verdict: give a (wrong) retry the time it
    // would need, on the recorder's clock, and check it did not happen.
    EXPECT_FALSE(rec.wait_for(milliseconds(300), [](const Recorder& r) { return r.count_states(State::connecting) > 1; }));
    EXPECT_EQ(client.stats().connect_attempts, 1u);
    EXPECT_EQ(client.state(), State::failed);
    rec.with_lock([](const Recorder& r) {
        ASSERT_FALSE(r.states.empty());
        const StateChange& last = r.states.back().change;
        EXPECT_EQ(last.to, State::failed);
        EXPECT_EQ(last.reason, errc::unauthorized) << last.reason.message() << ": " << last.detail;
        EXPECT_EQ(r.count_states(State::connecting), 1u);
        EXPECT_EQ(r.count_states(State::backoff), 0u);
        EXPECT_EQ(r.count_states(State::ready), 0u);
    });
    EXPECT_TRUE(client.session_id().empty());
}

TEST(ClientAuth, GoodHelloTokenIsAccepted) {
    ServerProcess server({"--echo", "--tokens", "good,other"});
    Recorder rec;
    ClientOptions o = test_options(server.url(), rec);
    o.token = "good";
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    ASSERT_TRUE(client.send(nlohmann::json{{"hi", 1}}));
    EXPECT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return !r.messages.empty(); }));
    EXPECT_EQ(client.stats().connect_attempts, 1u);
}

TEST(ClientAuth, UpgradeBearerRejectedWith401FailsAfterOneAttempt) {
    ServerProcess server({"--echo", "--upgrade-auth", "--tokens", "good"});
    Recorder rec;
    ClientOptions o = test_options(server.url(), rec);
    o.headers.emplace_back("Authorization", "Bearer bad");
    Client client(o);
    ASSERT_FALSE(client.connect());

    ASSERT_EQ(client.wait_until_terminal(scaled(milliseconds(10000))), State::failed) << rec.summary();
    EXPECT_FALSE(rec.wait_for(milliseconds(300), [](const Recorder& r) { return r.count_states(State::connecting) > 1; }));
    EXPECT_EQ(client.stats().connect_attempts, 1u);
    EXPECT_EQ(client.stats().connects, 0u); // the upgrade never succeeded
    rec.with_lock([](const Recorder& r) {
        ASSERT_FALSE(r.states.empty());
        const StateChange& last = r.states.back().change;
        EXPECT_EQ(last.to, State::failed);
        EXPECT_EQ(last.reason, errc::unauthorized) << last.reason.message() << ": " << last.detail;
        EXPECT_NE(last.detail.find("401"), std::string::npos) << last.detail;
        EXPECT_EQ(r.count_states(State::authenticating), 0u);
    });
}

TEST(ClientAuth, UpgradeBearerAcceptedReachesReady) {
    ServerProcess server({"--echo", "--upgrade-auth", "--tokens", "good"});
    Recorder rec;
    ClientOptions o = test_options(server.url(), rec);
    o.headers.emplace_back("Authorization", "Bearer good");
    Client client(o);
    ASSERT_FALSE(client.connect());
    EXPECT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    EXPECT_EQ(client.stats().connect_attempts, 1u);
}

TEST(ClientAuth, Http503RetryAfterIsHonoured) {
    ServerProcess server({"--echo", "--reject-upgrades", "1", "--reject-status", "503", "--retry-after-s", "1"});
    Recorder rec;
    ClientOptions o = test_options(server.url(), rec);
    Client client(o);
    ASSERT_FALSE(client.connect());

    ASSERT_TRUE(rec.wait_for(milliseconds(15000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    EXPECT_EQ(client.stats().connect_attempts, 2u);
    rec.with_lock([](const Recorder& r) {
        // connecting -> backoff (503, retry_in >= 1 s) -> connecting -> authenticating -> ready
        const TimedState* backoff = nullptr;
        const TimedState* second = nullptr;
        for (const auto& s : r.states) {
            if (s.change.to == State::backoff && backoff == nullptr) backoff = &s;
            else if (s.change.to == State::connecting && backoff != nullptr && second == nullptr) second = &s;
        }
        ASSERT_NE(backoff, nullptr);
        ASSERT_NE(second, nullptr);
        EXPECT_EQ(backoff->change.reason, errc::server_busy) << backoff->change.detail;
        EXPECT_GE(backoff->change.retry_in, milliseconds(1000));
        EXPECT_EQ(backoff->change.attempt, 1u);
        // The wait really happened (a little slack for timer granularity).
        EXPECT_GE(second->at - backoff->at, milliseconds(990))
            << std::chrono::duration_cast<milliseconds>(second->at - backoff->at).count() << " ms";
        EXPECT_EQ(r.count_states(State::failed), 0u);
    });
}

TEST(ClientAuth, ClosedPortBacksOffUntilClose) {
    if (!server_is_reference()) GTEST_SKIP() << "no server involved: the chat-server run covers it";
    ClosedPort closed;
    Recorder rec;
    ClientOptions o = test_options("ws://127.0.0.1:" + std::to_string(closed.port()) + "/ws", rec);
    o.backoff.base = milliseconds(10);
    o.backoff.max = milliseconds(80);
    Client client(o);
    ASSERT_FALSE(client.connect());

    // Several refused attempts, each followed by a backoff wait.
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.count_states(State::backoff) >= 4; }))
        << rec.summary();
    EXPECT_FALSE(terminal(client.state()));
    EXPECT_GE(client.stats().connect_attempts, 4u);
    EXPECT_EQ(client.stats().connects, 0u);

    ASSERT_FALSE(client.close());
    EXPECT_EQ(client.wait_until_terminal(scaled(milliseconds(5000))), State::closed);
    const auto attempts = client.stats().connect_attempts;
    // Closed is final: no attempt after it.
    EXPECT_FALSE(rec.wait_for(milliseconds(300), [attempts](const Recorder& r) {
        return r.count_states(State::connecting) > attempts;
    }));
    EXPECT_EQ(client.stats().connect_attempts, attempts);

    rec.with_lock([](const Recorder& r) {
        State prev = State::idle;
        for (const auto& s : r.states) {
            const State to = s.change.to;
            // The cycle is connecting -> backoff -> connecting ... -> closed.
            if (to == State::backoff) {
                EXPECT_EQ(prev, State::connecting);
                EXPECT_EQ(s.change.reason, errc::connect_failed) << s.change.reason.message() << ": " << s.change.detail;
                EXPECT_LE(s.change.retry_in, milliseconds(80));
            } else if (to == State::connecting) {
                EXPECT_TRUE(prev == State::idle || prev == State::backoff) << to_string(prev);
            } else {
                EXPECT_EQ(to, State::closed) << to_string(to);
            }
            prev = to;
        }
        EXPECT_EQ(r.count_states(State::failed), 0u);
    });
}

} // namespace
} // namespace tether::itest
