// The WebSocket transport as the driver sees it: open/send/ping/close/abort
// keyed by ConnectionId, and events back. It translates between websocketpp
// and the core; it never decides (no retries, no timers of its own beyond
// websocketpp's connect/handshake timeouts).
//
// Thread safety: every method, and the destructor, must be called on the
// strand given at creation, and every TransportEvents callback is invoked on
// that strand. Events for a
// connection stop after on_closed() for it (exactly one on_closed per open()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/close_info.hpp"
#include "tether/options.hpp"
#include "transport/reactor.hpp"

namespace tether::transport {

using core::CloseInfo;
using core::ConnectionId;

struct TransportOptions {
    TlsOptions tls;
    ProxyOptions proxy;
    std::size_t max_message_bytes = 16 * 1024 * 1024; // inbound; larger -> close 1009 + message_too_big
    Milliseconds connect_timeout{10000};              // DNS + TCP + TLS + upgrade
    std::string user_agent = "tether/0.1";
    LogSink log; // may be empty
};

struct OpenRequest {
    std::string url; // ws:// or wss://
    std::vector<std::pair<std::string, std::string>> headers;
    std::string subprotocol; // offered in Sec-WebSocket-Protocol; empty: none
};

class TransportEvents {
public:
    virtual ~TransportEvents() = default;
    virtual void on_open(ConnectionId id, const std::string& selected_subprotocol) = 0;
    virtual void on_text(ConnectionId id, std::string&& text) = 0;
    virtual void on_binary(ConnectionId id, std::size_t bytes) = 0;
    virtual void on_pong(ConnectionId id) = 0; // liveness only
    virtual void on_closed(ConnectionId id, const CloseInfo& info) = 0;
};

class Transport {
public:
    virtual ~Transport() = default;
    virtual void open(ConnectionId id, const OpenRequest& request) = 0;
    virtual void send_text(ConnectionId id, std::string text) = 0;
    virtual void ping(ConnectionId id) = 0;
    // Close handshake with code/reason; on_closed follows.
    virtual void close(ConnectionId id, std::uint16_t code, const std::string& reason) = 0;
    // Immediate teardown (terminate), no handshake; on_closed follows.
    virtual void abort(ConnectionId id) = 0;
    // Bytes queued in websocketpp not yet written to the socket.
    virtual std::size_t buffered_amount(ConnectionId id) const = 0;
};

// The websocketpp/Asio/OpenSSL implementation. `events` and `strand` must
// outlive the transport. Destroying the transport aborts open connections
// without calling events.
std::unique_ptr<Transport> make_websocket_transport(Reactor& reactor, Strand& strand, TransportEvents& events,
                                                    TransportOptions options);

} // namespace tether::transport
