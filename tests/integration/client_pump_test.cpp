// The driver's pump, end to end against chat-server. A pump runs one round
// (drain the session, execute, dispatch) and posts another when output is
// left. These tests cover the two ways output appears during a round: the
// token provider's answer, which the pump itself hands to the session, and a
// callback that calls the client. A missing follow-up pump would leave the
// client stuck in connecting; a chain of rounds longer than the old
// 1000-round cap must run to its end.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "client_test_support.hpp"

namespace tether::itest {
namespace {

TEST(ClientPump, TokenFromTheProviderOpensTheConnection) {
    ServerProcess server({"--echo", "--tokens", "good"});
    Recorder rec;
    std::vector<bool> asked; // refresh flags, on the io thread only
    ClientOptions o = test_options(server.url(), rec);
    o.token_provider = [&asked](bool refresh) -> std::optional<std::string> {
        asked.push_back(refresh);
        return std::string("good");
    };
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    ASSERT_TRUE(client.send(nlohmann::json{{"hi", 1}}));
    EXPECT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return !r.messages.empty(); }));
    ASSERT_FALSE(client.close());
    ASSERT_EQ(client.wait_until_terminal(scaled(milliseconds(10000))), State::closed) << rec.summary();
    EXPECT_EQ(asked, std::vector<bool>{false});
    EXPECT_EQ(client.stats().connect_attempts, 1u);
}

TEST(ClientPump, TokenExpiredAsksTheProviderForAFreshOne) {
    ServerProcess server({"--echo", "--tokens", "fresh", "--expired-tokens", "stale"});
    Recorder rec;
    std::vector<bool> asked;
    ClientOptions o = test_options(server.url(), rec);
    o.token_provider = [&asked](bool refresh) -> std::optional<std::string> {
        asked.push_back(refresh);
        return std::string(refresh ? "fresh" : "stale");
    };
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    EXPECT_EQ(asked, (std::vector<bool>{false, true}));
    EXPECT_EQ(client.stats().connect_attempts, 2u);
    rec.with_lock([](const Recorder& r) {
        EXPECT_EQ(r.count_errors(errc::token_expired), 1u) << r.summary();
        EXPECT_EQ(r.count_states(State::failed), 0u);
    });
}

TEST(ClientPump, CallbackChainLongerThanTheOldRoundCapRunsToTheEnd) {
    // Each transition to connecting asks for another reconnect, kChain
    // times: every round's callback makes the next round's output.
    constexpr std::uint64_t kChain = 1500;
    ServerProcess server({"--echo"});
    Recorder rec;
    std::atomic<Client*> target{nullptr};
    std::uint64_t chained = 0; // under the recorder's lock
    rec.on_state_hook = [&](const StateChange& c) {
        if (c.to != State::connecting || chained == kChain) return;
        ++chained;
        if (Client* client = target.load()) {
            EXPECT_FALSE(client->reconnect_now());
        }
    };
    Client client(test_options(server.url(), rec));
    target = &client;
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(30000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    rec.with_lock([&](const Recorder& r) {
        EXPECT_EQ(chained, kChain);
        EXPECT_EQ(r.count_states(State::connecting), kChain + 1);
        EXPECT_EQ(r.count_states(State::backoff), kChain);
        EXPECT_EQ(r.ready_count, 1u);
    });
    EXPECT_EQ(client.stats().connect_attempts, kChain + 1);
    ASSERT_TRUE(client.send(nlohmann::json{{"after", "chain"}}));
    EXPECT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return !r.messages.empty(); }));
    target = nullptr;
}

} // namespace
} // namespace tether::itest
