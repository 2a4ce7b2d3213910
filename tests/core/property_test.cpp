// Randomized property test: the real Session against an in-memory tether.v1
// server model, over a simulated network, on virtual time.
//
// The server model below is an oracle written from docs/protocol.md, not from
// the samples: sessions with a rotating resume_token, receiver rules (deliver
// seq == last + 1, duplicate seq <= last is acked again, a gap is a bug), a
// replay buffer trimmed by the client's acks, randomly batched cumulative
// acks, resume (resumed:true, last_seq, re-send > hello.resume.last_seq),
// resumed:false for an unknown session, and takeover. It speaks to the
// Session only through the real codec. Per seed it may also have legal
// quirks: re-sending from further back than hello.resume.last_seq on a
// resume (duplicates right after welcome), and stale cumulative acks.
//
// The network keeps each direction of a connection in order (WebSocket over
// TCP) with random delays, and injects faults chosen by a seeded RNG:
//   drop        the connection resets; both ends learn it after a delay
//   blackhole   half-open: everything is silently lost both ways, nobody is
//               told; only the client's liveness deadline ends it
//   duplicate   the server re-sends a msg it already sent on this connection
//   takeover    the application calls reconnect_now() and the abort never
//               reaches the server, so the resume takes the session over
//   going away  the server closes with 1000 (no bye) / 1001 / 1012 / 1011
//   restart     the server loses every session (and is down for a while);
//               its connections get 1012 or a reset
//   busy        error server_busy / rate_limited / unknown code, maybe with
//               retry_after_ms, then close 1013
//   unknown     a frame of a type tether.v1 does not know
//   refused     connect refused, or HTTP 503/429 (maybe with Retry-After)
// plus a token provider in some seeds (sometimes answering after the connect
// timeout), and production default timings in ~15% of seeds.
//
// Properties, per seed:
//   * no session lost: every message reached the other side exactly once,
//     in order (both directions);
//   * a session lost (only possible after a restart): SessionLost was
//     reported; with policy resend every client message was delivered at
//     least once, in order of first delivery, increasing within each server
//     session; with policy fail each unacked message failed exactly once
//     with session_lost, right after SessionLost, and was never re-sent;
//   * every message gets exactly one of MessageAcked / MessageFailed, an ack
//     only ever for a message the server really delivered and after its
//     MessageSent, and no MessageSent after either;
//   * the session converges to ready within bounded virtual time once the
//     faults stop, then closes gracefully (bye, 1000) to closed;
//   * ~25% of seeds instead call close() at a random time while the faults
//     go on: the session still reaches closed, and every message is acked
//     (delivered) or failed with `closed` exactly once;
//   * the loop is bounded (no livelock, no due timer that makes no progress),
//     no protocol error is ever reported (the server model is correct), and
//     the driver needs no bookkeeping: every connection the session abandons
//     is aborted, and every input on a live connection is accepted.
//
// Seeds: 4,000 with policy resend and 1,000 with policy fail by default.
//   TETHER_PROPERTY_SEEDS=N   run N seeds per variant instead
//   TETHER_PROPERTY_SEED=S    replay only seed S (both variants)
//   TETHER_PROPERTY_TRACE=1   print every step (use with a single seed)
//   TETHER_PROPERTY_LINGER=1  frames the client sent before an abort still
//                             arrive (the reset follows them in order). It
//                             found a protocol race: a delayed resume hello
//                             from an aborted connection, accepted under the
//                             §4.4 token grace, took the session over from the
//                             live one (4009 -> closed; seed 2681). Fixed by
//                             hello.resume.attempt (§5), which the model checks:
//                             5,000 seeds pass with policy resend. With policy
//                             fail, seed 3708 still fails: two refused resumes
//                             after a restart leave the model an orphan session
//                             whose msgs nobody can receive (a model limit).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/codec.hpp"
#include "core/session.hpp"
#include "test_support.hpp"

namespace {

using tether::errc;
using tether::SessionLostPolicy;
using tether::core::Ack;
using tether::core::AbortTransport;
using tether::core::Action;
using tether::core::Bye;
using tether::core::ClientFrame;
using tether::core::ClientMsg;
using tether::core::CloseInfo;
using tether::core::CloseTransport;
using tether::core::ConnectionId;
using tether::core::decode_client_frame;
using tether::core::decode_server_frame;
using tether::core::Duration;
using tether::core::ErrorEvent;
using tether::core::ErrorFrame;
using tether::core::FetchToken;
using tether::core::Hello;
using tether::core::MessageAcked;
using tether::core::MessageSent;
using tether::core::MessageFailed;
using tether::core::MessageId;
using tether::core::MessageReceived;
using tether::core::OpenTransport;
using tether::core::SendPing;
using tether::core::SendText;
using tether::core::ServerMsg;
using tether::core::Session;
using tether::core::SessionConfig;
using tether::core::SessionLost;
using tether::core::SessionResumed;
using tether::core::SplitMix64;
using tether::core::State;
using tether::core::StateChanged;
using tether::core::TimePoint;
using tether::core::Welcome;
using tether::core::uniform_inclusive;

// ---- dice: the test's own seeded randomness ---------------------------------
class Dice {
public:
    explicit Dice(std::uint64_t seed) : g_(seed) {}
    std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + uniform_inclusive(g_, hi - lo); }
    std::int64_t between_i(std::int64_t lo, std::int64_t hi) {
        return lo + static_cast<std::int64_t>(uniform_inclusive(g_, static_cast<std::uint64_t>(hi - lo)));
    }
    Duration ms(std::int64_t lo, std::int64_t hi) { return Duration(between_i(lo, hi)); }
    // true with probability per_mille / 1000
    bool chance(std::uint64_t per_mille) { return uniform_inclusive(g_, 999) < per_mille; }
    std::size_t pick(std::size_t n) { return static_cast<std::size_t>(uniform_inclusive(g_, n - 1)); }

private:
    SplitMix64 g_;
};

std::int64_t to_ms(Duration d) { return static_cast<std::int64_t>(d.count()); }

// ---- aggregate counters (printed once, to show the faults really happen) ----
struct Totals {
    std::uint64_t seeds = 0, iterations = 0, virtual_ms = 0, c2s = 0, s2c = 0;
    std::uint64_t drops = 0, blackholes = 0, duplicates = 0, takeovers = 0, reconnect_now = 0;
    std::uint64_t going_away = 0, restarts = 0, busy = 0, unknown = 0, refused = 0;
    std::uint64_t resumes = 0, sessions_lost = 0, failed_msgs = 0, c2s_redelivered = 0, heartbeat_kills = 0;
    std::uint64_t early_closes = 0, early_closes_with_bye = 0, default_timing = 0;

    void add(const Totals& o) {
        seeds += o.seeds; iterations += o.iterations; virtual_ms += o.virtual_ms; c2s += o.c2s; s2c += o.s2c;
        drops += o.drops; blackholes += o.blackholes; duplicates += o.duplicates; takeovers += o.takeovers;
        reconnect_now += o.reconnect_now; going_away += o.going_away; restarts += o.restarts; busy += o.busy;
        unknown += o.unknown; refused += o.refused; resumes += o.resumes; sessions_lost += o.sessions_lost;
        failed_msgs += o.failed_msgs; c2s_redelivered += o.c2s_redelivered; heartbeat_kills += o.heartbeat_kills;
        early_closes += o.early_closes; early_closes_with_bye += o.early_closes_with_bye;
        default_timing += o.default_timing;
    }
    std::string summary() const {
        std::ostringstream os;
        os << seeds << " seeds, " << iterations << " loop iterations, " << virtual_ms / 1000 << " s virtual; msgs c2s "
           << c2s << " s2c " << s2c << "; faults: drops " << drops << ", blackholes " << blackholes << ", dup msgs "
           << duplicates << ", takeovers " << takeovers << " (reconnect_now " << reconnect_now << "), going away "
           << going_away << ", restarts " << restarts << ", busy " << busy << ", unknown frames " << unknown
           << ", refused connects " << refused << "; heartbeat kills " << heartbeat_kills << ", resumes " << resumes
           << ", sessions lost " << sessions_lost << ", c2s redelivered " << c2s_redelivered << ", msgs failed "
           << failed_msgs << "; early closes " << early_closes << " (" << early_closes_with_bye
           << " with bye); default timing " << default_timing;
        return os.str();
    }
};

