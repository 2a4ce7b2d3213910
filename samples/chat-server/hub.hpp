// ProtocolServer: the sans-I/O server side of tether.v1, every connection and
// session of the reference chat server (server.cpp is its I/O driver).
//
// Theory of operation
// - The driver (server.cpp, or a test) feeds inputs: on_open / on_text /
//   on_binary / on_activity / on_closed for connections it owns, and
//   on_timeout() when next_timeout() has passed. Every input takes `now`; it
//   never reads a clock, never does I/O, never draws its own randomness.
// - After each input the driver drains take_actions() in order and executes
//   them (send, ping, close handshake, terminate), then re-arms its single
//   timer from next_timeout().
// - A connection is one WebSocket; a session is the unit of reliability and
//   outlives its connections (resume, takeover, TTL after a drop). Each
//   direction numbers its msgs 1, 2, 3, ... Server msgs stay in a bounded
//   per-session replay buffer until the client acks them.
// - A connection the server has asked to close is "closing": further input on it
//   is ignored until the driver reports on_closed().
//
// Decisions (where docs/protocol.md leaves room)
// - hello with v != 1 (the codec reports errc::protocol_version): error
//   `protocol_version`, close 1002. Anything else malformed: error
//   `bad_frame`, close 4008.
// - A frame of unknown type is ignored and counted, even before hello.
// - No hello within `hello_timeout`: error `bad_frame`, close 4008.
// - A resume whose token matches but whose replay range is gone frees the old
//   session (closing its connection with 4009 if it still has one) and starts a
//   new one. A resume with a wrong token never touches the old session.
// - Duplicates count towards the ack batch and force an ack even when the
//   cumulative value did not move ("acked again").
// - The welcome of a resumed session acks everything up to its last_seq.
// - Echo replies carry the client's id both in data and as the frame-level id.
// - Pushes and room messages are queued for detached sessions too (until their
//   TTL ends), so they count against the replay buffer.
// - The replay buffer is also the send queue. A connection is handed msgs
//   while its transport holds fewer than `send_window_bytes` unsent (the
//   driver reports that with on_unsent); the rest wait in the replay buffer.
//   So a peer that stops reading costs at most the window in the transport,
//   and a resume's replay goes out as fast as the peer takes it. If msgs a
//   connection is owed leave the replay buffer before it took them, the
//   connection is dropped: its resume fails and the client gets a new session.
//
// Thread safety: none. A ProtocolServer is a plain value owned by one thread
// (the server's io thread); the driver serializes every call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tether/protocol.hpp"

