// Eight application threads call send() on one Client at once while the
// proxy cuts and resets the connection. Every message must be acked exactly
// once (on_acked ids unique and complete), none may fail, and since the
// session always resumes, every message is echoed exactly once and each
// thread's messages come back in the order that thread sent them.
// Also the suite to run under TSan (build with -DTETHER_SANITIZE=thread).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "client_test_support.hpp"
#include "fault_proxy/fault_proxy.hpp"

namespace tether::itest {
namespace {

using testing::FaultProxy;

constexpr std::size_t kThreads = 8;
constexpr std::uint64_t kPerThread = 1000;
constexpr std::size_t kTotal = kThreads * kPerThread;
constexpr std::size_t kFaults = 12;

struct EchoLedger {
    std::vector<std::vector<std::uint64_t>> seen = std::vector<std::vector<std::uint64_t>>(kThreads);
    std::size_t total = 0;
    std::vector<std::string> violations;

    void on_message(const Message& m) {
        if (!m.data.is_object() || !m.data.contains("echo")) return; // no pushes configured
        const nlohmann::json& e = m.data.at("echo");
        const auto t = e.at("t").get<std::size_t>();
        const auto i = e.at("i").get<std::uint64_t>();
        if (t >= kThreads) {
            if (violations.size() < 20) violations.push_back("bad thread index " + e.dump());
            return;
        }
        if (!seen[t].empty() && i <= seen[t].back() && violations.size() < 20)
            violations.push_back("thread " + std::to_string(t) + ": echo " + std::to_string(i) + " after " +
                                 std::to_string(seen[t].back()));
        seen[t].push_back(i);
        ++total;
    }
};

TEST(ClientConcurrency, EightSendersThroughCutsAndResets) {
    ServerProcess server({"--echo", "--heartbeat-ms", "250"});
    FaultProxy proxy("127.0.0.1", server.port());
    Recorder rec;
    EchoLedger ledger;
    rec.keep_messages = false;
    rec.on_message_hook = [&ledger](const Message& m) { ledger.on_message(m); };
    ClientOptions o = test_options("ws://127.0.0.1:" + std::to_string(proxy.port()) + "/ws", rec);
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();

    std::atomic<std::size_t> started{0};
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> send_errors{0};
    std::vector<std::vector<MessageId>> ids(kThreads);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (std::uint64_t i = 0; i < kPerThread && !stop; ++i) {
                // Keep the senders alongside the faults: at most ~800 unacked.
                rec.wait_for(milliseconds(30000), [&](const Recorder& r) {
                    return stop || r.acked_set.size() + 800 > started.load();
                });
                ++started;
                const SendResult r = client.send(nlohmann::json{{"t", t}, {"i", i}});
                if (r)
                    ids[t].push_back(r.id);
                else
                    ++send_errors;
            }
        });
    }
    struct Joiner {
        std::vector<std::thread>& threads;
        std::atomic<bool>& stop;
        const Recorder& rec;
        ~Joiner() {
            stop = true;
            rec.notify();
            for (auto& th : threads)
                if (th.joinable()) th.join();
        }
    } joiner{threads, stop, rec};

    for (std::size_t f = 0; f < kFaults; ++f) {
        const std::size_t threshold = (f + 1) * kTotal / (kFaults + 2);
        ASSERT_TRUE(rec.wait_for(milliseconds(30000), [&](const Recorder& r) {
            return r.state == State::ready && r.acked_set.size() >= threshold;
        })) << "fault " << f << ": no progress\n" << rec.summary() << rec.log_tail();
        const std::uint64_t ready_before = rec.with_lock([](const Recorder& r) { return r.ready_count; });
        if (f % 2 == 0)
            proxy.cut_all();
        else
            proxy.reset_all();
        ASSERT_TRUE(rec.wait_for(milliseconds(15000), [ready_before](const Recorder& r) {
            return r.state == State::ready && r.ready_count > ready_before;
        })) << "no recovery after fault " << f << "\n" << rec.summary() << rec.log_tail();
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(send_errors.load(), 0u);

    ASSERT_TRUE(rec.wait_for(milliseconds(30000), [](const Recorder& r) {
        return r.acked_set.size() + r.failed.size() >= kTotal;
    })) << rec.summary() << rec.log_tail();
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [&ledger](const Recorder&) { return ledger.total >= kTotal; }))
        << rec.summary();

    std::set<MessageId> all;
    for (const auto& v : ids) all.insert(v.begin(), v.end());
    ASSERT_EQ(all.size(), kTotal) << "send() returned duplicate ids";
    const Stats st = client.stats();
    rec.with_lock([&](const Recorder& r) {
        EXPECT_TRUE(r.failed.empty());
        EXPECT_EQ(r.acked_duplicates, 0u) << "a message was acked twice";
        EXPECT_EQ(r.acked.size(), kTotal);
        EXPECT_EQ(r.acked_set, all);
        EXPECT_TRUE(r.lost.empty());
        for (const auto& v : ledger.violations) ADD_FAILURE() << v;
        EXPECT_EQ(ledger.total, kTotal) << "echo duplicates";
        for (std::size_t t = 0; t < kThreads; ++t) {
            ASSERT_EQ(ledger.seen[t].size(), kPerThread) << "thread " << t;
            for (std::uint64_t i = 0; i < kPerThread; ++i) ASSERT_EQ(ledger.seen[t][i], i) << "thread " << t;
        }
    });
    EXPECT_EQ(st.sessions_lost, 0u);
    EXPECT_GE(st.resumes, kFaults);
    EXPECT_EQ(st.messages_acked, kTotal);
    std::printf("[concurrency] %zu threads x %llu messages, %zu faults: reconnects=%llu resumes=%llu "
                "frames_resent=%llu duplicates_dropped=%llu\n",
                kThreads, static_cast<unsigned long long>(kPerThread), kFaults,
                static_cast<unsigned long long>(st.reconnects), static_cast<unsigned long long>(st.resumes),
                static_cast<unsigned long long>(st.frames_resent),
                static_cast<unsigned long long>(st.duplicates_dropped));
}

} // namespace
} // namespace tether::itest