struct Outcome {
    bool ok = true;
    std::string failure;
    Totals totals;
};

// ---- the simulation -----------------------------------------------------------
class Simulation {
public:
    Simulation(std::uint64_t seed, SessionLostPolicy policy, bool trace, bool linger)
        : seed_(seed), policy_(policy), trace_(trace), linger_(linger), dice_(seed * 0x9e3779b97f4a7c15ULL + 17),
          session_rng_(seed ^ 0x5eed5eed5eed5eedULL), session_(make_config(), session_rng_) {}

    Outcome run();

private:
    enum class Net : std::uint8_t {
        open_result, token_answer,
        c2s_text, c2s_ping, c2s_close, c2s_gone,
        s2c_text, s2c_pong, s2c_close, s2c_gone,
        server_ack_timer, client_app, server_app, fault,
    };
    struct NetEvent {
        TimePoint at;
        std::uint64_t order = 0;
        Net kind = Net::fault;
        ConnectionId conn = 0;
        std::string text;
        std::uint16_t code = 0;
        std::uint64_t dup_seq = 0; // s2c_text: an injected duplicate of this seq
    };
    struct Later {
        bool operator()(const NetEvent& a, const NetEvent& b) const {
            return a.at != b.at ? a.at > b.at : a.order > b.order;
        }
    };

    struct Conn {
        ConnectionId id = 0;
        bool cut = false;          // reset: everything in flight is lost
        bool blackholed = false;   // silently drops everything; nobody is told
        bool lose_abort = false;   // the client's abort never reaches the server
        bool c2s_dead = false;     // the client aborted: its unsent bytes are gone
        TimePoint c2s_tail{}, s2c_tail{};
        // client side
        bool client_open = true;   // not aborted by the client, not reported closed to it
        bool client_closing = false;
        bool opened = false;
        // server side
        bool server_open = false;
        bool got_hello = false;
        std::string session;
        std::uint64_t sent_upto = 0;       // highest server seq sent on this connection
        std::uint64_t acked_to_client = 0; // highest client seq acked on this connection
        std::uint64_t resume_last = 0;     // hello.resume.last_seq: the client holds up to here
        std::uint32_t unacked = 0;
        bool ack_timer = false;
    };

    struct SrvSession {
        std::string id;
        std::size_t index = 0;
        std::string token, prev_token;
        std::uint64_t attached_attempt = 0; // hello.resume.attempt of the last resume
        std::uint64_t last_client_seq = 0; // receiver: highest client seq delivered
        std::vector<std::uint64_t> out;    // out[seq - 1] = n of the server msg
        std::uint64_t client_acked = 0;    // replay floor
        ConnectionId conn = 0;
        bool confirmed = false;            // the client is known to have its welcome
    };

    enum class Phase { running, closing };
    enum class Profile { calm, no_restart, full };

    SessionConfig make_config();

    // plumbing
    void schedule(Net kind, TimePoint at, ConnectionId conn = 0, std::string text = {}, std::uint16_t code = 0,
                  std::uint64_t dup_seq = 0);
    NetEvent pop();
    Duration net_delay();
    TimePoint fifo(TimePoint& tail) {
        const TimePoint t = std::max(tail, now_ + net_delay());
        tail = t;
        return t;
    }
    void fail(const std::string& what);
    void trace(const std::string& what) const;
    std::int64_t vms() const { return to_ms(std::chrono::duration_cast<Duration>(now_ - start_)); }
    Conn* conn(ConnectionId id) {
        auto it = conns_.find(id);
        return it == conns_.end() ? nullptr : &it->second;
    }
    void expect_ok(std::error_code ec, const char* what);

    // driver
    void drain();
    void on_action(Action&& a);
    void on_session_event(tether::core::Event&& e);
    void process(NetEvent&& e);
    bool converged() const;
    void finish();

    // server model
    SrvSession* attached(Conn& c);
    void server_text(Conn& c, const std::string& text);
    void server_hello(Conn& c, Hello&& h);
    void server_msg(Conn& c, SrvSession& s, ClientMsg&& m);
    void server_ack(Conn& c, bool force);
    void server_send(Conn& c, std::string text, std::uint64_t dup_seq = 0);
    void server_close(Conn& c, std::uint16_t code);
    void server_detach(Conn& c);
    void server_pump();
    void server_send_new(SrvSession& s);
    void confirm(SrvSession& s);
    std::string new_token() { return "rt-" + std::to_string(++tokens_) + "-" + std::to_string(seed_ % 9973); }

    // faults
    void fault();
    Conn* client_conn();

    // ---- scenario
    std::uint64_t seed_;
    SessionLostPolicy policy_;
    bool trace_;
    bool linger_;
    Dice dice_;
    SplitMix64 session_rng_;
    Profile profile_ = Profile::full;
    std::int64_t net_max_ms_ = 20;
    std::uint64_t spike_per_mille_ = 5;
    std::uint64_t nc_ = 0, ns_ = 0;           // messages per side
    std::int64_t active_ms_ = 0;              // apps send and faults happen in [0, active_ms_)
    std::int64_t fault_gap_ms_ = 1000;
    std::uint32_t server_ack_every_ = 8;
    std::int64_t server_ack_delay_ms_ = 30;
    std::optional<std::uint64_t> server_heartbeat_ms_;
    std::string subprotocol_reply_ = "tether.v1";
    bool quirk_resend_extra_ = false;
    bool quirk_stale_acks_ = false;
    bool default_timing_ = false;             // production timeouts (15 s heartbeat, 10 s connect, ...)
    std::optional<std::int64_t> close_at_ms_; // early close under faults (else: close once converged)
    Duration drain_{5000};
    Session session_;

    // ---- simulation state
    tether::test::FakeClock clock_;
    TimePoint& now_ = clock_.now;
    TimePoint start_ = clock_.now;
    TimePoint fault_end_{}, deadline_{};
    std::vector<NetEvent> queue_; // a heap ordered by Later
    std::uint64_t order_ = 0;
    std::map<ConnectionId, Conn> conns_;
    ConnectionId last_conn_ = 0;
    Phase phase_ = Phase::running;
    bool failed_ = false;
    std::string failure_;
    std::uint64_t iterations_ = 0;
    int idle_timeouts_ = 0;
    std::optional<std::uint64_t> expect_reack_;
    Totals totals_;

    // ---- server model state
    std::map<std::string, SrvSession> sessions_;
    std::string current_;                      // where the server app sends
    std::size_t session_count_ = 0;
    std::uint64_t tokens_ = 0;
    TimePoint server_down_until_{};
    std::vector<std::uint64_t> server_pending_; // app msgs waiting for a confirmed session
    std::uint64_t server_generated_ = 0;
    std::vector<std::size_t> pushed_into_;     // n -> session index it was queued in
    std::vector<bool> session_lost_;           // session index -> lost in a restart
    bool bye_received_ = false;
    // what the server application received from the client
    std::vector<std::uint64_t> delivered_;         // n, in delivery order (all sessions)
    std::vector<std::uint32_t> delivered_count_;   // per n
    std::uint64_t first_deliveries_ = 0;
    std::optional<std::uint64_t> last_first_;
    std::map<std::size_t, std::uint64_t> last_n_in_session_;
    std::vector<std::string> id_of_n_;

