// A scripted hostile WebSocket server for the bad-input tests
// (bad_input_test.cpp): raw POSIX sockets on 127.0.0.1 (port 0), optionally
// TLS through OpenSSL's SSL_* API on the same socket, and a script per
// accepted connection that can do a correct RFC 6455 server handshake and
// then send anything: unmasked frames with any first byte (FIN, RSV bits,
// opcode), any payload, length headers that lie, close frames with invalid
// codes, or bytes that are not HTTP at all.
//
// Model: one server thread accepts connections one at a time and runs the
// script on each, in order (connection 0, 1, 2, ...). Every blocking call is
// bounded by a deadline and by the server's stop signal (an eventfd in every
// poll()), so the destructor always joins promptly. No websocketpp or Asio
// here, so the tests build quickly and cannot share a bug with the client.
//
// Thread safety: HostileServer's public methods may be called from any
// thread. A HostileConn belongs to the server thread (the script).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// OpenSSL types, without its headers.
struct ssl_st;
struct ssl_ctx_st;

namespace tether::itest {

namespace ws_opcode {
inline constexpr std::uint8_t continuation = 0x0;
inline constexpr std::uint8_t text = 0x1;
inline constexpr std::uint8_t binary = 0x2;
inline constexpr std::uint8_t close = 0x8;
inline constexpr std::uint8_t ping = 0x9;
inline constexpr std::uint8_t pong = 0xA;
} // namespace ws_opcode

struct HttpRequest {
    std::string raw; // everything up to and including the blank line
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers; // names lower-cased

    // The value of a header (case-insensitive name); empty when absent.
    std::string header(std::string_view name) const;
};

struct WsFrame {
    std::uint8_t first_byte = 0; // FIN, RSV1-3 and opcode, as received
    std::uint8_t opcode = 0;
    bool fin = true;
    bool masked = false;
    std::string payload; // unmasked
};

// base64(SHA-1(key + RFC 6455 GUID)).
std::string websocket_accept_key(std::string_view client_key);

// One accepted connection, as the script sees it. Every call returns false /
// nullopt on an I/O error, EOF, timeout or when the server is stopping.
class HostileConn {
public:
    HostileConn(int fd, ssl_st* ssl, int stop_fd, int index);
    ~HostileConn();
    HostileConn(const HostileConn&) = delete;
    HostileConn& operator=(const HostileConn&) = delete;

    int index() const { return index_; } // 0 for the first connection the server accepted

    // ---- HTTP ----
    // Reads the upgrade request (up to the blank line).
    bool read_request(HttpRequest& out, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
    // A correct 101: Upgrade, Connection, Sec-WebSocket-Accept and, when not
    // empty, the selected subprotocol.
    bool send_upgrade(const HttpRequest& req, std::string_view subprotocol = "tether.v1");
    // Bytes exactly as given (any HTTP misbehaviour).
    bool write(std::string_view bytes);

    // ---- WebSocket (server side: frames go out unmasked) ----
    // A frame whose first byte is `first_byte` verbatim (FIN | RSV | opcode).
    bool send_frame_raw(std::uint8_t first_byte, std::string_view payload);
    bool send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true);
    bool send_text(std::string_view text) { return send_frame(ws_opcode::text, text); }
    // Only a header that claims `claimed_length` payload bytes (the shortest
    // length encoding), then `then` (part of the claimed payload).
    bool send_frame_header(std::uint8_t opcode, std::uint64_t claimed_length, std::string_view then = {});
    // A close frame with `code` written on the wire as is (0, 999, 1005 ...).
    bool send_close(std::uint16_t code, std::string_view reason = {});
    // A close frame with no payload at all.
    bool send_empty_close();

    // The next frame from the client, unmasked; nullopt on EOF/timeout/stop.
    std::optional<WsFrame> read_frame(std::chrono::milliseconds timeout);
    // The next text message from the client. Answers pings with pongs on the
    // way; a close frame is echoed unless this side already sent one (then
    // nullopt). Fragmented text messages
    // are joined.
    std::optional<std::string> read_text(std::chrono::milliseconds timeout);
    // Reads until the client closes the TCP connection or the close handshake
    // is complete (then the caller closes TCP, as a server should), answering
    // pings and echoing a close frame. True when that happened within `timeout`.
    bool drain_until_eof(std::chrono::milliseconds timeout);
    // Reads and discards raw bytes without answering anything, until EOF, the
    // timeout or stop (a server that accepted and then went silent).
    bool hold_silently(std::chrono::milliseconds timeout);

    bool peer_sent_close() const { return peer_close_code_.has_value(); }
    std::optional<std::uint16_t> peer_close_code() const { return peer_close_code_; }
    bool eof() const { return eof_; }

private:
    enum class Io { ok, again_read, again_write, eof, error };

    bool fill(std::chrono::steady_clock::time_point deadline); // reads more into in_
    bool wait(short events, std::chrono::steady_clock::time_point deadline);
    Io read_once(char* buf, std::size_t len, std::size_t& got);
    Io write_once(const char* buf, std::size_t len, std::size_t& put);
    std::optional<WsFrame> parse_frame(); // from in_, when complete

    int fd_;
    ssl_st* ssl_;
    int stop_fd_;
    int index_;
    std::string in_;
    bool eof_ = false;
    bool sent_close_ = false;
    std::optional<std::uint16_t> peer_close_code_;
};

class HostileServer {
public:
    using Script = std::function<void(HostileConn&)>;

    struct Options {
        // TLS: every accepted connection first does a TLS handshake with this
        // certificate chain and key (PEM). Empty: plain TCP.
        std::string tls_cert_file;
        std::string tls_key_file;
    };

    explicit HostileServer(Script script) : HostileServer(std::move(script), Options{}) {}
    HostileServer(Script script, Options options);
    ~HostileServer(); // stops the thread, closes every socket

    HostileServer(const HostileServer&) = delete;
    HostileServer& operator=(const HostileServer&) = delete;

    std::uint16_t port() const { return port_; }
    std::string url(const char* scheme = "ws") const;

    // Connections accepted so far (TCP level, including failed TLS handshakes).
    int accepted() const;
    // Waits until at least `n` connections were accepted.
    bool wait_accepted(int n, std::chrono::milliseconds timeout) const;
    // Scripts that have returned (connections finished).
    int finished() const;
    // Waits until at least `n` scripts have returned.
    bool wait_finished(int n, std::chrono::milliseconds timeout) const;
    // What happened, one line per notable event (TLS handshake failures,
    // exceptions thrown by a script), for assertions and failure messages.
    std::vector<std::string> events() const;

    void stop();

private:
    void run();
    void serve(int fd, int index);
    void note(std::string line);

    Script script_;
    int listen_fd_ = -1;
    int stop_fd_ = -1;
    std::uint16_t port_ = 0;
    ssl_ctx_st* ctx_ = nullptr;

    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    int accepted_ = 0;
    int finished_ = 0;
    std::vector<std::string> events_;

    std::thread thread_; // last: started once everything else is ready
};

} // namespace tether::itest