namespace tether::chat {

using core::TimePoint;
using Millis = std::chrono::milliseconds;
using ConnId = std::uint64_t; // chosen by the driver; 0 is never valid

struct ProtocolServerOptions {
    std::vector<std::string> tokens;         // non-empty: hello.token must be one of these
    std::vector<std::string> expired_tokens; // hello.token in here -> token_expired, 4002
    bool check_hello_token = true;           // false when auth happens at the upgrade
    bool echo = false;                       // echo mode instead of rooms
    Millis heartbeat{15000};                 // ping interval; 0 disables pings and liveness
    Millis session_ttl{60000};               // how long a detached session survives
    std::size_t replay_buffer = 10000;       // server msgs kept per session for resume
    Millis push_interval{0};                 // 0: no pushes
    std::size_t ack_batch_count = 32;        // ack at once after this many client msgs
    Millis ack_batch_delay{50};              // ... or this long after the first unacked one
    Millis hello_timeout{10000};
    std::size_t max_message_bytes = 16 * 1024 * 1024; // decoder limit
    std::size_t send_window_bytes = 4 * 1024 * 1024;  // msg bytes a transport may hold unsent (0: no limit)
};

// What the driver must do, in order.
struct Action {
    enum class Kind : std::uint8_t {
        send_text, // send `text` as a text frame
        ping,      // send a WebSocket ping
        close,     // start a close handshake with `code` and `text` as reason
        terminate, // drop the TCP connection now (dead link: no handshake)
    };
    Kind kind = Kind::send_text;
    ConnId conn = 0;
    std::string text;
    std::uint16_t code = 0;
};

struct ProtocolServerStats {
    std::uint64_t connections_total = 0;
    std::uint64_t connections_open = 0;
    std::uint64_t sessions_created = 0;
    std::uint64_t sessions_open = 0;
    std::uint64_t sessions_expired = 0;
    std::uint64_t resumes = 0;         // welcome resumed:true
    std::uint64_t resume_misses = 0;   // resume asked, new session given
    std::uint64_t takeovers = 0;
    std::uint64_t stale_resumes_superseded = 0; // resumed with the previous token over a stale hello (§5)
    std::uint64_t auth_failures = 0;   // unauthorized + token_expired
    std::uint64_t bad_frames = 0;
    std::uint64_t unknown_frames = 0;
    std::uint64_t msgs_in = 0;         // client msgs processed
    std::uint64_t msgs_in_duplicate = 0;
    std::uint64_t msgs_out = 0;        // server msg frames written (first sends and replays)
    std::uint64_t msgs_replayed = 0;
    std::uint64_t replay_dropped = 0;  // evicted from a full replay buffer
    std::uint64_t sends_held = 0;      // times a connection's window filled and msgs waited
    std::uint64_t window_overruns = 0; // connections dropped: msgs they were owed were evicted unsent
    std::uint64_t acks_out = 0;
    std::uint64_t liveness_timeouts = 0;
};

class ProtocolServer {
public:
    // `make_secret` returns a fresh unguessable string; it names sessions and
    // forms resume tokens (the server seeds it from a CSPRNG, tests script it).
    ProtocolServer(ProtocolServerOptions options, std::function<std::string()> make_secret);

    void on_open(ConnId conn, TimePoint now);
    void on_text(ConnId conn, std::string_view text, TimePoint now);
    void on_binary(ConnId conn, TimePoint now);
    // A ping or pong arrived: the link is alive.
    void on_activity(ConnId conn, TimePoint now);
    // The connection is gone (closed, failed or terminated). Idempotent.
    void on_closed(ConnId conn, TimePoint now);

    std::optional<TimePoint> next_timeout() const;
    void on_timeout(TimePoint now);

    // The transport of `conn` holds `unsent_bytes` not yet written. Msgs held
    // back by the send window go out as it falls below send_window_bytes.
    void on_unsent(ConnId conn, std::size_t unsent_bytes, TimePoint now);
    // Connections with msgs held back: the driver reports their unsent bytes
    // again until this no longer lists them.
    const std::set<ConnId>& held_connections() const { return held_; }

    // Graceful stop: flush acks, close every connection 1001 "going away",
    // close any later connection the same way.
    void shutdown(TimePoint now);

    std::vector<Action> take_actions();
    bool has_actions() const { return !actions_.empty(); }

    const ProtocolServerStats& stats() const { return stats_; }
    const ProtocolServerOptions& options() const { return options_; }
    std::size_t session_count() const { return sessions_.size(); }
    std::size_t connection_count() const { return conns_.size(); }

private:
    using SessionKey = std::uint64_t; // internal, never on the wire; 0: none

    struct Replayed {
        std::uint64_t seq;
        std::string text; // the encoded msg frame, resent verbatim
    };

    struct Session {
        SessionKey key = 0;
        std::string id;
        std::string resume_token;
        // The token the attached connection's hello consumed, and that hello's
        // resume.attempt: a newer attempt of the same client may still use it
        // (its stale hello got there first; protocol.md §5).
        std::string previous_resume_token;
        std::uint64_t attached_attempt = 0;
        ConnId conn = 0;                   // 0: detached
        std::uint64_t in_last = 0;         // highest client seq processed
        std::uint64_t in_acked = 0;        // highest client seq acked on the wire
        std::size_t ack_pending = 0;       // client msgs (incl. duplicates) since the last ack
        std::optional<TimePoint> ack_due;  // flush deadline while ack_pending > 0
        std::uint64_t out_last = 0;        // highest server seq assigned
        std::uint64_t sent_upto = 0;       // highest seq handed to the attached connection
        std::deque<Replayed> replay;       // contiguous, ends at out_last
        std::optional<TimePoint> expires;  // set while detached
        std::uint64_t push_count = 0;
        std::optional<TimePoint> next_push;
        std::set<std::string> rooms;
        std::optional<TimePoint> armed;    // deadline in timers_, if any
    };

