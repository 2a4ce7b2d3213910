// websocketpp client configurations for tether. Private to
// websocket_transport.cpp: every translation unit that includes websocketpp
// costs ~15 s to compile, so keep it to one.
#pragma once

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <string>
#include <string_view>

#include "tether/options.hpp"
#include "transport/transport_util.hpp"

namespace tether::transport::detail {

// Error log policy that forwards to the client's LogSink instead of stderr.
// Same interface as websocketpp::log::basic, which the endpoint instantiates.
template <typename Names>
class SinkLog {
public:
    using level = websocketpp::log::level;

    explicit SinkLog(websocketpp::log::channel_type_hint::value = websocketpp::log::channel_type_hint::error) {}
    SinkLog(level static_channels, websocketpp::log::channel_type_hint::value)
        : static_channels_(static_channels) {}

    // Set once, before the endpoint creates connections.
    void set_sink(LogSink sink) { sink_ = std::move(sink); }

    void set_channels(level channels) { dynamic_channels_ |= (channels & static_channels_); }
    void clear_channels(level channels) { dynamic_channels_ &= ~channels; }

    void write(level channel, const std::string& msg) { write(channel, std::string_view(msg)); }
    void write(level channel, const char* msg) { write(channel, std::string_view(msg)); }

    constexpr bool static_test(level channel) const { return (channel & static_channels_) != 0; }
    bool dynamic_test(level channel) const { return (channel & dynamic_channels_) != 0; }

private:
    void write(level channel, std::string_view msg) {
        if (!dynamic_test(channel) || !sink_) return;
        std::string line = "websocketpp: ";
        line += msg;
        sink_(map_level(channel), line);
    }

    // Connection failures are reported through CloseInfo, so websocketpp's
    // "recoverable error" lines are informational noise at error level.
    static LogLevel map_level(level channel) {
        using el = websocketpp::log::elevel;
        if (channel & el::fatal) return LogLevel::error;
        if (channel & el::warn) return LogLevel::warn;
        if (channel & el::rerror) return LogLevel::info;
        if (channel & el::devel) return LogLevel::trace;
        return LogLevel::debug; // library, info
    }

    level static_channels_ = 0xffffffff;
    level dynamic_channels_ = 0; // written before any connection exists
    LogSink sink_;
};

// Access logging off at compile time: the stock endpoint prints every frame
// to stdout.
class NullLog {
public:
    using level = websocketpp::log::level;
    explicit NullLog(websocketpp::log::channel_type_hint::value = websocketpp::log::channel_type_hint::access) {}
    NullLog(level, websocketpp::log::channel_type_hint::value) {}
    void set_channels(level) {}
    void clear_channels(level) {}
    void write(level, const std::string&) {}
    void write(level, const char*) {}
    constexpr bool static_test(level) const { return false; }
    bool dynamic_test(level) const { return false; }
};

// websocketpp arms a timer for each connect phase (DNS, TCP, proxy CONNECT,
// TLS handshake) whatever we want; these constants are its durations. The
// connect deadline is the Session's (timeouts.connect), which aborts the
// attempt; these only bound how long an aborted attempt's resolver or socket
// lingers. 10 s each, the default connect deadline; so a longer deadline does
// not extend a phase beyond 10 s (docs/configuration.md says so).
inline constexpr long kPhaseTimeoutMs = 10000;
// Bounded TLS close_notify wait so a close on a dead link ends promptly.
inline constexpr long kSocketShutdownTimeoutMs = 1000;

template <typename Base, typename SocketType>
struct TetherConfig : public Base {
    typedef TetherConfig type;
    typedef Base base;

    typedef typename base::concurrency_type concurrency_type;
    typedef typename base::request_type request_type;
    typedef typename base::response_type response_type;
    typedef typename base::message_type message_type;
    typedef typename base::con_msg_manager_type con_msg_manager_type;
    typedef typename base::endpoint_msg_manager_type endpoint_msg_manager_type;

    typedef SinkLog<websocketpp::log::elevel> elog_type;
    typedef NullLog alog_type;

    // Buffered OpenSSL CSPRNG for masking keys (see BufferedCsprng).
    typedef BufferedCsprng rng_type;

    struct transport_config : public base::transport_config {
        typedef typename type::concurrency_type concurrency_type;
        typedef typename type::alog_type alog_type;
        typedef typename type::elog_type elog_type;
        typedef typename type::request_type request_type;
        typedef typename type::response_type response_type;
        typedef SocketType socket_type;

        static const long timeout_dns_resolve = kPhaseTimeoutMs;
        static const long timeout_connect = kPhaseTimeoutMs;
        static const long timeout_socket_post_init = kPhaseTimeoutMs; // TLS handshake
        static const long timeout_proxy = kPhaseTimeoutMs;
        static const long timeout_socket_shutdown = kSocketShutdownTimeoutMs;
    };

    typedef websocketpp::transport::asio::endpoint<transport_config> transport_type;

    static const websocketpp::log::level elog_level =
        websocketpp::log::elevel::all ^ websocketpp::log::elevel::devel;
    static const websocketpp::log::level alog_level = websocketpp::log::alevel::none;

    // permessage-deflate in 0.8.2 is a stub with an uncapped inflater, so it
    // is never offered: the `disabled` policy reports is_implemented() ==
    // false. Do NOT set enable_extensions = false instead: then every client
    // handshake fails (negotiate_extensions returns extensions_disabled, and
    // handle_read_http_response terminates the connection yet still calls the
    // open handler).
    typedef websocketpp::extensions::permessage_deflate::disabled<typename base::permessage_deflate_config>
        permessage_deflate_type;
};

using PlainClientConfig =
    TetherConfig<websocketpp::config::asio_client, websocketpp::transport::asio::basic_socket::endpoint>;
using TlsClientConfig =
    TetherConfig<websocketpp::config::asio_tls_client, websocketpp::transport::asio::tls_socket::endpoint>;

} // namespace tether::transport::detail