    // ---- client application state
    std::uint64_t client_sent_ = 0;
    std::vector<MessageId> local_ids_;             // n -> MessageId
    std::map<MessageId, std::uint64_t> n_of_local_;
    std::vector<std::uint32_t> acked_count_, failed_count_, sent_count_;
    std::vector<std::uint64_t> received_;          // n of MessageReceived, in order
    std::uint64_t expected_seq_ = 1;
    State last_state_ = State::idle;
    bool in_lost_batch_ = false;
    std::size_t lost_batch_failed_ = 0, lost_batch_expected_ = 0;
    std::uint64_t lost_events_ = 0, acked_events_ = 0, received_events_ = 0;
    bool closed_cleanly_ = false;
    bool close_called_ = false;
    std::vector<bool> rejected_; // n refused by send() because close() was already called
};

SessionConfig Simulation::make_config() {
    // Scenario knobs first (the Session is constructed from this config).
    const std::uint64_t p = dice_.between(0, 99);
    profile_ = p < 10 ? Profile::calm : (p < (policy_ == SessionLostPolicy::fail ? 20 : 50) ? Profile::no_restart
                                                                                           : Profile::full);
    net_max_ms_ = dice_.between_i(1, 80);
    spike_per_mille_ = dice_.between(0, 10);
    nc_ = dice_.between(50, 300);
    ns_ = dice_.between(50, 300);
    active_ms_ = dice_.between_i(2000, 20000);
    fault_gap_ms_ = dice_.between_i(300, 3000);
    server_ack_every_ = static_cast<std::uint32_t>(dice_.between(1, 40));
    server_ack_delay_ms_ = dice_.between_i(0, 100);
    if (dice_.chance(500)) server_heartbeat_ms_ = dice_.between(100, 2000); // < 250 is clamped by the client
    // Legal server quirks: on resume re-send from further back than
    // hello.resume.last_seq (the client drops those as duplicates and acks
    // again), and send stale cumulative acks (no-ops for the client).
    quirk_resend_extra_ = dice_.chance(200);
    quirk_stale_acks_ = dice_.chance(200);
    subprotocol_reply_ = dice_.chance(500) ? "tether.v1" : ""; // many servers never select one
    if (dice_.chance(250)) {
        close_at_ms_ = dice_.between_i(active_ms_ / 3, active_ms_ + 2000);
        drain_ = dice_.ms(0, 5000);
    }

    SessionConfig c;
    c.url = "ws://model.test/ws";
    c.on_session_lost = policy_;
    c.report_sent = true;
    if (dice_.chance(150)) {
        default_timing_ = true; // every timing left at its production default
        return c;
    }
    c.heartbeat.interval = dice_.ms(300, 2000);
    if (dice_.chance(300)) c.heartbeat.timeout = c.heartbeat.interval * 3;
    c.backoff.base = dice_.ms(20, 300);
    c.backoff.max = c.backoff.base + dice_.ms(500, 4000);
    c.backoff.stable_after = dice_.ms(200, 5000);
    if (dice_.chance(500)) c.outbox.max_in_flight = dice_.between(1, 64);
    c.inbox.ack_every = static_cast<std::uint32_t>(dice_.between(1, 40));
    c.inbox.ack_delay = dice_.ms(0, 100);
    c.connect_timeout = dice_.ms(100, 3000);
    c.hello_timeout = dice_.ms(150, 3000);
    c.close_timeout = Duration(2000);
    if (dice_.chance(300)) c.has_token_provider = true;
    else if (dice_.chance(500)) c.token = "static-token";
    if (dice_.chance(500)) c.client_info = tether::core::ClientInfo{"property-test", "1"};
    return c;
}

void Simulation::fail(const std::string& what) {
    if (failed_) return;
    failed_ = true;
    failure_ = "t=" + std::to_string(vms()) + "ms state=" + to_string(session_.state()) + ": " + what;
}

void Simulation::trace(const std::string& what) const {
    if (trace_) std::fprintf(stderr, "[%7lld ms] %s\n", static_cast<long long>(vms()), what.c_str());
}

void Simulation::expect_ok(std::error_code ec, const char* what) {
    if (ec) fail(std::string(what) + " returned " + ec.message());
}

void Simulation::schedule(Net kind, TimePoint at, ConnectionId conn, std::string text, std::uint16_t code,
                          std::uint64_t dup_seq) {
    NetEvent e;
    e.at = at;
    e.order = order_++;
    e.kind = kind;
    e.conn = conn;
    e.text = std::move(text);
    e.code = code;
    e.dup_seq = dup_seq;
    queue_.push_back(std::move(e));
    std::push_heap(queue_.begin(), queue_.end(), Later{});
}

Simulation::NetEvent Simulation::pop() {
    std::pop_heap(queue_.begin(), queue_.end(), Later{});
    NetEvent e = std::move(queue_.back());
    queue_.pop_back();
    return e;
}

Duration Simulation::net_delay() {
    Duration d = dice_.ms(0, net_max_ms_);
    if (dice_.chance(spike_per_mille_)) d += dice_.ms(100, 400);
    return d;
}

Simulation::Conn* Simulation::client_conn() {
    Conn* c = conn(session_.connection());
    if (c == nullptr || !c->client_open || c->cut || c->blackholed) return nullptr;
    return c;
}

// ---- the run -------------------------------------------------------------------

Outcome Simulation::run() {
    totals_.seeds = 1;
    fault_end_ = now_ + Duration(active_ms_);
    deadline_ = fault_end_ + Duration(default_timing_ ? 300000 : 120000);
    acked_count_.assign(nc_, 0);
    sent_count_.assign(nc_, 0);
    failed_count_.assign(nc_, 0);
    delivered_count_.assign(nc_, 0);
    id_of_n_.assign(nc_, std::string());
    pushed_into_.assign(ns_, SIZE_MAX);
    rejected_.assign(nc_, false);

    expect_ok(session_.start(now_), "start()");
    schedule(Net::client_app, now_ + dice_.ms(0, active_ms_ / static_cast<std::int64_t>(nc_)));
    schedule(Net::server_app, now_ + dice_.ms(0, active_ms_ / static_cast<std::int64_t>(ns_)));
    if (profile_ != Profile::calm) schedule(Net::fault, now_ + dice_.ms(0, fault_gap_ms_));
    drain();

    constexpr std::uint64_t kMaxIterations = 400000;
    while (!failed_) {
        if (++iterations_ > kMaxIterations) {
            fail("livelock: more than " + std::to_string(kMaxIterations) + " loop iterations");
            break;
        }
        if (phase_ == Phase::running && (close_at_ms_ ? vms() >= *close_at_ms_ : converged())) {
            trace(close_at_ms_ ? "early close, faults go on" : "converged: closing");
            phase_ = Phase::closing;
            close_called_ = true;
            expect_ok(session_.close(now_, close_at_ms_ ? drain_ : Duration(5000)), "close()");
            drain();
            continue;
        }
        if (phase_ == Phase::closing && session_.state() == State::closed) break;
        if (session_.state() == State::closed || session_.state() == State::failed) {
            fail(std::string("terminal state ") + to_string(session_.state()) + " before the graceful close");
            break;
        }
        const std::optional<TimePoint> timer = session_.poll_timeout();
        const std::optional<TimePoint> net = queue_.empty() ? std::nullopt : std::optional<TimePoint>(queue_.front().at);
        if (!timer && !net) {
            fail("stuck: no session timer and nothing in flight");
            break;
        }
        TimePoint next = timer && net ? std::min(*timer, *net) : (timer ? *timer : *net);
        if (next > now_) now_ = next;
        if (now_ > deadline_) {
            fail("did not converge within the bound of virtual time after the faults stopped (outbox " +
                 std::to_string(session_.outbox_size()) + ", client sent " + std::to_string(client_sent_) + "/" +
                 std::to_string(nc_) + ")");
            break;
        }
        const bool timer_due = timer && *timer <= now_;
        const bool net_due = net && *net <= now_;
        if (timer_due && (!net_due || dice_.chance(500))) {
            session_.on_timeout(now_);
            const auto again = session_.poll_timeout();
            if (!session_.has_output() && again && *again <= now_) {
                if (++idle_timeouts_ >= 2) {
                    fail("on_timeout() at a due deadline made no progress (poll_timeout stays <= now)");
                    break;
                }
            } else {
                idle_timeouts_ = 0;
            }
        } else {
            process(pop());
        }
        drain();
    }
    if (!failed_) finish();

    totals_.iterations = iterations_;
    totals_.virtual_ms = static_cast<std::uint64_t>(vms());
    totals_.c2s = nc_;
    totals_.s2c = ns_;
    const auto st = session_.stats();
    totals_.resumes = st.resumes;
    totals_.sessions_lost = st.sessions_lost;
    totals_.failed_msgs = st.messages_failed;
    totals_.default_timing = default_timing_ ? 1 : 0;
    totals_.early_closes = close_at_ms_ ? 1 : 0;
    totals_.early_closes_with_bye = close_at_ms_ && bye_received_ ? 1 : 0;
    Outcome out;
    out.ok = !failed_;
    out.failure = failure_;
    out.totals = totals_;
    return out;
}

