// Session: the sans-I/O tether.v1 client. It decides everything (when to
// connect, what to send and re-send, when a connection is dead, how long to
// back off) and does nothing itself: no sockets, no clocks, no threads.
//
// Theory of operation
//   Inputs are method calls that carry `now`. After each input the driver
//   drains poll_action() (things to do on the transport, in order), then
//   poll_event() (things to tell the application), and re-arms its single
//   timer at poll_timeout(), calling on_timeout() when it fires.
//
//   States: idle -> connecting -> authenticating -> ready -> (drop) -> backoff
//   -> connecting ...; closing -> closed on a graceful close; failed when
//   retrying cannot help (auth, wrong URL, protocol version, max attempts).
//   closed and failed are terminal.
//
//   Every transport input names its ConnectionId. Only the current
//   connection's inputs count; late events from a connection the session has
//   already given up are ignored, so the driver needs no bookkeeping.
//
//   Illegal inputs (wrong state, bad argument) return an error and change
//   nothing. Peer violations (bad frames, gaps, impossible acks) are reported
//   as an error event, counted, and the connection is aborted and retried
//   with backoff. Nothing throws.
//
// Thread safety: none. One driver thread/strand owns a Session.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/backoff.hpp"
#include "core/close_info.hpp"
#include "core/codec.hpp"
#include "core/fifo.hpp"
#include "core/heartbeat.hpp"
#include "core/inbox.hpp"
#include "core/journal.hpp"
#include "core/outbox.hpp"
#include "core/reactions.hpp"
#include "core/timer_table.hpp"
#include "tether/events.hpp"
#include "tether/options.hpp"

namespace tether::core {

// The public vocabulary (tether/events.hpp) is the core's own: one definition.
using State = tether::State;

inline constexpr Duration kDefaultLateTimerThreshold{2000};

struct SessionConfig {
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<std::string> token;   // static token for hello
    bool has_token_provider = false;    // ask via FetchToken before each connection
    std::optional<ClientInfo> client_info;
    HeartbeatConfig heartbeat;
    BackoffConfig backoff;
    OutboxConfig outbox;
    InboxConfig inbox;
    SessionLostPolicy on_session_lost = SessionLostPolicy::resend;
    Duration connect_timeout{10000};
    Duration hello_timeout{10000};
    Duration close_timeout{1000};       // bye sent -> transport closed; then aborted
    DecodeLimits decode_limits;
    bool report_sent = false;           // emit MessageSent for every msg frame handed to the transport
    // A timer firing later than max(this, heartbeat interval / 2) past its
    // deadline means the process or machine was suspended (or the clock jumped).
    Duration late_timer_threshold{kDefaultLateTimerThreshold};
};

// Empty string when the config is usable; otherwise what is wrong.
std::string validate(const SessionConfig& config);

// ---- outputs: actions for the transport -----------------------------------
struct FetchToken { bool refresh = false; };  // answer with provide_token()
struct OpenTransport {
    ConnectionId id = 0;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string subprotocol;
};
struct SendText { ConnectionId id = 0; std::string text; };
struct SendPing { ConnectionId id = 0; };
struct CloseTransport { ConnectionId id = 0; std::uint16_t code = close_code::normal; std::string reason; };
struct AbortTransport { ConnectionId id = 0; };
using Action = std::variant<FetchToken, OpenTransport, SendText, SendPing, CloseTransport, AbortTransport>;

// ---- outputs: events for the application -----------------------------------
using StateChanged = tether::StateChange;
using MessageReceived = tether::Message;
struct MessageAcked { MessageId id = 0; };
struct MessageSent { MessageId id = 0; }; // its msg frame went to the transport (again on every re-send)
struct MessageFailed { MessageId id = 0; std::string message_id; std::error_code error; };
struct SessionResumed { std::string session; std::size_t resent = 0; };
using SessionLost = tether::SessionLostInfo;
struct ErrorEvent { std::error_code code; std::string detail; };
using Event = std::variant<StateChanged, MessageReceived, MessageAcked, MessageFailed, SessionResumed, SessionLost,
                           ErrorEvent, MessageSent>;

using Stats = tether::Stats;

// How much of a payload Session::send checks. validate: any text, fully.
// trusted: nlohmann's dump, so well-formed; the depth pre-scan only.
// encoded: fast::append_compact_dump's output at kMaxPayloadDepth, which is
// well-formed and within the depth (its differential test and fuzzer check
// both); nothing to scan.
enum class PayloadCheck { validate, trusted, encoded };

// Connections in a row that may end on a message over a size limit (close
// 1009) at the same point of the session before it fails with
// message_too_big instead of reconnecting forever.
inline constexpr std::uint32_t kOversizedRepeatsBeforeFail = 3;

// The deadlines the session itself keeps (the heartbeat and the inbox's ack
// batching keep theirs). A new one: an enumerator here, a case in
// ends_with_connection(), the code that arms it and a branch in on_timeout().
enum class SessionTimer {
    connect, // OpenTransport sent -> transport open
    hello,   // hello sent -> welcome
    drain,   // close() while ready -> outbox acked, then bye
    close,   // bye sent -> transport closed
    backoff, // the next connection attempt
    probe,   // network_changed() or a suspend: ping sent -> any inbound frame
    count,
};

// Whether dropping the connection stops the timer.
constexpr bool ends_with_connection(SessionTimer t) {
    switch (t) {
    case SessionTimer::connect:
    case SessionTimer::hello:
    case SessionTimer::drain:
    case SessionTimer::close:
    case SessionTimer::probe: return true;
    case SessionTimer::backoff:
    case SessionTimer::count: return false;
    }
    return false;
}

class Session {
public:
    // `config` must pass validate(); `rng` must outlive the session.
    Session(SessionConfig config, Rng& rng);

