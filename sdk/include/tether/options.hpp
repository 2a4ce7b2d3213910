/// @file
/// Configuration for tether::Client. Plain values: copy them, tweak them,
/// pass them to Client. Every field has a production default; see
/// docs/configuration.md for the reasoning behind each one.
///
/// Thread safety: plain data; no internal synchronization.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

using Milliseconds = std::chrono::milliseconds; ///< every duration in the options

/// Severity of a log line, least severe first.
enum class LogLevel { trace = 0, debug = 1, info = 2, warn = 3, error = 4 };

/// Called on the client's io thread. Must not block for long.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

/// wss:// settings. By default the peer and its host name are verified against the system store.
struct TlsOptions {
    std::string ca_file;   ///< PEM bundle; empty: the system store
    std::string ca_dir;    ///< hashed CA directory; empty: the system store
    std::string cert_file; ///< client certificate (mTLS), PEM
    std::string key_file;  ///< client private key (mTLS), PEM
    /// Optional SPKI pins: base64 SHA-256 of the server's SubjectPublicKeyInfo.
    /// When non-empty, the leaf must match one of them (in addition to normal
    /// verification).
    std::vector<std::string> pinned_spki_sha256;
    /// Disables certificate and host name verification. For tests only; logged
    /// at warn level on every connection.
    bool insecure_skip_verify = false;
};

/// An HTTP CONNECT proxy for the connection.
struct ProxyOptions {
    std::string url;      ///< http://host:port of an HTTP CONNECT proxy; empty: none
    std::string username; ///< basic auth
    std::string password; ///< basic auth
};

/// Pings, and how long the connection may stay silent before it counts as dead.
struct HeartbeatOptions {
    Milliseconds interval{15000}; ///< ping period; a server's heartbeat_ms overrides it
    Milliseconds timeout{0};      ///< liveness deadline; 0 = 2 x interval. Must exceed interval.
    /// After network_changed() or a detected suspend: a ping must be answered
    /// (or any frame arrive) within this, else the connection is replaced.
    Milliseconds probe_timeout{3000};
};

/// Reconnect delays: full jitter over an exponentially growing window.
struct BackoffOptions {
    Milliseconds base{250};  ///< the first window
    Milliseconds max{30000}; ///< the largest window
    Milliseconds stable_after{10000}; ///< ready this long resets the attempt counter
    std::uint32_t max_attempts = 0;   ///< consecutive failed attempts before failed; 0 = unlimited
};

/// What happens to unacknowledged messages when the server refuses to resume.
enum class SessionLostPolicy {
    resend, ///< re-send unacked messages in the new session: new seqs, same ids (at-least-once)
    fail,   ///< report each unacked message as failed with session_lost
};

/// Bounds of the queue of messages not yet acknowledged; send() refuses
/// (outbox_full, message_too_large) beyond them.
struct OutboxOptions {
    std::size_t max_messages = 100000;           ///< messages queued at most
    std::size_t max_bytes = 64 * 1024 * 1024;    ///< their bytes at most
    std::size_t max_message_bytes = 1024 * 1024; ///< one message at most
    std::size_t max_in_flight = 1024; ///< unacked msg frames on the wire at once
    SessionLostPolicy on_session_lost = SessionLostPolicy::resend; ///< when resume is refused
};

/// How the client acknowledges what it received: after this many messages,
/// or this long after the first unacknowledged one.
struct AckOptions {
    std::uint32_t every_messages = 32; ///< ack after this many messages
    Milliseconds max_delay{50};        ///< or after this long
};

/// Deadlines of the connection steps and of close().
struct TimeoutOptions {
    Milliseconds connect{10000};    ///< DNS + TCP + TLS + upgrade
    Milliseconds hello{10000};      ///< hello -> welcome
    Milliseconds close_drain{5000}; ///< default drain for close()
    Milliseconds close{1000};       ///< bye sent -> connection closed; then it is torn down
};

/// What a commit of the persistence store guarantees (docs/persistence.md).
enum class Durability {
    off,    ///< survives a process crash; a power cut can lose recent commits and corrupt the file
    normal, ///< survives a process crash; a power cut can roll back recent commits, never corrupt (default)
    full,   ///< every commit is on the disk before its frames go out (one fsync per commit)
};

/// Keeps the session and every unacknowledged message in a SQLite file, so a
/// new Client on the same file (after a crash, a kill or a restart) resumes
/// the session and re-sends them. Off unless `path` is set.
struct PersistenceOptions {
    std::string path;                       ///< the store file (created 0600); empty: nothing persisted
    Durability durability = Durability::normal; ///< what each commit survives
    /// Commits at most this often (group commit): frames that depend on a
    /// change wait for its commit, at most this long. Zero: every io-loop turn.
    Milliseconds commit_interval{1};
};

/// Asked on the io thread before each hello. `refresh` is true after the server
/// said token_expired. Return std::nullopt when there is no token.
using TokenProvider = std::function<std::optional<std::string>(bool refresh)>;

} // namespace tether