bool Simulation::converged() const {
    if (now_ < fault_end_) return false;
    if (client_sent_ < nc_ || server_generated_ < ns_ || !server_pending_.empty()) return false;
    if (session_.state() != State::ready || session_.outbox_size() != 0) return false;
    // The network is healthy again: a connection that was blackholed before
    // the faults stopped must first be found dead by the client.
    auto k = conns_.find(session_.connection());
    if (k == conns_.end() || k->second.cut || k->second.blackholed || !k->second.server_open) return false;
    auto it = sessions_.find(current_);
    if (it == sessions_.end() || it->second.id != session_.session_id() || it->second.conn != k->first) return false;
    return session_.last_delivered_seq() == it->second.out.size();
}

void Simulation::drain() {
    while (!failed_) {
        if (auto a = session_.poll_action()) {
            on_action(std::move(*a));
        } else if (auto e = session_.poll_event()) {
            on_session_event(std::move(*e));
        } else {
            break;
        }
    }
    if (expect_reack_ && !failed_) fail("a duplicate msg " + std::to_string(*expect_reack_) + " was not re-acked at once");
    expect_reack_.reset();
}

// ---- session actions -> network ---------------------------------------------------

void Simulation::on_action(Action&& a) {
    if (auto* f = std::get_if<FetchToken>(&a)) {
        trace(std::string("action FetchToken refresh=") + (f->refresh ? "1" : "0"));
        if (f->refresh) fail("FetchToken{refresh} without token_expired");
        // Usually quick; sometimes slower than the connect timeout (a stale answer).
        schedule(Net::token_answer, now_ + (dice_.chance(50) ? dice_.ms(0, 4000) : dice_.ms(0, 20)));
    } else if (auto* o = std::get_if<OpenTransport>(&a)) {
        trace("action OpenTransport " + std::to_string(o->id));
        if (o->id <= last_conn_) fail("OpenTransport reuses connection id " + std::to_string(o->id));
        if (o->subprotocol != "tether.v1") fail("OpenTransport offers subprotocol " + o->subprotocol);
        for (auto& [id, c] : conns_)
            if (c.client_open) fail("OpenTransport " + std::to_string(o->id) + " while connection " +
                                    std::to_string(id) + " was never aborted or closed");
        last_conn_ = o->id;
        Conn c;
        c.id = o->id;
        conns_.emplace(o->id, c);
        schedule(Net::open_result, now_ + dice_.ms(1, 60), o->id);
    } else if (auto* s = std::get_if<SendText>(&a)) {
        Conn* c = conn(s->id);
        trace("action SendText " + std::to_string(s->id) + " " + s->text);
        if (c == nullptr || !c->client_open || !c->opened || c->client_closing) {
            fail("SendText on connection " + std::to_string(s->id) + " that is not open at the client");
            return;
        }
        if (expect_reack_) {
            auto frame = decode_server_frame(s->text); // an ack decodes the same either way
            if (frame && std::holds_alternative<Ack>(frame.value()) && std::get<Ack>(frame.value()).seq >= *expect_reack_)
                expect_reack_.reset();
        }
        if (c->cut || c->blackholed) return;
        schedule(Net::c2s_text, fifo(c->c2s_tail), c->id, std::move(s->text));
    } else if (auto* p = std::get_if<SendPing>(&a)) {
        Conn* c = conn(p->id);
        trace("action SendPing " + std::to_string(p->id));
        if (c == nullptr || !c->client_open || !c->opened || c->client_closing) {
            fail("SendPing on a connection that is not open at the client");
            return;
        }
        if (c->cut || c->blackholed) return;
        schedule(Net::c2s_ping, fifo(c->c2s_tail), c->id);
    } else if (auto* cl = std::get_if<CloseTransport>(&a)) {
        Conn* c = conn(cl->id);
        trace("action CloseTransport " + std::to_string(cl->id) + " " + std::to_string(cl->code));
        if (c == nullptr || !c->client_open) {
            fail("CloseTransport on a connection that is not open at the client");
            return;
        }
        if (!close_called_ || cl->code != 1000) fail("unexpected CloseTransport " + std::to_string(cl->code));
        c->client_closing = true;
        if (c->cut || c->blackholed) return;
        schedule(Net::c2s_close, fifo(c->c2s_tail), c->id);
    } else if (auto* ab = std::get_if<AbortTransport>(&a)) {
        Conn* c = conn(ab->id);
        trace("action AbortTransport " + std::to_string(ab->id));
        if (c == nullptr || !c->client_open) {
            fail("AbortTransport of connection " + std::to_string(ab->id) + " that is not open at the client");
            return;
        }
        c->client_open = false;
        if (!linger_) c->c2s_dead = true; // a reset: what the client had not delivered yet is gone
        if (c->cut || c->blackholed || c->lose_abort) return;
        schedule(Net::c2s_gone, linger_ ? fifo(c->c2s_tail) : now_ + net_delay(), c->id);
    }
}

// ---- network -> session / server -----------------------------------------------------

