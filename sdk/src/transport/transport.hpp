// The WebSocket transport as the driver sees it: open/send/ping/close/abort
// keyed by ConnectionId, and events back. It translates between websocketpp
// and the core; it never decides:
//  - no retries, and no deadlines: the caller times the connect and the
//    close and calls abort() when it stops waiting. (websocketpp still
//    bounds each connect phase and the TLS shutdown by compile-time
//    constants, see wspp_config.hpp; those only release what an abort left.)
//  - what it is given is used as given: the caller checked the URL, the
//    headers and the options once (the Client in validate_options).
//
// Thread safety: every method, and the destructor, must be called on the
// strand given at creation, and every TransportEvents callback is invoked on
// that strand. Events for a
// connection stop after on_closed() for it (exactly one on_closed per open()).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/close_info.hpp"
#include "tether/options.hpp"
#include "transport/reactor.hpp"
#include "transport/transport_util.hpp"

namespace tether::transport {

using core::CloseInfo;
using core::ConnectionId;
using detail::WsUrl;

// TCP keepalive probes (their timing on Linux only). idle == 0: keepalive
// off. The Client derives them from its heartbeat settings (client.cpp).
struct TcpKeepalive {
    std::chrono::seconds idle{0};     // silence before the first probe
    std::chrono::seconds interval{0}; // between probes
    int probes = 0;                   // unanswered probes before the kernel gives up
};

struct TransportOptions {
    TlsOptions tls;     // cert_file and key_file: both or neither
    ProxyOptions proxy; // proxy.url: empty, or as normalize_proxy_url() returned it
    std::size_t max_message_bytes = 16 * 1024 * 1024; // inbound; larger -> close 1009 + message_too_big
    TcpKeepalive keepalive;
    std::string user_agent = "tether/0.1";
    LogSink log; // may be empty
};

struct OpenRequest {
    WsUrl url; // as parse_ws_url() returned it
    // Names are HTTP tokens, values free of control characters
    // (is_http_token / is_safe_header_value).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string subprotocol; // offered in Sec-WebSocket-Protocol; empty: none. Not a token: invalid_argument.
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
    // Each text as its own frame, in order, handed on together; the texts may
    // be moved from.
    virtual void send_texts(ConnectionId id, std::string* const* texts, std::size_t n) = 0;
    virtual void ping(ConnectionId id) = 0;
    // Starts the close handshake with code/reason; on_closed follows when it
    // ends. Not timed here: abort() when the wait is over.
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
