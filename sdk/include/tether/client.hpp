/// @file
/// tether::Client — a WebSocket conversation that survives disconnects.
///
/// The client connects, authenticates, and keeps the session alive: it
/// reconnects with jittered backoff, resumes the session, and re-sends every
/// message the server has not acknowledged, so that while the session can be
/// resumed nothing is lost, duplicated or reordered. See docs/getting-started.md.
///
/// Thread safety: every member function may be called from any thread,
/// concurrently. Callbacks run on the client's io thread (one at a time, in
/// order) with no SDK lock held, so they may call back into the client.
/// Destroying the client from inside its own callback is safe: no further
/// callback runs, and the destructor does not wait for itself. From any other
/// thread the destructor waits for a running callback to finish; when it
/// returns no callback runs, the connection is gone and the store (if any)
/// is closed, so a new Client may open it at once.
///
/// Persistence (ClientOptions::persistence): the session and every unacked
/// message live in a store file, written once per io-loop turn before that
/// turn's frames go out. A Client constructed on an existing store resumes
/// from it (recovered()). Destroying the Client keeps the store for the next
/// one; close() and abort() end its session and fail its messages. Across a
/// crash, delivery to on_message is at-least-once and never has a gap: a msg
/// counts as processed once on_message returned, so dedupe by Message::seq.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tether/error.hpp"
#include "tether/events.hpp"
#include "tether/options.hpp"
#include "tether/version.hpp"

namespace tether {

/// Callbacks; any may be empty. They run on the io thread, never concurrently.
struct Callbacks {
    std::function<void(const StateChange&)> on_state; ///< every state change, in order
    std::function<void(const Message&)> on_message;   ///< a server message, once, in order within a session
    std::function<void(MessageId)> on_acked;          ///< the server acknowledged this sent message
    /// This sent message will never be delivered (its id, its idempotency key, why).
    std::function<void(MessageId, const std::string& message_id, std::error_code)> on_failed;
    std::function<void(const std::string& session)> on_resumed; ///< a reconnect resumed the session
    std::function<void(const SessionLostInfo&)> on_session_lost; ///< resume was refused: a new session
    /// Reported for information (e.g. a protocol error); the client carries on.
    std::function<void(std::error_code, const std::string& detail)> on_error;
    /// Persistence only: every message whose id is <= `through` is in the
    /// store (at its Durability) or already acknowledged.
    std::function<void(MessageId through)> on_durable;
    /// This message's frame was handed to the transport (before on_acked).
    /// Fires again on every re-send (after a reconnect). Costs nothing when empty.
    std::function<void(MessageId)> on_sent;
};

class EventLoop;

/// How Message carries its payload: as a DOM (Message::data, the default), or
/// as compact JSON text (Message::data_json) for code that passes the text on
/// (the C ABI and the bindings over it), which then costs no DOM and no dump.
enum class MessageData {
    json, ///< Message::data
    text, ///< Message::data_json
};

/// Everything a Client is configured with; docs/configuration.md gives each
/// field's default and why. Copied by the Client at construction.
struct ClientOptions {
    std::string url; ///< ws://host:port/path or wss://...
    std::vector<std::pair<std::string, std::string>> headers; ///< extra upgrade headers
    std::optional<std::string> token;  ///< sent in hello
    TokenProvider token_provider;      ///< overrides `token`: asked before each connection
    std::string client_name = "tether-cpp";           ///< sent in hello
    std::string client_version = TETHER_VERSION_STRING; ///< sent in hello

    HeartbeatOptions heartbeat; ///< pings and the liveness deadline
    BackoffOptions backoff;     ///< reconnect delays
    OutboxOptions outbox;       ///< bounds of the queue of unacknowledged messages
    AckOptions acks;            ///< how often received messages are acknowledged
    TimeoutOptions timeouts;    ///< connect, hello and close deadlines
    TlsOptions tls;             ///< wss:// verification and client certificates
    ProxyOptions proxy;         ///< HTTP CONNECT proxy
    PersistenceOptions persistence; ///< survive a process restart (off by default)
    std::size_t max_inbound_message_bytes = 16 * 1024 * 1024; ///< larger server messages close the connection
    MessageData message_data = MessageData::json; ///< how Message carries the payload

    LogSink log;                     ///< empty: logs are dropped
    LogLevel log_level = LogLevel::info; ///< the least severe level passed to `log`

    /// Share one io thread (or the application's asio::io_context, see
    /// tether/asio.hpp) among many clients. Empty: the client runs its own.
    std::shared_ptr<EventLoop> loop;

    Callbacks callbacks; ///< what the application is told, on the io thread
};

/// An io thread (or an application io_context) that clients run on.
/// Thread safety: safe from any thread; it lives as long as any client uses it.
class EventLoop {
public:
    /// Starts one io thread, which stops when the last reference goes away.
    /// @return the new loop, to put in ClientOptions::loop
    static std::shared_ptr<EventLoop> create();
    /// Wraps an asio::io_context* the application runs (see tether/asio.hpp,
    /// which offers the typed overload). The context must outlive the loop.
    /// @param asio_io_context an `asio::io_context*`; the application runs it
    /// @return the loop, to put in ClientOptions::loop
    static std::shared_ptr<EventLoop> wrap_native(void* asio_io_context);
    ~EventLoop(); ///< stops the io thread it started, if any