void Simulation::process(NetEvent&& e) {
    Conn* c = e.conn != 0 ? conn(e.conn) : nullptr;
    switch (e.kind) {
    case Net::client_app: {
        const std::uint64_t n = client_sent_++;
        auto r = session_.send(now_, "{\"n\":" + std::to_string(n) + "}");
        trace("app send n=" + std::to_string(n));
        if (!r && close_called_ && r.error() == errc::closed) {
            rejected_[n] = true;
            local_ids_.push_back(0);
        } else if (!r) {
            fail("send() failed: " + r.error().message() + " " + r.detail());
            return;
        } else {
            if (n_of_local_.count(r.value()) != 0) fail("send() returned a MessageId twice");
            local_ids_.push_back(r.value());
            n_of_local_[r.value()] = n;
        }
        if (client_sent_ < nc_)
            schedule(Net::client_app, now_ + dice_.ms(0, 2 * active_ms_ / static_cast<std::int64_t>(nc_)));
        return;
    }
    case Net::server_app: {
        server_pending_.push_back(server_generated_++);
        server_pump();
        if (server_generated_ < ns_)
            schedule(Net::server_app, now_ + dice_.ms(0, 2 * active_ms_ / static_cast<std::int64_t>(ns_)));
        return;
    }
    case Net::fault:
        if (now_ >= fault_end_) return;
        fault();
        schedule(Net::fault, now_ + dice_.ms(1, 2 * fault_gap_ms_));
        return;
    case Net::token_answer:
        trace("provide_token");
        (void)session_.provide_token(now_, std::string("fresh-token")); // may be stale: invalid_state is fine
        return;
    case Net::server_ack_timer:
        if (c == nullptr) return;
        c->ack_timer = false;
        if (c->server_open) server_ack(*c, false);
        return;
    default: break;
    }
    if (c == nullptr) {
        fail("network event for an unknown connection");
        return;
    }
    switch (e.kind) {
    case Net::open_result:
        if (!c->client_open || c->cut || c->blackholed) return;
        if (now_ < server_down_until_ || dice_.chance(profile_ == Profile::calm ? 0 : 20)) {
            ++totals_.refused;
            trace("connect " + std::to_string(c->id) + " refused");
            c->client_open = false;
            CloseInfo info;
            if (now_ >= server_down_until_ && dice_.chance(300)) {
                info.http_status = dice_.chance(500) ? 503 : 429; // overloaded: Retry-After at the upgrade
                if (dice_.chance(700)) info.retry_after = dice_.ms(0, 1000);
            } else {
                info.error = make_error_code(errc::connect_failed);
                info.reason = "connection refused";
            }
            expect_ok(session_.on_transport_closed(now_, c->id, info), "on_transport_closed(refused)");
            return;
        }
        trace("connect " + std::to_string(c->id) + " open");
        c->server_open = true;
        c->opened = true;
        expect_ok(session_.on_transport_open(now_, c->id, subprotocol_reply_), "on_transport_open()");
        return;
    case Net::c2s_text:
        if (c->cut || c->blackholed || c->c2s_dead || !c->server_open) return;
        server_text(*c, e.text);
        return;
    case Net::c2s_ping:
        if (c->cut || c->blackholed || c->c2s_dead || !c->server_open) return;
        if (SrvSession* s = attached(*c)) confirm(*s); // a ping proves the client is ready: it has the welcome
        schedule(Net::s2c_pong, fifo(c->s2c_tail), c->id);
        return;
    case Net::c2s_close:
        if (c->cut || c->blackholed || !c->server_open) return;
        trace("server: close 1000 from the client on " + std::to_string(c->id));
        server_close(*c, 1000); // the close handshake echo
        return;
    case Net::c2s_gone:
        if (!c->server_open) return;
        trace("server: connection " + std::to_string(c->id) + " gone");
        c->server_open = false;
        server_detach(*c);
        return;
    case Net::s2c_text:
        if (!c->client_open || c->cut || c->blackholed) return;
        trace("client <- " + std::to_string(c->id) + " " + e.text);
        if (e.dup_seq != 0 && session_.state() == State::ready && c->id == session_.connection())
            expect_reack_ = e.dup_seq;
        expect_ok(session_.on_text(now_, c->id, e.text), "on_text()");
        return;
    case Net::s2c_pong:
        if (!c->client_open || c->cut || c->blackholed) return;
        expect_ok(session_.on_pong(now_, c->id), "on_pong()");
        return;
    case Net::s2c_close: {
        if (!c->client_open || c->cut || c->blackholed) return;
        trace("client <- close " + std::to_string(e.code) + " on " + std::to_string(c->id));
        c->client_open = false;
        CloseInfo info;
        info.close_code = e.code;
        info.opened = true;
        expect_ok(session_.on_transport_closed(now_, c->id, info), "on_transport_closed(close frame)");
        return;
    }
    case Net::s2c_gone: {
        if (!c->client_open || c->blackholed) return;
        trace("client: connection " + std::to_string(c->id) + " reset");
        c->client_open = false;
        CloseInfo info;
        info.error = make_error_code(errc::transport_closed);
        info.reason = "connection reset by peer";
        info.opened = c->opened;
        expect_ok(session_.on_transport_closed(now_, c->id, info), "on_transport_closed(reset)");
        return;
    }
    default: return;
    }
}

// ---- faults ---------------------------------------------------------------------------

void Simulation::fault() {
    const std::uint64_t r = dice_.between(0, 99);
    SrvSession* cur = nullptr;
    if (auto it = sessions_.find(current_); it != sessions_.end()) cur = &it->second;
    Conn* sc = nullptr; // the server's live connection for the current session
    if (cur != nullptr && cur->conn != 0) {
        Conn* k = conn(cur->conn);
        if (k != nullptr && k->server_open && !k->cut && !k->blackholed) sc = k;
    }
    if (r < 22) {
        Conn* c = client_conn();
        if (c == nullptr) return;
        ++totals_.drops;
        trace("FAULT drop " + std::to_string(c->id));
        c->cut = true;
        schedule(Net::s2c_gone, now_ + net_delay(), c->id);
        schedule(Net::c2s_gone, now_ + net_delay(), c->id);
    } else if (r < 34) {
        Conn* c = client_conn();
        if (c == nullptr) return;
        ++totals_.blackholes;
        trace("FAULT blackhole " + std::to_string(c->id));
        c->blackholed = true;
    } else if (r < 56) {
        if (sc == nullptr || sc->sent_upto == 0) return;
        const std::uint64_t seq = dice_.between(1, sc->sent_upto);
        ++totals_.duplicates;
        trace("FAULT duplicate seq " + std::to_string(seq) + " on " + std::to_string(sc->id));
        ServerMsg m;
        m.seq = seq;
        m.data = nlohmann::json{{"n", cur->out[seq - 1]}};
        server_send(*sc, encode(m), seq);
    } else if (r < 66) {
        // The application says the network changed. From connecting /
        // authenticating / ready the current connection is aborted, and the
        // abort never reaches the server (so a resume takes the session over).
        const State st = session_.state();
        if (phase_ != Phase::running ||
            (st != State::connecting && st != State::authenticating && st != State::ready && st != State::backoff))
            return;
        ++totals_.reconnect_now;
        if (Conn* c = client_conn()) c->lose_abort = true;
        trace(std::string("FAULT reconnect_now in ") + to_string(st));
        expect_ok(session_.reconnect_now(now_), "reconnect_now()");
    } else if (r < 78) {
        if (sc == nullptr) return;
        ++totals_.going_away;
        // 1000 without our bye ends the connection, not the session; 1011 is
        // an abnormal server error (backoff).
        const std::array<std::uint16_t, 4> codes{1000, 1001, 1012, 1011};
        const std::uint16_t code = codes[dice_.pick(codes.size())];
        trace("FAULT going away " + std::to_string(code) + " on " + std::to_string(sc->id));
        server_close(*sc, code);
    } else if (r < 84) {
        if (sc == nullptr) return;
        ++totals_.busy;
        trace("FAULT server_busy on " + std::to_string(sc->id));
        ErrorFrame ef;
        const std::array<const char*, 3> kinds{"server_busy", "rate_limited", "internal_error"};
        ef.code = kinds[dice_.pick(kinds.size())];
        ef.message = "try again later";
        if (dice_.chance(700)) ef.retry_after_ms = dice_.between(0, 300);
        server_send(*sc, encode(ef));
        server_close(*sc, 1013);
    } else if (r < 90) {
        if (sc == nullptr) return;
        ++totals_.unknown;
        server_send(*sc, R"({"type":"future_frame","v":2,"x":[1,2,3]})");
    } else {
        if (profile_ != Profile::full) return;
        ++totals_.restarts;
        const bool graceful = dice_.chance(500);
        trace(std::string("FAULT server restart, ") + (graceful ? "1012" : "reset"));
        for (auto& [id, k] : conns_) {
            if (!k.server_open) continue;
            if (graceful) {
                server_close(k, 1012);
            } else {
                k.server_open = false;
                if (!k.cut && !k.blackholed) {
                    k.cut = true;
                    schedule(Net::s2c_gone, now_ + net_delay(), id);
                }
            }
        }
        for (auto& [id, s] : sessions_) session_lost_[s.index] = true;
        sessions_.clear();
        current_.clear();
        server_down_until_ = now_ + dice_.ms(0, 1500);
    }
}