    // ---- persistence (before start(); see core/journal.hpp) ----
    // Every change from now on is recorded in `journal` (null: none). The
    // journal must outlive the session or be detached first. Attached, acks
    // wait for confirm_delivered().
    void attach_journal(Journal* journal);
    // Continues a stored conversation: the session to resume, the inbound
    // last, and the unacknowledged messages, which get local ids from 1 in
    // order. Only when idle and nothing was sent yet; invalid_state otherwise.
    std::error_code restore(const RestoredState& state);
    // The application's on_message returned for every msg up to `seq`: the
    // journal records it, and acks may now cover it.
    void confirm_delivered(TimePoint now, std::uint64_t seq);

    // ---- application inputs ----
    std::error_code start(TimePoint now);
    // Queues a message (any state but closing/closed/failed). `id` is the
    // idempotency key; empty: generated. `check`: see PayloadCheck.
    Result<MessageId> send(TimePoint now, std::string_view data_json, std::string_view id = {},
                           PayloadCheck check = PayloadCheck::validate);
    // Graceful: when ready, waits up to `drain` for the outbox to be acked,
    // flushes acks, sends bye and closes 1000. Otherwise closes at once.
    // Messages still unacked are reported failed (errc::closed).
    std::error_code close(TimePoint now, Duration drain);
    std::error_code abort(TimePoint now);
    // From backoff: connect now. From connecting/authenticating/ready: drop
    // the current connection and reconnect at once (e.g. the network changed).
    std::error_code reconnect_now(TimePoint now);
    // The network may have changed: the connection is suspect. ready /
    // authenticating: ping, and without a reply (any frame) within
    // heartbeat.probe_timeout the connection is replaced. backoff: connect
    // now, not counted as a failed attempt. connecting: the attempt restarts.
    std::error_code network_changed(TimePoint now);
    // The driver saw the process or machine suspended for `gap` (e.g. boot
    // time ran while steady time stood still): as network_changed(), counted
    // in stats.suspends_detected. on_timeout() detects late timers itself.
    std::error_code on_suspend_detected(TimePoint now, Duration gap);
    // Answer to FetchToken. std::nullopt: the provider has none.
    std::error_code provide_token(TimePoint now, std::optional<std::string> token);
    // Tears the current connection down under the session (AbortTransport)
    // and changes nothing else: the session learns of it from
    // on_transport_closed, as of any network failure. For tests and
    // benchmarks. invalid_state when no connection is open.
    std::error_code simulate_network_drop(TimePoint now);

    // ---- transport inputs ----
    std::error_code on_transport_open(TimePoint now, ConnectionId id, std::string_view subprotocol);
    std::error_code on_text(TimePoint now, ConnectionId id, std::string_view text);
    std::error_code on_binary(TimePoint now, ConnectionId id, std::size_t bytes);
    std::error_code on_pong(TimePoint now, ConnectionId id);
    std::error_code on_transport_closed(TimePoint now, ConnectionId id, const CloseInfo& info);

