// Soak: 50 clients on one EventLoop against chat-server --echo through a fault
// proxy that cuts, resets or blackholes every connection every few seconds.
// Zero lost, zero duplicated, order kept; RSS sampled every 10 s must not
// grow (slope reported).
//
//   bash .ci/test.sh --soak 5        # or: TETHER_SOAK_MINUTES=60 ctest -L soak
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "client_test_support.hpp"
#include "fault_proxy/fault_proxy.hpp"

namespace tether::itest {
namespace {

constexpr int kClients = 50;

double rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmRSS:") {
            double v = 0;
            status >> v;
            return v;
        }
        status.ignore(1 << 12, '\n');
    }
    return 0;
}

// Least-squares slope of y over x.
double slope(const std::vector<double>& x, const std::vector<double>& y) {
    const double n = static_cast<double>(x.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sx += x[i];
        sy += y[i];
        sxx += x[i] * x[i];
        sxy += x[i] * y[i];
    }
    const double d = n * sxx - sx * sx;
    return d == 0 ? 0 : (n * sxy - sx * sy) / d;
}

struct Peer {
    Recorder rec;
    std::unique_ptr<Client> client;
    std::uint64_t sent = 0;
    // Echo bookkeeping, under rec's lock (hooks run inside the callback).
    std::uint64_t next_echo = 1;
    std::uint64_t echo_lost_or_reordered = 0;
    std::uint64_t echo_duplicates = 0;
};

TEST(Soak, FiftyClientsUnderRandomFaultsLoseNothingAndDoNotGrow) {
    const char* env = std::getenv("TETHER_SOAK_MINUTES");
    const double minutes = env ? std::max(0.2, std::atof(env)) : 5.0;
    const auto duration = std::chrono::duration_cast<milliseconds>(std::chrono::duration<double, std::ratio<60>>(minutes));

    ServerProcess server({"--echo", "--heartbeat-ms", "1000", "--session-ttl-ms", "120000"});
    testing::FaultProxy proxy("127.0.0.1", server.port());
    const std::string url = "ws://127.0.0.1:" + std::to_string(proxy.port()) + "/ws";
    auto loop = EventLoop::create();

    std::vector<std::unique_ptr<Peer>> peers;
    for (int i = 0; i < kClients; ++i) {
        auto p = std::make_unique<Peer>();
        Peer* raw = p.get();
        p->rec.keep_messages = false;
        p->rec.on_message_hook = [raw](const Message& m) {
            if (!m.data.is_object() || !m.data.contains("echo")) return;
            const auto n = m.data["echo"].value("n", std::uint64_t{0});
            if (n < raw->next_echo) ++raw->echo_duplicates;
            else if (n > raw->next_echo) ++raw->echo_lost_or_reordered;
            raw->next_echo = std::max(raw->next_echo, n + 1);
        };
        ClientOptions o = test_options(url, p->rec);
        o.loop = loop;
        o.heartbeat.interval = milliseconds(300);
        o.heartbeat.timeout = milliseconds(900);
        p->client = std::make_unique<Client>(o);
        ASSERT_FALSE(p->client->connect());
        peers.push_back(std::move(p));
    }
    for (auto& p : peers)
        ASSERT_TRUE(p->rec.wait_for(milliseconds(20000), [](const Recorder& r) { return r.state == State::ready; }));

    std::mt19937 rng(12345);
    std::vector<double> t_s, rss;
    const auto start = Clock::now();
    auto next_fault = start + milliseconds(2000);
    auto next_sample = start;
    std::uint64_t faults = 0;
    while (Clock::now() - start < duration) {
        for (auto& p : peers) { // a few messages per client per round
            for (int k = 0; k < 5; ++k) {
                if (p->client->send(nlohmann::json{{"n", p->sent + 1}})) ++p->sent;
            }
        }
        const auto now = Clock::now();
        if (now >= next_fault) {
            switch (rng() % 3) {
            case 0: proxy.cut_all(); break;
            case 1: proxy.reset_all(); break;
            default:
                proxy.set_mode(testing::FaultProxy::Mode::blackhole);
                std::this_thread::sleep_for(milliseconds(1200)); // the fault's length, not a wait for a result
                proxy.reset_all();
                proxy.set_mode(testing::FaultProxy::Mode::pass);
            }
            ++faults;
            next_fault = now + milliseconds(2000 + static_cast<int>(rng() % 3000));
        }
        if (now >= next_sample) {
            t_s.push_back(std::chrono::duration<double>(now - start).count());
            rss.push_back(rss_kib());
            next_sample = now + milliseconds(10000);
        }
        std::this_thread::sleep_for(milliseconds(50)); // the send rate (~100 msgs/s per client)
    }

    // Everything sent must be acked and echoed exactly once, in order.
    for (auto& p : peers) {
        const std::uint64_t sent = p->sent;
        const bool done = p->rec.wait_for(milliseconds(20000), [&](const Recorder& r) {
            return r.acked_set.size() >= sent && p->next_echo > sent;
        });
        p->rec.with_lock([&](const Recorder& r) {
            EXPECT_TRUE(done) << "acked " << r.acked_set.size() << "/" << sent << ", echoed up to " << p->next_echo - 1
                              << "\n" << r.summary();
            EXPECT_EQ(r.acked_duplicates, 0u);
            EXPECT_TRUE(r.failed.empty());
            EXPECT_TRUE(r.lost.empty()) << "the server never restarts: no session may be lost";
            EXPECT_EQ(p->echo_duplicates, 0u);
            EXPECT_EQ(p->echo_lost_or_reordered, 0u);
            return 0;
        });
    }

    std::uint64_t total = 0, reconnects = 0;
    for (auto& p : peers) {
        total += p->sent;
        reconnects += p->client->stats().reconnects;
    }
    peers.clear();

    // Memory: the first sample is warm-up; the slope over the rest must be flat.
    std::vector<double> xs(t_s.begin() + (t_s.size() > 2 ? 1 : 0), t_s.end());
    std::vector<double> ys(rss.begin() + (rss.size() > 2 ? 1 : 0), rss.end());
    const double kib_per_min = slope(xs, ys) * 60.0;
    std::printf("[soak] %.1f min, %d clients, %llu messages, %llu faults, %llu reconnects; RSS %.0f -> %.0f KiB, "
                "slope %.1f KiB/min over %zu samples\n",
                minutes, kClients, static_cast<unsigned long long>(total), static_cast<unsigned long long>(faults),
                static_cast<unsigned long long>(reconnects), rss.empty() ? 0 : rss.front(),
                rss.empty() ? 0 : rss.back(), kib_per_min, ys.size());
    if (ys.size() >= 3) {
        EXPECT_LT(kib_per_min, 256.0) << "RSS keeps growing";
    }
}

} // namespace
} // namespace tether::itest