// ---- the server model -------------------------------------------------------------------

Simulation::SrvSession* Simulation::attached(Conn& c) {
    if (!c.server_open || c.session.empty()) return nullptr;
    auto it = sessions_.find(c.session);
    if (it == sessions_.end() || it->second.conn != c.id) return nullptr;
    return &it->second;
}

void Simulation::server_detach(Conn& c) {
    if (c.session.empty()) return;
    auto it = sessions_.find(c.session);
    if (it != sessions_.end() && it->second.conn == c.id) it->second.conn = 0;
}

void Simulation::server_send(Conn& c, std::string text, std::uint64_t dup_seq) {
    if (c.cut || c.blackholed) return; // lost on the wire
    schedule(Net::s2c_text, fifo(c.s2c_tail), c.id, std::move(text), 0, dup_seq);
}

void Simulation::server_close(Conn& c, std::uint16_t code) {
    c.server_open = false;
    server_detach(c);
    if (c.cut || c.blackholed) return;
    schedule(Net::s2c_close, fifo(c.s2c_tail), c.id, {}, code);
}

void Simulation::confirm(SrvSession& s) {
    if (s.confirmed) return;
    s.confirmed = true;
    server_pump();
}

void Simulation::server_pump() {
    auto it = sessions_.find(current_);
    if (it == sessions_.end() || !it->second.confirmed) return;
    SrvSession& s = it->second;
    for (std::uint64_t n : server_pending_) {
        s.out.push_back(n);
        pushed_into_[n] = s.index;
    }
    server_pending_.clear();
    server_send_new(s);
}

void Simulation::server_send_new(SrvSession& s) {
    if (s.conn == 0) return;
    Conn* c = conn(s.conn);
    if (c == nullptr || !c->server_open) return;
    while (c->sent_upto < s.out.size()) {
        ++c->sent_upto;
        ServerMsg m;
        m.seq = c->sent_upto;
        m.data = nlohmann::json{{"n", s.out[c->sent_upto - 1]}};
        server_send(*c, encode(m));
    }
}

void Simulation::server_ack(Conn& c, bool force) {
    SrvSession* s = attached(c);
    if (s == nullptr) return;
    if (quirk_stale_acks_ && dice_.chance(100))
        server_send(c, encode(Ack{dice_.between(0, c.acked_to_client)})); // old news: a no-op for the client
    if (!force && s->last_client_seq <= c.acked_to_client) return;
    c.acked_to_client = s->last_client_seq;
    c.unacked = 0;
    server_send(c, encode(Ack{s->last_client_seq}));
}

void Simulation::server_text(Conn& c, const std::string& text) {
    trace("server <- " + std::to_string(c.id) + " " + text);
    auto decoded = decode_client_frame(text);
    if (!decoded) {
        fail("the client sent an undecodable frame: " + decoded.detail() + ": " + text);
        return;
    }
    ClientFrame frame = std::move(decoded).value();
    if (auto* h = std::get_if<Hello>(&frame)) {
        server_hello(c, std::move(*h));
        return;
    }
    if (!c.got_hello) {
        fail("the client sent a frame before hello: " + text);
        return;
    }
    SrvSession* s = attached(c);
    if (s == nullptr) {
        // Taken over by a newer connection (or the session is gone): a real
        // server has closed this connection already; the model just ignores it.
        return;
    }
    confirm(*s); // anything after hello was sent after the client processed welcome
    if (auto* m = std::get_if<ClientMsg>(&frame)) {
        server_msg(c, *s, std::move(*m));
    } else if (auto* a = std::get_if<Ack>(&frame)) {
        if (a->seq > std::max(c.sent_upto, c.resume_last)) {
            fail("the client acked server seq " + std::to_string(a->seq) + " but only " + std::to_string(c.sent_upto) +
                 " were sent on this connection");
            return;
        }
        s->client_acked = std::max(s->client_acked, a->seq);
    } else if (std::holds_alternative<Bye>(frame)) {
        trace("server: bye for " + s->id);
        bye_received_ = true;
        if (current_ == s->id) current_.clear();
        c.session.clear();
        sessions_.erase(s->id);
    } else {
        fail("the client sent an unexpected frame: " + text);
    }
}

void Simulation::server_hello(Conn& c, Hello&& h) {
    if (c.got_hello) {
        fail("a second hello on one connection");
        return;
    }
    c.got_hello = true;
    SrvSession* s = nullptr;
    if (h.resume) {
        auto it = sessions_.find(h.resume->session);
        if (it != sessions_.end()) {
            SrvSession& cand = it->second;
            // The current token, or the one the last successful resume
            // presented (its welcome may have been lost: §4.4 lets a server
            // accept it until the new one has been presented once).
            const bool token_ok = h.resume->resume_token == cand.token ||
                                  (!cand.prev_token.empty() && h.resume->resume_token == cand.prev_token);
            if (!token_ok) {
                fail("resume with a token the server never gave this client: " + h.resume->resume_token);
                return;
            }
            // protocol.md §5: the previous token from an attempt no newer than
            // the one that presented it is a stale hello from a connection the
            // client aborted; refusing it keeps the live connection.
            if (h.resume->resume_token != cand.token && h.resume->attempt <= cand.attached_attempt) {
                trace("server: stale resume hello (attempt " + std::to_string(h.resume->attempt) + " <= " +
                      std::to_string(cand.attached_attempt) + ") refused");
                server_close(c, 4009);
                return;
            }
            if (h.resume->last_seq > cand.out.size()) {
                fail("hello.resume.last_seq " + std::to_string(h.resume->last_seq) + " beyond the " +
                     std::to_string(cand.out.size()) + " msgs the server sent");
                return;
            }
            if (h.resume->last_seq < cand.client_acked) {
                fail("hello.resume.last_seq " + std::to_string(h.resume->last_seq) + " below the client's own ack " +
                     std::to_string(cand.client_acked));
                return;
            }
            s = &cand;
        }
    }
    Welcome w;
    if (s != nullptr) {
        if (s->conn != 0 && s->conn != c.id) {
            Conn* old = conn(s->conn);
            if (old != nullptr && old->server_open) {
                ++totals_.takeovers;
                trace("server: takeover of " + s->id + " from " + std::to_string(old->id));
                server_close(*old, 4009);
            }
        }
        const std::uint64_t last = h.resume->last_seq;
        s->client_acked = last; // hello.resume.last_seq is a cumulative ack
        s->prev_token = h.resume->resume_token;
        s->attached_attempt = h.resume->attempt;
        s->token = new_token();
        s->conn = c.id;
        c.session = s->id;
        c.resume_last = last;
        c.sent_upto = quirk_resend_extra_ ? dice_.between(0, last) : last;
        c.acked_to_client = s->last_client_seq;
        current_ = s->id;
        w.session = s->id;
        w.resume_token = s->token;
        w.resumed = true;
        w.last_seq = s->last_client_seq;
    } else {
        if (auto it = sessions_.find(current_); it != sessions_.end() && it->second.confirmed)
            fail("the server model would abandon confirmed session " + current_ + " (client hello without it)");
        SrvSession n;
        n.index = session_count_++;
        n.id = "s-" + std::to_string(n.index);
        n.token = new_token();
        n.conn = c.id;
        session_lost_.push_back(false);
        c.session = n.id;
        c.sent_upto = 0;
        c.acked_to_client = 0;
        current_ = n.id;
        w.session = n.id;
        w.resume_token = n.token;
        w.resumed = false;
        w.last_seq = 0;
        trace("server: new session " + n.id + (h.resume ? " (resume of " + h.resume->session + " refused)" : ""));
        const std::string key = n.id;
        s = &sessions_.emplace(key, std::move(n)).first->second;
    }
    w.heartbeat_ms = server_heartbeat_ms_;
    if (dice_.chance(200)) w.session_ttl_ms = 60000;
    server_send(c, encode(w));
    if (w.resumed) confirm(*s);
    server_send_new(*s); // resumed: re-sends everything > hello.resume.last_seq, in order
}