    /// @cond INTERNAL
    struct Impl;
    explicit EventLoop(std::unique_ptr<Impl> impl);
    Impl& impl() { return *impl_; }
    /// @endcond

private:
    std::unique_ptr<Impl> impl_;
};

/// What a Client found in its persistence store when it was constructed.
struct Recovered {
    bool created = false;        ///< the store file was new
    std::string session;         ///< the stored session, resumed by connect(); empty: none
    std::size_t messages = 0;    ///< unacknowledged messages loaded; they have ids 1..messages
    std::size_t bytes = 0;       ///< their bytes (ids + payloads)
    std::uint64_t queued_total = 0; ///< messages ever queued on this store, acked ones included
    std::vector<std::string> message_ids; ///< their idempotency keys: message_ids[i] has id i + 1
};

/// The outcome of send(): a message id, or why the message was refused.
struct SendResult {
    MessageId id = 0;      ///< names the message in on_acked/on_failed; 0 when refused
    std::error_code error; ///< why it was refused (a local tether::errc)
    std::string detail;    ///< more about `error`
    explicit operator bool() const noexcept { return !error; } ///< true when queued
};

/// A WebSocket conversation that survives disconnects (see the file's
/// description for threads and callbacks).
class Client {
public:
    /// Throws std::system_error (errc::invalid_argument, with the reason) for
    /// invalid options. Use create() to get the error without exceptions.
    /// @param options copied; the client starts idle (call connect())
    explicit Client(ClientOptions options);
    /// Like the constructor, without exceptions.
    /// @param options copied; the client starts idle
    /// @param ec set to the error when the options are invalid
    /// @param detail when not null, set to the reason
    /// @return the client, or null with `ec` set
    static std::unique_ptr<Client> create(ClientOptions options, std::error_code& ec, std::string* detail = nullptr);
    ~Client(); ///< aborts; see the file's description for callbacks running meanwhile

    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Starts connecting; afterwards the client reconnects by itself.
    /// @return errc::invalid_state unless idle
    std::error_code connect();

    /// Queues a message; it goes out as soon as the session is ready and is
    /// re-sent until acknowledged. Works in every state but closing/closed/
    /// failed.
    /// @param data any JSON value
    /// @param message_id an idempotency key; empty generates one
    /// @return the message's id, or why it was refused (outbox_full, ...)
    SendResult send(const nlohmann::json& data, std::string_view message_id = {});
    /// The same for JSON text the caller serialized; it is validated.
    /// @param json_text one JSON value as UTF-8 text
    /// @param message_id an idempotency key; empty generates one
    /// @return the message's id, or why it was refused (invalid_json, ...)
    SendResult send_json(std::string_view json_text, std::string_view message_id = {});

    /// Graceful: waits (asynchronously) up to `drain` for the outbox to be
    /// acknowledged, then says bye and closes; remaining messages fail with
    /// errc::closed. Watch on_state for closed, or use wait_until_terminal().
    /// @param drain how long to wait for acks; empty: TimeoutOptions::close_drain
    /// @return errc::invalid_state while closing, errc::closed when terminal
    std::error_code close(std::optional<Milliseconds> drain = std::nullopt);
    /// Immediate: drops the connection, fails queued messages, state closed.
    /// @return errc::closed when already terminal
    std::error_code abort();
    /// Skip the backoff wait (e.g. the OS says the network is back), or
    /// replace the current connection with a fresh one.
    /// @return errc::invalid_state when idle, errc::closed while closing or terminal
    std::error_code reconnect_now();
    /// A hint that the network changed: a ready connection is probed (a ping
    /// answered within HeartbeatOptions::probe_timeout, else it is replaced);
    /// in backoff the client connects now, not counted as a failed attempt; a
    /// connection attempt in progress is restarted.
    /// @return errc::invalid_state when idle, errc::closed while closing or terminal
    std::error_code network_changed();
    /// Cuts the transport as a network failure would (QA and tests); the
    /// client then reconnects and resumes as usual.
    /// @return errc::invalid_state when there is no connection to cut
    std::error_code simulate_network_drop();

    /// @return the current state
    State state() const;
    /// @return a snapshot of the counters
    Stats stats() const;
    /// @return the current session's id; empty before the first welcome
    std::string session_id() const;
    /// @return what the persistence store held at construction (empty without persistence)
    const Recovered& recovered() const;

    /// Blocks until the state is closed or failed and the callbacks reporting
    /// it (on_failed for messages left, on_state) have run, or the timeout
    /// passes. Returns the state reached. From a callback it returns the
    /// current state at once (the io thread cannot wait for itself).
    /// @param timeout how long to wait at most
    /// @return the state when it returned
    State wait_until_terminal(Milliseconds timeout) const;

    /// @cond INTERNAL
    class Impl;
    /// @endcond

private:
    struct Checked {}; // create(): options already checked (a tag, so Client({}) stays unambiguous)
    Client(Checked, std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

} // namespace tether
