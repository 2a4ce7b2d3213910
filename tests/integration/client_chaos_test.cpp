// Chaos: 10,000 client messages (acked, and echoed back by the server) plus
// the server's periodic pushes, between one Client and the server
// (server_path(): chat-server or tether-gin-server), through a FaultProxy that
// cuts, resets and blackholes the link; the server is also restarted
// gracefully once (SIGTERM -> 1001 or 1012) and killed once (SIGKILL).
//
// What must hold:
//  - While a session resumes: every server msg delivered once and in order.
//    The echoes of one session carry n = previous + 1 (the client sends
//    0, 1, 2, ... from one thread), the pushes k = previous + 1 from 1.
//  - Only the restart and the kill lose the session (new server process):
//    on_session_lost twice, and no client message is lost: every one is
//    acked exactly once, none fails, every n comes back at least once
//    (a message the old server had echoed but not acked is re-sent, so
//    its echo may come twice, once per session).
//
// Timing: faults are injected at fixed points of progress (distinct echoes
// received), each after the client is ready again, so they interleave with
// traffic whatever the speed of the machine.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>

#include "client_test_support.hpp"
#include "fault_proxy/fault_proxy.hpp"

namespace tether::itest {
namespace {

using testing::FaultProxy;

constexpr std::size_t kMessages = 10000;
constexpr std::size_t kWindow = 400; // unacked messages the sender allows itself

enum class Fault { cut, reset, blackhole, restart, kill };

const char* fault_name(Fault f) {
    switch (f) {
    case Fault::cut: return "cut";
    case Fault::reset: return "reset";
    case Fault::blackhole: return "blackhole";
    case Fault::restart: return "restart";
    case Fault::kill: return "kill";
    }
    return "?";
}

// What the message/state hooks keep, under the recorder's lock.
struct Ledger {
    int segment = 0;                             // session losses so far
    std::map<int, std::uint64_t> last_echo;      // per segment: last n echoed
    std::map<int, std::uint64_t> last_push;      // per segment: last k pushed
    std::vector<std::uint32_t> echo_count = std::vector<std::uint32_t>(kMessages, 0);
    std::size_t echo_distinct = 0;
    std::size_t echoes = 0;
    std::size_t pushes = 0;
    std::vector<std::string> violations;

    // "Settled": since the latest ready, an echo arrived for a message whose
    // send() started after that ready, so it was never on an earlier
    // connection: the server processed it after the welcome and after the
    // replay that follows the welcome, and this connection delivered all of
    // that, in order, before it. At that point every message the client has
    // seen acked has also been seen echoed, so a kill cannot orphan an echo
    // of an acked message (such echoes are server msgs: lost with the session).
    std::uint64_t ready_gen = 0;
    std::size_t settle_from = 0;
    std::uint64_t settled_gen = 0;

    void violation(std::string what) {
        if (violations.size() < 20) violations.push_back(std::move(what));
    }