    // ---- timer ----
    void on_timeout(TimePoint now);
    std::optional<TimePoint> poll_timeout() const;

    // ---- outputs ----
    std::optional<Action> poll_action();
    std::optional<Event> poll_event();
    bool has_output() const { return !actions_.empty() || !events_.empty(); }

    State state() const { return state_; }
    Stats stats() const;
    const std::string& session_id() const { return session_id_; }
    ConnectionId connection() const { return conn_; }
    std::size_t outbox_size() const { return outbox_.size(); }
    const Heartbeat& heartbeat() const { return heartbeat_; }
    const Backoff& backoff() const { return backoff_; }
    std::uint64_t last_delivered_seq() const { return inbox_.last_delivered(); }
    // A gap (timer lateness, sleep) above this is a suspend.
    Duration late_timer_threshold() const;

private:
    std::error_code local_error(errc e);
    void set_state(TimePoint now, State to, std::error_code reason = {}, std::string detail = {},
                   Duration retry_in = Duration::zero());
    void begin_connect(TimePoint now, bool refresh_token);
    void open_transport(TimePoint now);
    void handle_frame(TimePoint now, ServerFrame&& frame);
    void handle_welcome(TimePoint now, Welcome&& w);
    void handle_msg(TimePoint now, ServerMsg&& m);
    void handle_ack(TimePoint now, const Ack& a);
    void protocol_violation(TimePoint now, std::error_code code, std::string detail);
    void connection_ended(TimePoint now, Reaction r, bool abort_transport);
    void fail_all(std::error_code reason);
    void flush_outbox();
    void flush_ack(TimePoint now, bool force);
    void finish_closing(TimePoint now);
    void drop_connection(TimePoint now, bool abort_transport);
    void connection_suspect(TimePoint now);
    void suspend_detected(TimePoint now); // counted, then as connection_suspect()
    void enter_backoff(TimePoint now, Duration delay, std::error_code reason, std::string detail);
    void terminate(TimePoint now, State to, std::error_code reason, std::string detail);
    void emit_send(std::string&& text);
    Reaction fail_if_stuck_on_oversized(Reaction r);
    void journal_result(std::error_code ec, const char* what);
    void store_behind(TimePoint now, std::uint64_t server_last_seq);
    // Generated message ids are id_prefix_ + the local id, formed on demand.
    using IdBuffer = std::array<char, 64>;
    std::string_view generated_id(MessageId local_id, IdBuffer& buf) const;
    std::string_view message_id(const Outbox::Entry& entry, IdBuffer& buf) const;
    bool is_current(ConnectionId id) const { return id != 0 && id == conn_; }

    SessionConfig config_;
    Rng& rng_;
    State state_ = State::idle;

    Backoff backoff_;
    Heartbeat heartbeat_;
    Outbox outbox_;
    Inbox inbox_;
    Stats stats_;

    ConnectionId conn_ = 0;        // current connection; 0 when none
    ConnectionId next_conn_ = 1;
    bool awaiting_token_ = false;
    bool token_refreshed_ = false;  // a refresh after token_expired has been tried
    std::uint64_t resume_attempts_ = 0; // hello.resume.attempt of the last resume sent
    // Connections in a row that ended on a message over a size limit (1009,
    // either side) with no delivery and no ack in between, and the progress
    // mark (delivered + acked) they ended at. See kOversizedRepeatsBeforeFail.
    std::uint32_t oversized_streak_ = 0;
    std::uint64_t oversized_mark_ = 0;
    std::optional<std::string> token_;
    bool was_ready_ = false;        // ready at least once (for the reconnects counter)
    bool resume_requested_ = false;
    bool refresh_on_connect_ = false; // next connect asks for a fresh token
    bool token_refresh_pending_ = false; // the outstanding FetchToken is a refresh
    bool bye_sent_ = false;
    TimePoint suspect_since_{};     // the last suspend handled; late timers count from here

    std::string session_id_;
    std::string resume_token_;

    std::string id_prefix_;         // generated message ids: prefix + counter
    MessageId next_local_id_ = 1;
    std::vector<MessageId> acked_scratch_;

    TimerTable<SessionTimer> timers_;
    Journal* journal_ = nullptr;
    std::string lost_to_store_behind_; // a session given up because the store was behind the server

    Fifo<Action> actions_;
    Fifo<Event> events_;
};

} // namespace tether::core
