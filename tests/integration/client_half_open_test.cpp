// Half-open link: the proxy blackholes the connection (no byte, no FIN, no
// RST). The server is started without heartbeats, so it never notices; only
// the client's liveness deadline can. The client must detect it within its
// heartbeat timeout, reconnect once the path works again, resume the same
// session (the server hands it over from the dead connection: takeover) and
// deliver everything exactly once, in order, including what was sent into
// the black hole.
#include <gtest/gtest.h>

#include "client_test_support.hpp"
#include "fault_proxy/fault_proxy.hpp"

namespace tether::itest {
namespace {

using testing::FaultProxy;

std::vector<std::uint64_t> echoed_ns(const Recorder& r) {
    std::vector<std::uint64_t> out;
    for (const auto& m : r.messages)
        if (m.data.is_object() && m.data.contains("echo")) out.push_back(m.data.at("echo").at("n").get<std::uint64_t>());
    return out;
}

TEST(ClientHalfOpen, BlackholeIsDetectedAndTheSessionResumes) {
    ServerProcess server({"--echo", "--heartbeat-ms", "0"});
    FaultProxy proxy("127.0.0.1", server.port());
    Recorder rec;
    ClientOptions o = test_options("ws://127.0.0.1:" + std::to_string(proxy.port()) + "/ws", rec);
    const milliseconds interval(200), timeout(600);
    o.heartbeat.interval = interval;
    o.heartbeat.timeout = timeout;
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    const std::string session = client.session_id();
    ASSERT_FALSE(session.empty());

    std::vector<MessageId> ids;
    for (std::uint64_t n = 0; n < 50; ++n) ids.push_back(client.send(nlohmann::json{{"n", n}}).id);
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return echoed_ns(r).size() == 50; }))
        << rec.summary();

    const auto t_blackhole = Clock::now();
    proxy.set_mode(FaultProxy::Mode::blackhole);
    for (std::uint64_t n = 50; n < 70; ++n) ids.push_back(client.send(nlohmann::json{{"n", n}}).id);

    // Detection: nothing arrives, so the liveness deadline (last inbound +
    // timeout) passes; the last inbound frame is at most one ping interval
    // (the client's ping, answered by a pong) before the blackhole.
    ASSERT_TRUE(rec.wait_for(milliseconds(5000), [](const Recorder& r) {
        return r.count_errors(errc::heartbeat_timeout) == 1;
    })) << rec.summary() << rec.log_tail();
    const auto detected = rec.with_lock([](const Recorder& r) {
        for (const auto& e : r.errors)
            if (e.code == errc::heartbeat_timeout) return e.at;
        return Clock::time_point{};
    });
    const auto detect_ms = std::chrono::duration_cast<milliseconds>(detected - t_blackhole);
    // The server has pings off, so its welcome carries no heartbeat_ms and
    // the client keeps its own interval and timeout.
    EXPECT_GE(detect_ms, timeout - interval - milliseconds(20)) << "detected too early";
    EXPECT_LE(detect_ms, scaled(timeout + interval + milliseconds(200))) << "detected too late";
    EXPECT_NE(client.state(), State::ready);

    // The path comes back: the reconnect (backoff <= 300 ms, then a fresh
    // connection the proxy had been holding) resumes the session.
    const auto t_pass = Clock::now();
    proxy.set_mode(FaultProxy::Mode::pass);
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready && r.ready_count == 2; }))
        << rec.summary() << rec.log_tail();
    const auto recover_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t_pass);
    EXPECT_LE(recover_ms, scaled(milliseconds(3000)));

    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [&ids](const Recorder& r) {
        return echoed_ns(r).size() >= 70 && r.acked_set.size() == ids.size();
    })) << rec.summary() << rec.log_tail();

    EXPECT_EQ(client.session_id(), session);
    const Stats st = client.stats();
    EXPECT_EQ(st.resumes, 1u);
    EXPECT_EQ(st.sessions_lost, 0u);
    EXPECT_EQ(st.reconnects, 1u);
    rec.with_lock([&](const Recorder& r) {
        ASSERT_EQ(r.resumed.size(), 1u);
        EXPECT_EQ(r.resumed[0], session);
        EXPECT_TRUE(r.lost.empty());
        EXPECT_TRUE(r.failed.empty());
        EXPECT_EQ(r.acked_duplicates, 0u);
        const auto ns = echoed_ns(r);
        ASSERT_EQ(ns.size(), 70u) << "duplicates delivered";
        for (std::uint64_t n = 0; n < 70; ++n) EXPECT_EQ(ns[n], n);
        for (MessageId id : ids) EXPECT_EQ(r.acked_set.count(id), 1u);
    });
    std::printf("[half-open] detected after %lld ms (interval %lld ms, timeout %lld ms), ready again %lld ms "
                "after the path came back\n",
                static_cast<long long>(detect_ms.count()), static_cast<long long>(interval.count()),
                static_cast<long long>(timeout.count()),
                static_cast<long long>(recover_ms.count()));
}

// A server with pings off must not make the client ping faster: welcome
// then has no heartbeat_ms (it must be > 0), and the client keeps its own
// interval. (chat-server used to send heartbeat_ms 0, which the client
// clamps to its 250 ms floor.)
TEST(ClientHalfOpen, ServerWithoutHeartbeatLeavesTheClientInterval) {
    ServerProcess server({"--echo", "--heartbeat-ms", "0"});
    Recorder rec;
    ClientOptions o = test_options(server.url(), rec);
    o.heartbeat.interval = milliseconds(1000);
    o.heartbeat.timeout = milliseconds(3000);
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    const auto ready_at = rec.with_lock([](const Recorder& r) { return r.states.back().at; });
    // A window shorter than the client's interval: nothing may leave ready
    // in it, and no ping is due yet (at a 250 ms interval there would be 2).
    EXPECT_FALSE(rec.wait_until(ready_at + milliseconds(700), [](const Recorder& r) { return r.state != State::ready; }))
        << rec.summary();
    EXPECT_EQ(client.stats().pings_sent, 0u);
    // And the client's own interval does apply.
    const auto deadline = Clock::now() + scaled(milliseconds(3000));
    while (client.stats().pings_sent == 0 && Clock::now() < deadline)
        rec.wait_for(milliseconds(50), [](const Recorder& r) { return r.state != State::ready; });
    EXPECT_GE(client.stats().pings_sent, 1u);
    EXPECT_EQ(client.state(), State::ready);
}

} // namespace
} // namespace tether::itest