    enum class ConnState : std::uint8_t { awaiting_hello, attached, closing };

    struct Conn {
        ConnId id = 0;
        ConnState state = ConnState::awaiting_hello;
        SessionKey session = 0;
        TimePoint opened;
        TimePoint last_inbound;
        std::optional<TimePoint> next_ping;
        std::optional<TimePoint> armed;
        std::size_t unsent = 0; // transport backlog as last reported, plus msgs handed over since
    };

    enum class TimerOwner : std::uint8_t { conn, session };
    using TimerEntry = std::tuple<TimePoint, TimerOwner, std::uint64_t>;

    // input handling
    void handle_hello(Conn& c, const core::Hello& hello, TimePoint now);
    void handle_msg(Conn& c, Session& s, std::uint64_t seq, const std::string& id, const std::string& data_json,
                    TimePoint now);
    void handle_ack(Conn& c, Session& s, std::uint64_t seq, TimePoint now);
    void app_receive(Session& s, const std::string& id, const std::string& data_json, TimePoint now);

    // sessions
    Session& create_session(TimePoint now);
    void attach(Conn& c, Session& s, bool resumed, std::uint64_t client_last_seq, std::uint64_t attempt);
    void detach(Session& s, TimePoint now);
    void destroy_session(SessionKey key);
    void send_server_msg(Session& s, const nlohmann::json& data, const std::optional<std::string>& id,
                         TimePoint now);
    // `data_json`: the payload as nlohmann's compact dump (spliced verbatim).
    void send_server_msg_json(Session& s, std::string_view data_json, const std::optional<std::string>& id,
                              TimePoint now);
    // Hands the attached connection the msgs after sent_upto that fit its window.
    void feed(Session& s);
    void flush_ack(Session& s);
    void trim_replay(Session& s, std::uint64_t upto);

    // connections
    // Flushes pending acks, sends `error` if given, then closes; the session detaches.
    void close_conn(Conn& c, std::uint16_t code, const std::string& reason, TimePoint now,
                    const core::ErrorFrame* error = nullptr);
    void protocol_error(Conn& c, const char* code, std::uint16_t close_code, std::string message, TimePoint now);
    void send(ConnId conn, std::string text);
    // Drops the connection at once, without a close handshake.
    void terminate_conn(Conn& c, TimePoint now);
    // Marks `c` closing (input on it is ignored from now) and queues `how`.
    void end_conn(Conn& c, Action::Kind how, std::uint16_t code, const std::string& reason);
    Conn* find_conn(ConnId id);
    Session* find_session(SessionKey key);
    Session* session_of(Conn& c);

    // timers: one ordered set, one entry per object at its earliest deadline
    void rearm(Conn& c);
    void rearm(Session& s);
    void arm(std::optional<TimePoint>& armed, std::optional<TimePoint> want, TimerOwner owner, std::uint64_t key);
    void disarm(std::optional<TimePoint>& armed, TimerOwner owner, std::uint64_t key);
    void fire(Conn& c, TimePoint now);
    void fire(Session& s, TimePoint now);

    ProtocolServerOptions options_;
    std::function<std::string()> make_secret_;
    std::unordered_map<ConnId, Conn> conns_;
    std::unordered_map<SessionKey, Session> sessions_;
    std::unordered_map<std::string, SessionKey> session_ids_;
    std::map<std::string, std::set<SessionKey>> rooms_;
    std::set<TimerEntry> timers_;
    std::set<ConnId> held_; // attached connections with msgs waiting for window
    std::vector<Action> actions_;
    SessionKey next_session_key_ = 1;
    bool shutting_down_ = false;
    ProtocolServerStats stats_;
};

} // namespace tether::chat