    void on_message(const Message& m) {
        const nlohmann::json& d = m.data;
        if (d.is_object() && d.contains("echo")) {
            const nlohmann::json& e = d.at("echo");
            if (!e.is_object() || !e.contains("n") || !e.at("n").is_number_unsigned()) {
                violation("malformed echo " + d.dump());
                return;
            }
            const auto n = e.at("n").get<std::uint64_t>();
            if (n >= kMessages) {
                violation("echo n out of range " + std::to_string(n));
                return;
            }
            auto [it, first] = last_echo.emplace(segment, n);
            if (!first) {
                if (n != it->second + 1)
                    violation("segment " + std::to_string(segment) + ": echo n " + std::to_string(n) + " after " +
                              std::to_string(it->second));
                it->second = n;
            }
            if (echo_count[n]++ == 0) ++echo_distinct;
            ++echoes;
            if (n >= settle_from) settled_gen = ready_gen;
        } else if (d.is_object() && d.contains("push")) {
            const auto k = d.at("push").get<std::uint64_t>();
            const std::uint64_t expect = last_push.count(segment) ? last_push[segment] + 1 : 1;
            if (k != expect)
                violation("segment " + std::to_string(segment) + ": push k " + std::to_string(k) + ", expected " +
                          std::to_string(expect));
            last_push[segment] = k;
            ++pushes;
        } else {
            violation("unexpected message " + d.dump());
        }
    }
};

TEST(ClientChaos, TenThousandEachWayThroughFaultsRestartAndKill) {
    const std::vector<std::string> server_args = {"--echo", "--push-interval-ms", "20", "--heartbeat-ms", "250",
                                                  "--session-ttl-ms", "30000"};
    auto server = std::make_unique<ServerProcess>(server_args);
    FaultProxy proxy("127.0.0.1", server->port());

    Recorder rec;
    Ledger ledger;
    std::atomic<std::size_t> started{0}; // send() calls begun
    rec.keep_messages = false;
    rec.on_message_hook = [&ledger](const Message& m) { ledger.on_message(m); };
    rec.on_lost_hook = [&ledger](const SessionLostInfo&) { ++ledger.segment; };
    rec.on_state_hook = [&ledger, &started](const StateChange& c) {
        if (c.to != State::ready) return;
        ++ledger.ready_gen;
        ledger.settle_from = started.load();
    };

    ClientOptions o = test_options("ws://127.0.0.1:" + std::to_string(proxy.port()) + "/ws", rec);
    Client client(o);
    const auto t0 = Clock::now();
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    const std::string first_session = client.session_id();

    const std::vector<Fault> plan = {
        Fault::cut,   Fault::reset, Fault::blackhole, Fault::cut,   Fault::reset, Fault::cut,
        Fault::reset, Fault::blackhole, Fault::restart, Fault::cut, Fault::reset, Fault::blackhole,
        Fault::cut,   Fault::reset, Fault::cut,   Fault::kill,  Fault::reset, Fault::cut,
        Fault::blackhole, Fault::reset, Fault::cut, Fault::reset, Fault::cut, Fault::reset,
    };
    std::map<Fault, int> injected;
    std::size_t lost_expected = 0;
    const std::size_t step = kMessages / (plan.size() + 2);
    // The sender stays within kWindow of the next fault's point of progress
    // (raised as each fault heals): however fast the server, or however long
    // a graceful restart lets traffic flow while it drains, messages are left
    // to send after every fault, so a kill always finds a message to settle on.
    std::atomic<std::size_t> send_cap{step + kWindow};

    // The sender: n = 0 .. 9999 in order from this one thread, at most
    // kWindow unacked at a time, and below send_cap.
    std::vector<MessageId> ids(kMessages, 0);
    std::atomic<bool> sender_ok{true};
    std::atomic<bool> stop{false};
    std::string sender_error;
    std::thread sender([&] {
        for (std::size_t n = 0; n < kMessages; ++n) {
            const bool room = rec.wait_for(milliseconds(30000), [n, &stop, &send_cap](const Recorder& r) {
                return stop || (r.acked_set.size() + kWindow > n && n < send_cap.load());
            });
            if (stop) return;
            if (!room) {
                sender_error = "no ack progress for 30 s at n=" + std::to_string(n);
                sender_ok = false;
                return;
            }
            started.store(n + 1);
            const SendResult res = client.send(nlohmann::json{{"n", n}});
            if (!res) {
                sender_error = "send " + std::to_string(n) + ": " + res.error.message() + " " + res.detail;
                sender_ok = false;
                return;
            }
            ids[n] = res.id;
        }
    });
    // A failed ASSERT returns early: stop and join the sender first.
    struct Joiner {
        std::thread& t;
        std::atomic<bool>& stop;
        const Recorder& rec;
        ~Joiner() {
            stop = true;
            rec.notify();
            if (t.joinable()) t.join();
        }
    } joiner{sender, stop, rec};

    auto settled = [](const Recorder& r, const Ledger& l) {
        return r.state == State::ready && l.settled_gen == l.ready_gen;
    };

    for (std::size_t i = 0; i < plan.size(); ++i) {
        const Fault f = plan[i];
        const std::size_t threshold = (i + 1) * step;
        ASSERT_TRUE(rec.wait_for(milliseconds(30000), [&](const Recorder& r) {
            return r.state == State::ready && ledger.echo_distinct >= threshold;
        })) << "fault " << i << ": no progress to " << threshold << " echoes\n" << rec.summary() << rec.log_tail();

        const std::uint64_t ready_before = rec.with_lock([](const Recorder& r) { return r.ready_count; });
        const std::size_t states_before = rec.with_lock([](const Recorder& r) { return r.states.size(); });
        const std::size_t hb_before = rec.with_lock([](const Recorder& r) { return r.count_errors(errc::heartbeat_timeout); });
        switch (f) {
        case Fault::cut: proxy.cut_all(); break;
        case Fault::reset: proxy.reset_all(); break;
        case Fault::blackhole:
            proxy.set_mode(FaultProxy::Mode::blackhole);
            // Only the client's liveness deadline can notice a silent link.
            ASSERT_TRUE(rec.wait_for(milliseconds(5000), [hb_before](const Recorder& r) {
                return r.count_errors(errc::heartbeat_timeout) > hb_before;
            })) << "blackhole not detected\n" << rec.summary() << rec.log_tail();
            proxy.set_mode(FaultProxy::Mode::pass);
            break;
        case Fault::restart: {
            ASSERT_TRUE(rec.wait_for(milliseconds(10000), [&](const Recorder& r) { return settled(r, ledger); }))
                << rec.summary() << rec.log_tail();
            const auto status = server->terminate(scaled(milliseconds(10000)));
            EXPECT_EQ(status, std::optional<int>(0)) << server_path() << " did not exit cleanly on SIGTERM";
            server = std::make_unique<ServerProcess>(server_args);
            proxy.set_upstream("127.0.0.1", server->port());
            ++lost_expected;
            break;
        }
        case Fault::kill: {
            // A server may ack a message before its echo is out (tether-gin-
            // server acks from its read pump), so "settled" does not mean that
            // every acked message was echoed; a kill then would lose echoes the
            // protocol lets it lose. So: stop the sender and wait until all it
            // sent is acked and echoed; then, through a blackholed link, send
            // kInFlight more that the server never sees, and kill it. Those are
            // re-sent in the new session.
            constexpr std::size_t kInFlight = 50;
            send_cap = started.load();
            ASSERT_TRUE(rec.wait_for(milliseconds(10000), [&](const Recorder& r) {
                return r.acked_set.size() == started.load() && ledger.echo_distinct >= started.load();
            })) << "no quiet point before the kill\n" << rec.summary() << rec.log_tail();
            proxy.set_mode(FaultProxy::Mode::blackhole);
            const std::size_t in_flight_to = started.load() + kInFlight;
            send_cap = in_flight_to;
            rec.notify();
            const auto sent_by = Clock::now() + scaled(milliseconds(5000));
            while (started.load() < in_flight_to && Clock::now() < sent_by)
                rec.wait_for(milliseconds(5), [](const Recorder&) { return false; });
            ASSERT_EQ(started.load(), in_flight_to) << "the sender did not send into the black hole";
            server->kill();
            server = std::make_unique<ServerProcess>(server_args);
            proxy.set_upstream("127.0.0.1", server->port());
            proxy.set_mode(FaultProxy::Mode::pass);
            ++lost_expected;
            break;
        }
        }
        ++injected[f];
        ASSERT_TRUE(rec.wait_for(milliseconds(15000), [&](const Recorder& r) {
            return r.state == State::ready && r.ready_count > ready_before && r.lost.size() == lost_expected;
        })) << "no recovery after fault " << i << " (" << fault_name(f) << ")\n"
            << rec.summary() << rec.log_tail();
        send_cap = i + 1 == plan.size() ? kMessages : std::min(kMessages, (i + 2) * step + kWindow);
        rec.notify();
        if (f == Fault::restart) {
            // The graceful stop reached the client as close 1001/1012: a going-away
            // (short delay, not a failure), not a dropped connection.
            rec.with_lock([states_before](const Recorder& r) {
                const StateChange& left = r.states.at(states_before).change;
                EXPECT_EQ(left.from, State::ready);
                EXPECT_EQ(left.to, State::backoff);
                EXPECT_EQ(left.reason, errc::going_away) << left.reason.message() << ": " << left.detail;
            });
        }
    }

    sender.join();
    ASSERT_TRUE(sender_ok) << sender_error;
    const bool complete = rec.wait_for(milliseconds(30000), [&](const Recorder& r) {
        return r.acked_set.size() + r.failed.size() >= kMessages && ledger.echo_distinct == kMessages;
    });
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const Stats st = client.stats();
    EXPECT_TRUE(complete) << rec.summary() << rec.log_tail();

    rec.with_lock([&](const Recorder& r) {
        for (const auto& v : ledger.violations) ADD_FAILURE() << v;
        EXPECT_TRUE(r.failed.empty()) << r.failed.size() << " messages failed";
        EXPECT_EQ(r.acked_duplicates, 0u);
        EXPECT_EQ(r.acked_set.size(), kMessages);
        for (std::size_t n = 0; n < kMessages; ++n) {
            if (r.acked_set.count(ids[n]) == 0) {
                ADD_FAILURE() << "message n=" << n << " (id " << ids[n] << ") never acked";
                break;
            }
        }
        std::size_t missing = 0, twice = 0;
        for (std::size_t n = 0; n < kMessages; ++n) {
            if (ledger.echo_count[n] == 0) ++missing;
            if (ledger.echo_count[n] > 1) ++twice;
            // One echo per session at most: 3 sessions.
            EXPECT_LE(ledger.echo_count[n], 3u) << "n=" << n;
        }
        EXPECT_EQ(missing, 0u) << "client messages never echoed";
        EXPECT_EQ(r.lost.size(), 2u);
        if (r.lost.size() == 2) {
            EXPECT_EQ(r.lost[0].previous_session, first_session);
            EXPECT_NE(r.lost[0].new_session, first_session);
            EXPECT_EQ(r.lost[1].previous_session, r.lost[0].new_session);
        }
        EXPECT_GT(ledger.pushes, 0u);
        std::printf("[chaos] messages=%zu each way (client->server acked=%zu; server->client echoes=%zu "
                    "[%zu distinct, %zu twice], pushes=%zu) faults=%zu (cut=%d reset=%d blackhole=%d restart=%d "
                    "kill=%d) reconnects=%llu resumes=%llu sessions_lost=%llu frames_resent=%llu "
                    "duplicates_dropped=%llu connect_attempts=%llu elapsed=%.1fs\n",
                    kMessages, r.acked_set.size(), ledger.echoes, ledger.echo_distinct, twice, ledger.pushes,
                    plan.size(), injected[Fault::cut], injected[Fault::reset], injected[Fault::blackhole],
                    injected[Fault::restart], injected[Fault::kill],
                    static_cast<unsigned long long>(st.reconnects), static_cast<unsigned long long>(st.resumes),
                    static_cast<unsigned long long>(st.sessions_lost),
                    static_cast<unsigned long long>(st.frames_resent),
                    static_cast<unsigned long long>(st.duplicates_dropped),
                    static_cast<unsigned long long>(st.connect_attempts), elapsed);
        std::fflush(stdout);
    });

    EXPECT_EQ(st.sessions_lost, 2u);
    EXPECT_EQ(st.protocol_errors, 0u);
    // Every fault but the restart and the kill is healed by a resume.
    const auto lossless = static_cast<std::uint64_t>(injected[Fault::cut] + injected[Fault::reset] +
                                                     injected[Fault::blackhole]);
    EXPECT_GE(st.resumes, lossless);
    EXPECT_GE(st.reconnects, static_cast<std::uint64_t>(plan.size()));
    EXPECT_EQ(st.messages_acked, kMessages);
    EXPECT_EQ(st.messages_failed, 0u);

    ASSERT_FALSE(client.close());
    EXPECT_EQ(client.wait_until_terminal(scaled(milliseconds(5000))), State::closed);
}

} // namespace
} // namespace tether::itest