void Simulation::server_msg(Conn& c, SrvSession& s, ClientMsg&& m) {
    const auto data = nlohmann::json::parse(m.data_json, nullptr, false);
    if (data.is_discarded() || !data.is_object() || !data.contains("n") || !data["n"].is_number_unsigned()) {
        fail("client msg with unexpected data " + m.data_json);
        return;
    }
    const auto n = data["n"].get<std::uint64_t>();
    if (n >= nc_) {
        fail("client msg with n out of range: " + m.data_json);
        return;
    }
    if (id_of_n_[n].empty()) {
        id_of_n_[n] = m.id;
    } else if (id_of_n_[n] != m.id) {
        fail("message n=" + std::to_string(n) + " changed its id from " + id_of_n_[n] + " to " + m.id);
        return;
    }
    if (m.seq <= s.last_client_seq) {
        // Receiver rule: a duplicate is not delivered again, and acked again.
        server_ack(c, true);
        return;
    }
    if (m.seq != s.last_client_seq + 1) {
        fail("client seq gap: " + std::to_string(m.seq) + " after " + std::to_string(s.last_client_seq));
        return;
    }
    s.last_client_seq = m.seq;
    delivered_.push_back(n);
    if (++delivered_count_[n] == 1) {
        if (last_first_ && n <= *last_first_)
            fail("first deliveries out of order: n=" + std::to_string(n) + " after " + std::to_string(*last_first_));
        if (policy_ == SessionLostPolicy::resend && n != first_deliveries_)
            fail("first delivery of n=" + std::to_string(n) + " but " + std::to_string(first_deliveries_) +
                 " messages were delivered before (a message was skipped)");
        last_first_ = n;
        ++first_deliveries_;
    } else {
        ++totals_.c2s_redelivered;
        if (policy_ == SessionLostPolicy::fail)
            fail("policy fail: message n=" + std::to_string(n) + " delivered twice (it was re-sent)");
    }
    auto [it, fresh] = last_n_in_session_.emplace(s.index, n);
    if (!fresh) {
        if (n <= it->second)
            fail("within server session " + s.id + ": n=" + std::to_string(n) + " after " + std::to_string(it->second));
        it->second = n;
    }
    if (++c.unacked >= server_ack_every_) {
        server_ack(c, false);
    } else if (!c.ack_timer) {
        c.ack_timer = true;
        schedule(Net::server_ack_timer, now_ + dice_.ms(0, server_ack_delay_ms_), c.id);
    }
}

// ---- session events -> checks ---------------------------------------------------------------

void Simulation::on_session_event(tether::core::Event&& ev) {
    if (!std::holds_alternative<MessageFailed>(ev)) {
        if (in_lost_batch_ && lost_batch_failed_ != lost_batch_expected_)
            fail("SessionLost said " + std::to_string(lost_batch_expected_) + " unacked but " +
                 std::to_string(lost_batch_failed_) + " MessageFailed followed");
        in_lost_batch_ = false;
    }
    if (auto* sc = std::get_if<StateChanged>(&ev)) {
        trace(std::string("event state ") + to_string(sc->from) + " -> " + to_string(sc->to) + " " +
              sc->reason.message() + " " + sc->detail);
        if (sc->from != last_state_)
            fail(std::string("StateChanged from ") + to_string(sc->from) + " but the last state was " +
                 to_string(last_state_));
        last_state_ = sc->to;
        if (sc->reason == errc::heartbeat_timeout) ++totals_.heartbeat_kills;
        if (sc->to == State::failed) fail("state failed: " + sc->reason.message() + " " + sc->detail);
        if (sc->to == State::closed) {
            if (!close_called_) fail("state closed before close(): " + sc->reason.message() + " " + sc->detail);
            else if (sc->reason && !close_at_ms_) fail("graceful close ended with " + sc->reason.message() + " " + sc->detail);
            else closed_cleanly_ = true;
        }
    } else if (auto* mr = std::get_if<MessageReceived>(&ev)) {
        ++received_events_;
        if (mr->seq != expected_seq_)
            fail("MessageReceived seq " + std::to_string(mr->seq) + ", expected " + std::to_string(expected_seq_));
        expected_seq_ = mr->seq + 1;
        const auto it = mr->data.find("n");
        if (it == mr->data.end() || !it->is_number_unsigned()) {
            fail("MessageReceived with unexpected data " + mr->data.dump());
            return;
        }
        const auto n = it->get<std::uint64_t>();
        trace("event received n=" + std::to_string(n));
        if (!received_.empty() && n <= received_.back())
            fail("server msg n=" + std::to_string(n) + " received after n=" + std::to_string(received_.back()));
        received_.push_back(n);
    } else if (auto* ma = std::get_if<MessageAcked>(&ev)) {
        ++acked_events_;
        auto it = n_of_local_.find(ma->id);
        if (it == n_of_local_.end()) {
            fail("MessageAcked for unknown id " + std::to_string(ma->id));
            return;
        }
        const std::uint64_t n = it->second;
        trace("event acked n=" + std::to_string(n));
        if (++acked_count_[n] > 1) fail("message n=" + std::to_string(n) + " acked twice");
        if (failed_count_[n] != 0) fail("message n=" + std::to_string(n) + " acked after it failed");
        if (delivered_count_[n] == 0) fail("message n=" + std::to_string(n) + " acked but never delivered to the server");
        if (sent_count_[n] == 0) fail("message n=" + std::to_string(n) + " acked without a MessageSent");
    } else if (auto* ms = std::get_if<MessageSent>(&ev)) {
        auto it = n_of_local_.find(ms->id);
        if (it == n_of_local_.end()) {
            fail("MessageSent for unknown id " + std::to_string(ms->id));
            return;
        }
        const std::uint64_t n = it->second;
        if (acked_count_[n] != 0 || failed_count_[n] != 0)
            fail("MessageSent for message n=" + std::to_string(n) + " after it was acked or failed");
        ++sent_count_[n];
    } else if (auto* mf = std::get_if<MessageFailed>(&ev)) {
        auto it = n_of_local_.find(mf->id);
        if (it == n_of_local_.end()) {
            fail("MessageFailed for unknown id " + std::to_string(mf->id));
            return;
        }
        const std::uint64_t n = it->second;
        trace("event failed n=" + std::to_string(n) + " " + mf->error.message());
        // Allowed: session_lost right after SessionLost with policy fail, and
        // closed for what close() could not deliver (only an early close
        // under faults can leave anything unacked).
        const bool lost = policy_ == SessionLostPolicy::fail && mf->error == errc::session_lost && in_lost_batch_;
        const bool closing = mf->error == errc::closed && close_called_ && close_at_ms_;
        if (!lost && !closing)
            fail("unexpected MessageFailed n=" + std::to_string(n) + " (" + mf->error.message() + ", policy " +
                 (policy_ == SessionLostPolicy::resend ? "resend" : "fail") + ")");
        if (lost) ++lost_batch_failed_;
        if (++failed_count_[n] > 1) fail("message n=" + std::to_string(n) + " failed twice");
        if (acked_count_[n] != 0) fail("message n=" + std::to_string(n) + " failed after it was acked");
        if (id_of_n_[n].empty() == false && mf->message_id != id_of_n_[n])
            fail("MessageFailed carries id " + mf->message_id + " but the wire id was " + id_of_n_[n]);
    } else if (auto* sr = std::get_if<SessionResumed>(&ev)) {
        trace("event resumed " + sr->session);
    } else if (auto* sl = std::get_if<SessionLost>(&ev)) {
        trace("event session lost " + sl->previous_session + " -> " + sl->new_session + " unacked " +
              std::to_string(sl->unacked));
        ++lost_events_;
        if (totals_.restarts == 0) fail("SessionLost without a server restart");
        if (sl->previous_session == sl->new_session) fail("SessionLost with the same session id");
        expected_seq_ = 1;
        in_lost_batch_ = true;
        lost_batch_failed_ = 0;
        lost_batch_expected_ = policy_ == SessionLostPolicy::fail ? sl->unacked : 0;
    } else if (auto* ee = std::get_if<ErrorEvent>(&ev)) {
        trace("event error " + ee->code.message() + " " + ee->detail);
        const int v = ee->code.value();
        if (ee->code.category() == tether::error_category() && v >= 200 && v < 300)
            fail("protocol error reported against a correct server: " + ee->code.message() + ": " + ee->detail);
    }
}

