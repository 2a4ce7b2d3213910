/// @file
/// The client's vocabulary: its states, the events it reports, its counters.
///
/// One definition each. The sans-I/O core (sdk/src/core) produces these very
/// types and tether::Client hands them to the application unchanged; the C
/// ABI (tether.h) mirrors them, tied by static_asserts in bindings/c, and the
/// Python and C# mirrors are checked against tether.h by a test.
///
/// Thread safety: plain values; no internal synchronization.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

namespace tether {

using MessageId = std::uint64_t; ///< local handle for a sent message; never 0

/// The client's states (docs/protocol.md §1). Appended only; the values are
/// the C ABI's TETHER_STATE_*.
enum class State {
    idle,           ///< created, connect() not called yet
    connecting,     ///< DNS, TCP, TLS, WebSocket upgrade
    authenticating, ///< hello sent, waiting for welcome
    ready,          ///< the session is up; messages flow
    backoff,        ///< waiting before the next attempt
    closing,        ///< close(): draining the outbox, then bye
    closed,         ///< terminal: closed by the application or the server
    failed,         ///< terminal: gave up (auth refused, attempts exhausted, ...)
};
inline constexpr int kStateCount = static_cast<int>(State::failed) + 1; ///< number of states
/// @param s a state
/// @return "idle", "ready", ...; "unknown" for a value outside the enum
const char* to_string(State s) noexcept;
/// @param s a state
/// @return true for closed and failed, the states a client never leaves
inline bool is_terminal(State s) noexcept { return s == State::closed || s == State::failed; }

/// One state change, as on_state reports it.
struct StateChange {
    State from = State::idle;  ///< the state left
    State to = State::idle;    ///< the state entered
    std::error_code reason;    ///< why, when it was not normal progress
    std::string detail;        ///< more about `reason`
    std::chrono::milliseconds retry_in{0}; ///< to == backoff: delay before the next attempt
    std::uint32_t attempt = 0; ///< to == backoff/connecting: consecutive failed attempts so far
};

/// A message from the server, delivered once and in order within a session.
struct Message {
    std::uint64_t seq = 0; ///< the server's sequence number in this session
    nlohmann::json data;   ///< the payload (null with MessageData::text)
    std::optional<std::string> id; ///< the originating message id, when the server relays one
    /// ClientOptions::message_data == MessageData::text: the payload as compact
    /// JSON text, and `data` stays null.
    std::string data_json{};
};

/// The server refused to resume: what was lost and what replaced it.
struct SessionLostInfo {
    std::string previous_session; ///< the session that could not be resumed
    std::string new_session;      ///< the session that replaced it
    std::size_t unacked = 0; ///< messages re-sent (policy resend) or failed (policy fail)
};

/// Every counter of Stats, in order: X(name). Code that mirrors Stats (the C
/// ABI's tether_stats) expands this list instead of naming the fields again.
#define TETHER_STATS_FIELDS(X)                                                                                       \
    X(connect_attempts)                                                                                              \
    X(connects)           /* transports opened */                                                                    \
    X(reconnects)         /* ready again after having been ready */                                                 \
    X(resumes)                                                                                                       \
    X(sessions_lost)                                                                                                 \
    X(messages_sent)      /* accepted by send() */                                                                   \
    X(messages_acked)                                                                                                \
    X(messages_failed)                                                                                               \
    X(messages_received)  /* delivered to the application */                                                         \
    X(frames_resent)                                                                                                 \
    X(duplicates_dropped)                                                                                            \
    X(protocol_errors)    /* peer violations */                                                                      \
    X(unknown_frames)                                                                                                \
    X(caller_errors)      /* rejected calls (local errors) */                                                        \
    X(pings_sent)                                                                                                    \
    X(acks_sent)                                                                                                     \
    X(frames_in)                                                                                                     \
    X(frames_out)                                                                                                    \
    X(bytes_in)                                                                                                      \
    X(bytes_out)                                                                                                     \
    X(outbox_depth)                                                                                                  \
    X(outbox_bytes)                                                                                                  \
    X(outbox_high_water)                                                                                             \
    X(suspends_detected)  /* late timers and suspends seen by the driver */

/// A snapshot of the client's counters (all std::uint64_t, starting at 0).
struct Stats {
#define TETHER_STATS_MEMBER_(name) std::uint64_t name = 0;
    TETHER_STATS_FIELDS(TETHER_STATS_MEMBER_)
#undef TETHER_STATS_MEMBER_
};

} // namespace tether
