// tether::Client — a WebSocket conversation that survives disconnects.
//
// The client connects, authenticates, and keeps the session alive: it
// reconnects with jittered backoff, resumes the session, and re-sends every
// message the server has not acknowledged, so that while the session can be
// resumed nothing is lost, duplicated or reordered. See docs/getting-started.md.
//
// Thread safety: every member function may be called from any thread,
// concurrently. Callbacks run on the client's io thread (one at a time, in
// order) with no SDK lock held, so they may call back into the client.
// Destroying the client from inside its own callback is safe: no further
// callback runs, and the destructor does not wait for itself. From any other
// thread the destructor waits for a running callback to finish, and no
// callback runs after it returns.
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

// Callbacks; any may be empty. They run on the io thread, never concurrently.
struct Callbacks {
    std::function<void(const StateChange&)> on_state;
    std::function<void(const Message&)> on_message;
    std::function<void(MessageId)> on_acked;
    std::function<void(MessageId, const std::string& message_id, std::error_code)> on_failed;
    std::function<void(const std::string& session)> on_resumed;
    std::function<void(const SessionLostInfo&)> on_session_lost;
    std::function<void(std::error_code, const std::string& detail)> on_error;
};

class EventLoop;

// How Message carries its payload: as a DOM (Message::data, the default), or
// as compact JSON text (Message::data_json) for code that passes the text on
// (the C ABI and the bindings over it), which then costs no DOM and no dump.
enum class MessageData { json, text };

struct ClientOptions {
    std::string url; // ws://host:port/path or wss://...
    std::vector<std::pair<std::string, std::string>> headers; // extra upgrade headers
    std::optional<std::string> token;  // sent in hello
    TokenProvider token_provider;      // overrides `token`: asked before each connection
    std::string client_name = "tether-cpp";
    std::string client_version = TETHER_VERSION_STRING;

    HeartbeatOptions heartbeat;
    BackoffOptions backoff;
    OutboxOptions outbox;
    AckOptions acks;
    TimeoutOptions timeouts;
    TlsOptions tls;
    ProxyOptions proxy;
    std::size_t max_inbound_message_bytes = 16 * 1024 * 1024;
    MessageData message_data = MessageData::json;

    LogSink log;                     // empty: logs are dropped
    LogLevel log_level = LogLevel::info;

    // Share one io thread (or the application's asio::io_context, see
    // tether/asio.hpp) among many clients. Empty: the client runs its own.
    std::shared_ptr<EventLoop> loop;

    Callbacks callbacks;
};

// An io thread (or an application io_context) that clients run on.
// Thread safety: safe from any thread; it lives as long as any client uses it.
class EventLoop {
public:
    // Starts one io thread, which stops when the last reference goes away.
    static std::shared_ptr<EventLoop> create();
    // Wraps an asio::io_context* the application runs (see tether/asio.hpp,
    // which offers the typed overload). The context must outlive the loop.
    static std::shared_ptr<EventLoop> wrap_native(void* asio_io_context);
    ~EventLoop();

    struct Impl;
    explicit EventLoop(std::unique_ptr<Impl> impl);
    Impl& impl() { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

// The outcome of send(): a message id, or why the message was refused.
struct SendResult {
    MessageId id = 0;
    std::error_code error;
    std::string detail;
    explicit operator bool() const noexcept { return !error; }
};

class Client {
public:
    // Throws std::system_error (errc::invalid_argument, with the reason) for
    // invalid options. Use create() to get the error without exceptions.
    explicit Client(ClientOptions options);
    static std::unique_ptr<Client> create(ClientOptions options, std::error_code& ec, std::string* detail = nullptr);
    ~Client();

    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts connecting; afterwards the client reconnects by itself.
    std::error_code connect();

    // Queues a message; it goes out as soon as the session is ready and is
    // re-sent until acknowledged. Works in every state but closing/closed/
    // failed. `message_id`: an idempotency key; empty generates one.
    SendResult send(const nlohmann::json& data, std::string_view message_id = {});
    // The same for JSON text the caller serialized; it is validated.
    SendResult send_json(std::string_view json_text, std::string_view message_id = {});

    // Graceful: waits (asynchronously) up to `drain` for the outbox to be
    // acknowledged, then says bye and closes; remaining messages fail with
    // errc::closed. Watch on_state for closed, or use wait_until_terminal().
    std::error_code close(std::optional<Milliseconds> drain = std::nullopt);
    // Immediate: drops the connection, fails queued messages, state closed.
    std::error_code abort();
    // Skip the backoff wait (e.g. the OS says the network is back), or
    // replace the current connection with a fresh one.
    std::error_code reconnect_now();
    // Cuts the transport as a network failure would (QA and tests); the
    // client then reconnects and resumes as usual.
    std::error_code simulate_network_drop();

    State state() const;
    Stats stats() const;
    std::string session_id() const;

    // Blocks until the state is closed or failed and the callbacks reporting
    // it (on_failed for messages left, on_state) have run, or the timeout
    // passes. Returns the state reached. From a callback it returns the
    // current state at once (the io thread cannot wait for itself).
    State wait_until_terminal(Milliseconds timeout) const;

    class Impl;

private:
    std::shared_ptr<Impl> impl_;
};

} // namespace tether
