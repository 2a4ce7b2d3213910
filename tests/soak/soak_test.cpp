// Soak: 50 clients on one EventLoop against chat-server --echo through a fault
// proxy that cuts, resets or blackholes every connection every few seconds.
// Zero lost, zero duplicated, order kept; RSS sampled every 10 s must not
// grow after warm-up (slope over the last two thirds < 128 KiB/min; reported).
//
//   bash .ci/test.sh --soak 5        # or: TETHER_SOAK_MINUTES=60 ctest -L soak
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <malloc.h>
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

// Bytes the allocator has handed out and not got back (glibc), in KiB: tells
// live objects from allocator fragmentation when the RSS moves.
double heap_in_use_kib() {
    const struct mallinfo2 mi = ::mallinfo2();
    return static_cast<double>(mi.uordblks + mi.hblkhd) / 1024.0;
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
        p->rec.keep_acked_ids = false; // bounded bookkeeping: the RSS must measure the SDK
        p->rec.history_limit = 20;
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
    std::vector<double> t_s, rss, heap;
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
            heap.push_back(heap_in_use_kib());
            next_sample = now + milliseconds(10000);
        }
        std::this_thread::sleep_for(milliseconds(50)); // the send rate (~100 msgs/s per client)
    }

    // Everything sent must be acked and echoed exactly once, in order.
    for (auto& p : peers) {
        const std::uint64_t sent = p->sent;
        const bool done = p->rec.wait_for(milliseconds(20000), [&](const Recorder& r) {
            return r.acked_count >= sent && p->next_echo > sent;
        });
        p->rec.with_lock([&](const Recorder& r) {
            EXPECT_TRUE(done) << "acked " << r.acked_count << "/" << sent << ", echoed up to " << p->next_echo - 1
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

    // Memory. The first minutes are warm-up (connection buffers, outboxes at
    // their working size, allocator arenas), so the slope that must be flat
    // is the one over the last two thirds of the samples; the whole-run slope
    // is reported too.
    const auto tail = [](const std::vector<double>& v) {
        return std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(v.size() / 3), v.end());
    };
    const double rss_slope = slope(tail(t_s), tail(rss)) * 60.0;
    const double heap_slope = slope(tail(t_s), tail(heap)) * 60.0;
    std::printf("[soak] %.1f min, %d clients, %llu messages, %llu faults, %llu reconnects; RSS %.0f -> %.0f KiB\n"
                "[soak] slope over the last two thirds (%zu samples): RSS %.1f KiB/min, heap in use %.1f KiB/min; "
                "whole run: RSS %.1f KiB/min\n",
                minutes, kClients, static_cast<unsigned long long>(total), static_cast<unsigned long long>(faults),
                static_cast<unsigned long long>(reconnects), rss.empty() ? 0 : rss.front(),
                rss.empty() ? 0 : rss.back(), tail(rss).size(), rss_slope, heap_slope, slope(t_s, rss) * 60.0);
    std::printf("[soak] RSS samples (KiB):");
    for (double v : rss) std::printf(" %.0f", v);
    std::printf("\n[soak] heap in use samples (KiB):");
    for (double v : heap) std::printf(" %.0f", v);
    std::printf("\n");
    if (tail(rss).size() >= 3) {
        EXPECT_LT(rss_slope, 128.0) << "RSS keeps growing";
    }
}

} // namespace
} // namespace tether::itest
