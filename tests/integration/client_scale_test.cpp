// Many clients on one EventLoop (one shared io thread) against one
// chat-server: all reach ready, every message is echoed once, in order, and
// acked; all close cleanly.
#include <gtest/gtest.h>

#include <memory>

#include "client_test_support.hpp"

namespace tether::itest {
namespace {

constexpr std::size_t kClients = 200;
constexpr std::uint64_t kPerClient = 20;

TEST(ClientScale, TwoHundredClientsShareOneEventLoop) {
    ServerProcess server({"--echo"});
    auto loop = EventLoop::create();

    // Recorders first: they outlive the clients that call into them.
    std::vector<std::unique_ptr<Recorder>> recs;
    std::vector<std::unique_ptr<Client>> clients;
    for (std::size_t i = 0; i < kClients; ++i) {
        recs.push_back(std::make_unique<Recorder>());
        ClientOptions o = test_options(server.url(), *recs.back());
        o.loop = loop;
        o.log = {}; // 200 clients' logs are noise
        clients.push_back(std::make_unique<Client>(o));
    }
    const auto t0 = Clock::now();
    for (auto& c : clients) ASSERT_FALSE(c->connect());
    for (std::size_t i = 0; i < kClients; ++i)
        ASSERT_TRUE(recs[i]->wait_for(milliseconds(30000), [](const Recorder& r) { return r.state == State::ready; }))
            << "client " << i << ": " << recs[i]->summary();
    const auto t_ready = Clock::now();

    std::vector<std::vector<MessageId>> ids(kClients);
    for (std::uint64_t m = 0; m < kPerClient; ++m) {
        for (std::size_t i = 0; i < kClients; ++i) {
            const SendResult r = clients[i]->send(nlohmann::json{{"c", i}, {"m", m}});
            ASSERT_TRUE(r) << r.detail;
            ids[i].push_back(r.id);
        }
    }
    for (std::size_t i = 0; i < kClients; ++i)
        ASSERT_TRUE(recs[i]->wait_for(milliseconds(30000), [](const Recorder& r) {
            return r.messages.size() == kPerClient && r.acked_set.size() == kPerClient;
        })) << "client " << i << ": " << recs[i]->summary();
    const auto t_done = Clock::now();

    std::set<std::string> sessions;
    for (std::size_t i = 0; i < kClients; ++i) {
        sessions.insert(clients[i]->session_id());
        recs[i]->with_lock([&](const Recorder& r) {
            for (std::uint64_t m = 0; m < kPerClient; ++m) {
                const nlohmann::json& echo = r.messages[m].data.at("echo");
                EXPECT_EQ(echo.at("c").get<std::size_t>(), i);
                EXPECT_EQ(echo.at("m").get<std::uint64_t>(), m);
                EXPECT_EQ(r.acked_set.count(ids[i][m]), 1u);
            }
            EXPECT_EQ(r.acked_duplicates, 0u);
            EXPECT_TRUE(r.failed.empty());
            EXPECT_TRUE(r.errors.empty()) << r.errors.size() << " errors";
            EXPECT_EQ(r.ready_count, 1u);
        });
        EXPECT_EQ(clients[i]->stats().connect_attempts, 1u);
    }
    EXPECT_EQ(sessions.size(), kClients);

    for (auto& c : clients) ASSERT_FALSE(c->close(milliseconds(1000)));
    for (auto& c : clients) EXPECT_EQ(c->wait_until_terminal(scaled(milliseconds(10000))), State::closed);
    std::printf("[scale] %zu clients on one loop: all ready in %lld ms, %llu echoes+acks in %lld ms\n", kClients,
                static_cast<long long>(std::chrono::duration_cast<milliseconds>(t_ready - t0).count()),
                static_cast<unsigned long long>(kClients * kPerClient),
                static_cast<long long>(std::chrono::duration_cast<milliseconds>(t_done - t_ready).count()));
    clients.clear();
}

} // namespace
} // namespace tether::itest