// ---- final checks ------------------------------------------------------------------------------

void Simulation::finish() {
    if (!closed_cleanly_) fail("never reached closed cleanly");
    if (!close_at_ms_ && !bye_received_) fail("the server never received bye");
    if (session_.poll_timeout()) fail("closed, but poll_timeout() still has a deadline");
    if (session_.has_output()) fail("closed, but the session still has output");
    if (session_.outbox_size() != 0) fail("closed with a non-empty outbox");
    if (totals_.restarts == 0 && lost_events_ != 0) fail("a session was lost without a restart");

    for (std::uint64_t n = 0; n < nc_ && !failed_; ++n) {
        if (n >= client_sent_ || rejected_[n]) { // closed before the app got to it, or refused
            if (delivered_count_[n] != 0) fail("message n=" + std::to_string(n) + " was refused by send() yet delivered");
            continue;
        }
        const std::uint32_t terminal = acked_count_[n] + failed_count_[n];
        if (terminal != 1)
            fail("message n=" + std::to_string(n) + ": " + std::to_string(acked_count_[n]) + " acks, " +
                 std::to_string(failed_count_[n]) + " failures (want exactly one in total)");
        if (policy_ == SessionLostPolicy::resend && !close_at_ms_ && delivered_count_[n] == 0)
            fail("message n=" + std::to_string(n) + " never reached the server");
    }
    if (close_at_ms_) {
        // Closed early, under faults: whatever arrived arrived exactly once
        // and in order when no session was lost; nothing more can be asked.
        if (lost_events_ == 0) {
            for (std::size_t i = 0; i < delivered_.size() && !failed_; ++i)
                if (delivered_[i] != i) fail("no session lost, but the server's delivered list is not a prefix of the sent list");
            for (std::size_t i = 0; i < received_.size() && !failed_; ++i)
                if (received_[i] != i) fail("no session lost, but the client's received list is not a prefix of the sent list");
        }
    } else if (lost_events_ == 0) {
        // No session lost: exactly once, in order, both directions.
        std::vector<std::uint64_t> want_c2s(nc_), want_s2c(ns_);
        for (std::uint64_t i = 0; i < nc_; ++i) want_c2s[i] = i;
        for (std::uint64_t i = 0; i < ns_; ++i) want_s2c[i] = i;
        if (delivered_ != want_c2s)
            fail("no session lost, but the server's delivered list differs from the sent list (" +
                 std::to_string(delivered_.size()) + " delivered, " + std::to_string(nc_) + " sent)");
        if (received_ != want_s2c)
            fail("no session lost, but the client's received list differs from the server's sent list (" +
                 std::to_string(received_.size()) + " received, " + std::to_string(ns_) + " sent)");
        for (std::uint64_t n = 0; n < nc_ && !failed_; ++n)
            if (failed_count_[n] != 0) fail("a message failed although no session was lost");
    } else {
        // Every server msg queued in a session that was never lost arrived.
        std::vector<bool> got(ns_, false);
        for (std::uint64_t n : received_) got[n] = true;
        for (std::uint64_t n = 0; n < ns_ && !failed_; ++n) {
            if (pushed_into_[n] == SIZE_MAX) fail("server msg n=" + std::to_string(n) + " was never queued");
            else if (!session_lost_[pushed_into_[n]] && !got[n])
                fail("server msg n=" + std::to_string(n) + " of a session that was never lost did not arrive");
        }
    }
    const auto st = session_.stats();
    if (st.messages_acked != acked_events_) fail("stats.messages_acked disagrees with the MessageAcked events");
    if (st.messages_received != received_events_) fail("stats.messages_received disagrees with MessageReceived events");
    if (st.sessions_lost != lost_events_) fail("stats.sessions_lost disagrees with SessionLost events");
    const auto refused = static_cast<std::uint64_t>(std::count(rejected_.begin(), rejected_.end(), true));
    if (st.messages_sent != client_sent_ - refused) fail("stats.messages_sent disagrees with the messages send() accepted");
    if (st.protocol_errors != 0) fail("stats.protocol_errors is not 0");
    if (st.outbox_depth != 0 || st.outbox_bytes != 0) fail("stats.outbox_depth/bytes not 0 after close");
}

// ---- the test driver ------------------------------------------------------------------------------

std::optional<std::uint64_t> env_u64(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    char* end = nullptr;
    const unsigned long long x = std::strtoull(v, &end, 10);
    if (end == nullptr || *end != '\0') return std::nullopt;
    return static_cast<std::uint64_t>(x);
}

void run_seeds(SessionLostPolicy policy, std::uint64_t default_count) {
    const char* name = policy == SessionLostPolicy::resend ? "resend" : "fail";
    const auto one = env_u64("TETHER_PROPERTY_SEED");
    const std::uint64_t count = env_u64("TETHER_PROPERTY_SEEDS").value_or(default_count);
    const bool trace = env_u64("TETHER_PROPERTY_TRACE").value_or(0) != 0 && one.has_value();
    const bool linger = env_u64("TETHER_PROPERTY_LINGER").value_or(0) != 0;
    const std::uint64_t first = one.value_or(1);
    const std::uint64_t last = one ? *one : count;
    Totals totals;
    int failures = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t seed = first; seed <= last; ++seed) {
        Simulation sim(seed, policy, trace, linger);
        Outcome out = sim.run();
        totals.add(out.totals);
        if (!out.ok) {
            ADD_FAILURE() << "seed=" << seed << " policy=" << name << ": " << out.failure
                          << "\n  replay: TETHER_PROPERTY_SEED=" << seed
                          << " TETHER_PROPERTY_TRACE=1 tether_core_tests --gtest_filter='Property.*'";
            if (++failures >= 5) break;
        }
    }
    const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::printf("[property %s] %s; %lld ms wall\n", name, totals.summary().c_str(),
                static_cast<long long>(wall.count()));
    // The faults must really have happened (otherwise the test proves little).
    if (!one && count >= 200) {
        EXPECT_GT(totals.drops, 0U);
        EXPECT_GT(totals.blackholes, 0U);
        EXPECT_GT(totals.duplicates, 0U);
        EXPECT_GT(totals.takeovers, 0U);
        EXPECT_GT(totals.going_away, 0U);
        EXPECT_GT(totals.restarts, 0U);
        EXPECT_GT(totals.sessions_lost, 0U);
        EXPECT_GT(totals.heartbeat_kills, 0U);
        if (policy == SessionLostPolicy::resend) EXPECT_GT(totals.c2s_redelivered, 0U);
        else EXPECT_GT(totals.failed_msgs, 0U);
    }
}

TEST(Property, SessionAgainstServerModelResend) { run_seeds(SessionLostPolicy::resend, 4000); }

TEST(Property, SessionAgainstServerModelFailPolicy) { run_seeds(SessionLostPolicy::fail, 1000); }

} // namespace
