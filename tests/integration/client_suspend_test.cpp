// Suspend detection end to end: a client process (suspend_child) connected
// to chat-server is SIGSTOPped for longer than its suspend threshold and its
// heartbeat timeout, then SIGCONTed. It must notice the suspend, probe the
// connection instead of declaring it dead, stay ready on the same connection
// and lose nothing.
#include <gtest/gtest.h>

#include <csignal>
#include <set>
#include <sstream>
#include <thread>

#include "client_test_support.hpp"

namespace tether::itest {
namespace {

struct ChildStats {
    std::uint64_t connects = 0, suspends = 0, heartbeat_timeouts = 0;
    std::string state;
};

class SuspendedClient {
public:
    explicit SuspendedClient(const std::string& url) : child_({TETHER_SUSPEND_CHILD, url}) {}

    // Reads lines until `want(line)` holds or the deadline; records acks and echoes.
    bool wait_line(milliseconds timeout, const std::function<bool(const std::string&)>& want) {
        return wait_line_until(Clock::now() + scaled(timeout), want);
    }
    bool wait_line_until(Clock::time_point deadline, const std::function<bool(const std::string&)>& want) {
        while (auto line = child_.read_line(deadline)) {
            log_ += *line + "\n";
            std::istringstream in(*line);
            std::string word;
            in >> word;
            if (word == "acked" || word == "echo") {
                int n = -1;
                in >> n;
                (word == "acked" ? acked : echoed).insert(n);
                if (word == "echo") ++echo_count;
            }
            if (word == "stats") {
                in >> last_stats.connects >> last_stats.suspends >> last_stats.heartbeat_timeouts >> last_stats.state;
            }
            if (want(*line)) return true;
        }
        return false;
    }

    // Asks for stats until pred holds, within the deadline.
    bool wait_stats(milliseconds timeout, const std::function<bool(const ChildStats&)>& pred) {
        const auto deadline = Clock::now() + scaled(timeout);
        while (Clock::now() < deadline) {
            child_.write_line("stats");
            if (!wait_line(milliseconds(2000), [](const std::string& l) { return l.rfind("stats ", 0) == 0; }))
                return false;
            if (pred(last_stats)) return true;
            std::this_thread::sleep_for(milliseconds(20)); // paces the polling, decides nothing
        }
        return false;
    }

    void send(int n) { child_.write_line("send " + std::to_string(n)); }
    void signal(int sig) { child_.signal(sig); }
    const std::string& log() const { return log_; }

    std::set<int> acked, echoed;
    std::size_t echo_count = 0;
    ChildStats last_stats;

private:
    InteractiveProcess child_;
    std::string log_;
};

TEST(ClientSuspend, SigstopLongerThanTheHeartbeatTimeoutIsDetectedAndTheSessionKept) {
    if (!server_is_reference()) GTEST_SKIP() << "uses chat-server --heartbeat-ms 0";
    ServerProcess server({"--echo", "--heartbeat-ms", "0"}); // the server never drops a silent client
    SuspendedClient client(server.url());
    ASSERT_TRUE(client.wait_line(milliseconds(10000), [](const std::string& l) { return l == "state ready"; }))
        << client.log();

    for (int n = 0; n < 5; ++n) client.send(n);
    ASSERT_TRUE(client.wait_line(milliseconds(10000), [&](const std::string&) {
        return client.acked.size() == 5 && client.echoed.size() == 5;
    })) << client.log();

    // Stopped for 4 s: beyond the 2 s suspend threshold and the 2 s heartbeat
    // timeout (1 s interval). Without detection the client would declare the
    // connection dead on waking and reconnect.
    client.signal(SIGSTOP);
    std::this_thread::sleep_for(milliseconds(4000)); // the suspend itself, not a wait for a result
    client.signal(SIGCONT);
    const auto resumed_at = Clock::now();

    ASSERT_TRUE(client.wait_stats(milliseconds(5000), [](const ChildStats& s) { return s.suspends >= 1; }))
        << client.log();
    for (int n = 5; n < 10; ++n) client.send(n);
    ASSERT_TRUE(client.wait_line(milliseconds(10000), [&](const std::string&) {
        return client.acked.size() == 10 && client.echoed.size() == 10;
    })) << client.log();

    // Past the probe deadline (3 s): the probe was answered, the connection kept.
    // A window in which no drop may happen.
    client.wait_line_until(resumed_at + scaled(milliseconds(4000)),
                           [](const std::string& l) { return l == "state backoff"; });
    ASSERT_TRUE(client.wait_stats(milliseconds(5000), [](const ChildStats& s) { return s.state == "ready"; }));
    EXPECT_EQ(client.last_stats.suspends, 1u) << client.log();
    EXPECT_EQ(client.last_stats.heartbeat_timeouts, 0u) << client.log();
    EXPECT_EQ(client.last_stats.connects, 1u) << "the connection survived the suspend\n" << client.log();
    EXPECT_EQ(client.echo_count, 10u) << "each message echoed once";
    EXPECT_EQ(client.log().find("state backoff"), std::string::npos) << client.log();
}

} // namespace
} // namespace tether::itest
