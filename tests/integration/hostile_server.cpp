#include "hostile_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

namespace tether::itest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxRequestBytes = 16 * 1024;
constexpr std::size_t kMaxFrameBytes = 64 * 1024 * 1024; // what this server accepts from the client
constexpr const char* kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

[[noreturn]] void throw_errno(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

int poll_timeout(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<long long>(0, std::min<long long>(left, 1000)));
}

std::string ssl_errors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? std::string("no OpenSSL error queued") : out;
}

void put_u16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xFF));
}

// FIN/RSV/opcode byte, then the shortest length encoding (unmasked).
std::string frame_header(std::uint8_t first_byte, std::uint64_t length) {
    std::string h;
    h.push_back(static_cast<char>(first_byte));
    if (length < 126) {
        h.push_back(static_cast<char>(length));
    } else if (length <= 0xFFFF) {
        h.push_back(static_cast<char>(126));
        put_u16(h, static_cast<std::uint16_t>(length));
    } else {
        h.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8) h.push_back(static_cast<char>((length >> shift) & 0xFF));
    }
    return h;
}

} // namespace

std::string HttpRequest::header(std::string_view name) const {
    const auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

std::string websocket_accept_key(std::string_view client_key) {
    const std::string input = std::string(client_key) + kGuid;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr) != 1)
        throw std::runtime_error("EVP_Digest(SHA-1) failed: " + ssl_errors());
    std::string out(4 * ((len + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), digest, static_cast<int>(len));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

// ---- HostileConn ---------------------------------------------------------------------

HostileConn::HostileConn(int fd, ssl_st* ssl, int stop_fd, int index)
    : fd_(fd), ssl_(ssl), stop_fd_(stop_fd), index_(index) {}

HostileConn::~HostileConn() {
    if (ssl_ != nullptr) {
        if (SSL_is_init_finished(ssl_) == 1) SSL_shutdown(ssl_); // one non-blocking attempt at a close_notify
        SSL_free(ssl_);
        ERR_clear_error();
    }
    if (fd_ >= 0) ::close(fd_);
}

bool HostileConn::wait(short events, Clock::time_point deadline) {
    for (;;) {
        pollfd p[2] = {{fd_, events, 0}, {stop_fd_, POLLIN, 0}};
        const int r = ::poll(p, 2, poll_timeout(deadline));
        if (r < 0 && errno != EINTR) return false;
        if (r > 0 && (p[1].revents & POLLIN) != 0) return false; // stopping
        if (r > 0 && p[0].revents != 0) return true;           // ready, or an error the next call reports
        if (Clock::now() >= deadline) return false;
    }
}

HostileConn::Io HostileConn::read_once(char* buf, std::size_t len, std::size_t& got) {
    got = 0;
    if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(len, 1 << 30)));
        if (n > 0) {
            got = static_cast<std::size_t>(n);
            return Io::ok;
        }
        switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_READ: return Io::again_read;
        case SSL_ERROR_WANT_WRITE: return Io::again_write;
        case SSL_ERROR_ZERO_RETURN: return Io::eof;
        default: return Io::error;
        }
    }
    for (;;) {
        const ssize_t n = ::recv(fd_, buf, len, 0);
        if (n > 0) {
            got = static_cast<std::size_t>(n);
            return Io::ok;
        }
        if (n == 0) return Io::eof;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::again_read;
        return Io::error;
    }
}

HostileConn::Io HostileConn::write_once(const char* buf, std::size_t len, std::size_t& put) {
    put = 0;
    if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, buf, static_cast<int>(std::min<std::size_t>(len, 1 << 30)));
        if (n > 0) {
            put = static_cast<std::size_t>(n);
            return Io::ok;
        }
        switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_READ: return Io::again_read;
        case SSL_ERROR_WANT_WRITE: return Io::again_write;
        default: return Io::error;
        }
    }
    for (;;) {
        const ssize_t n = ::send(fd_, buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            put = static_cast<std::size_t>(n);
            return Io::ok;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::again_write;
        return Io::error;
    }
}

bool HostileConn::fill(Clock::time_point deadline) {
    if (eof_) return false;
    char buf[16 * 1024];
    for (;;) {
        std::size_t got = 0;
        switch (read_once(buf, sizeof buf, got)) {
        case Io::ok: in_.append(buf, got); return true;
        case Io::again_read:
            if (!wait(POLLIN, deadline)) return false;
            break;
        case Io::again_write:
            if (!wait(POLLOUT, deadline)) return false;
            break;
        case Io::eof:
        case Io::error: eof_ = true; return false;
        }
    }
}

bool HostileConn::write(std::string_view bytes) {
    const auto deadline = Clock::now() + milliseconds(5000);
    while (!bytes.empty()) {
        std::size_t put = 0;
        switch (write_once(bytes.data(), bytes.size(), put)) {
        case Io::ok: bytes.remove_prefix(put); break;
        case Io::again_read:
            if (!wait(POLLIN, deadline)) return false;
            break;
        case Io::again_write:
            if (!wait(POLLOUT, deadline)) return false;
            break;
        case Io::eof:
        case Io::error: return false;
        }
    }
    return true;
}

bool HostileConn::read_request(HttpRequest& out, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::size_t end = std::string::npos;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
        if (in_.size() > kMaxRequestBytes || !fill(deadline)) return false;
    }
    out = HttpRequest{};
    out.raw = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    std::size_t pos = 0;
    bool first = true;
    while (pos < out.raw.size()) {
        const std::size_t eol = out.raw.find("\r\n", pos);
        const std::string_view line(out.raw.data() + pos, eol - pos);
        pos = eol + 2;
        if (line.empty()) break;
        if (first) {
            first = false;
            const auto sp1 = line.find(' ');
            const auto sp2 = line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
            if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return false;
            out.method = std::string(line.substr(0, sp1));
            out.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return false;
        out.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
    return !out.method.empty();
}

bool HostileConn::send_upgrade(const HttpRequest& req, std::string_view subprotocol) {
    std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: " +
                       websocket_accept_key(req.header("sec-websocket-key")) + "\r\n";
    if (!subprotocol.empty()) resp += "Sec-WebSocket-Protocol: " + std::string(subprotocol) + "\r\n";
    resp += "\r\n";
    return write(resp);
}

bool HostileConn::send_frame_raw(std::uint8_t first_byte, std::string_view payload) {
    if ((first_byte & 0x0F) == ws_opcode::close) sent_close_ = true;
    return write(frame_header(first_byte, payload.size()) + std::string(payload));
}

bool HostileConn::send_frame(std::uint8_t opcode, std::string_view payload, bool fin) {
    return send_frame_raw(static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | (opcode & 0x0F)), payload);
}

bool HostileConn::send_frame_header(std::uint8_t opcode, std::uint64_t claimed_length, std::string_view then) {
    return write(frame_header(static_cast<std::uint8_t>(0x80 | (opcode & 0x0F)), claimed_length) + std::string(then));
}

bool HostileConn::send_close(std::uint16_t code, std::string_view reason) {
    std::string payload;
    put_u16(payload, code);
    payload += reason;
    return send_frame(ws_opcode::close, payload);
}

bool HostileConn::send_empty_close() { return send_frame(ws_opcode::close, {}); }

std::optional<WsFrame> HostileConn::parse_frame() {
    if (in_.size() < 2) return std::nullopt;
    const auto byte = [this](std::size_t i) { return static_cast<std::uint8_t>(in_[i]); };
    WsFrame f;
    f.first_byte = byte(0);
    f.fin = (byte(0) & 0x80) != 0;
    f.opcode = byte(0) & 0x0F;
    f.masked = (byte(1) & 0x80) != 0;
    std::uint64_t len = byte(1) & 0x7F;
    std::size_t pos = 2;
    if (len == 126) {
        if (in_.size() < 4) return std::nullopt;
        len = (std::uint64_t{byte(2)} << 8) | byte(3);
        pos = 4;
    } else if (len == 127) {
        if (in_.size() < 10) return std::nullopt;
        len = 0;
        for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | byte(i);
        pos = 10;
    }
    if (len > kMaxFrameBytes) throw std::runtime_error("client frame too large for the hostile server");
    unsigned char key[4] = {0, 0, 0, 0};
    if (f.masked) {
        if (in_.size() < pos + 4) return std::nullopt;
        for (std::size_t i = 0; i < 4; ++i) key[i] = byte(pos + i);
        pos += 4;
    }
    const auto n = static_cast<std::size_t>(len);
    if (in_.size() < pos + n) return std::nullopt;
    f.payload = in_.substr(pos, n);
    if (f.masked)
        for (std::size_t i = 0; i < n; ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ static_cast<char>(key[i % 4]));
    in_.erase(0, pos + n);
    return f;
}

std::optional<WsFrame> HostileConn::read_frame(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto f = parse_frame()) return f;
        if (!fill(deadline)) return std::nullopt;
    }
}

std::optional<std::string> HostileConn::read_text(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string message;
    for (;;) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left <= milliseconds::zero()) return std::nullopt;
        auto f = read_frame(left);
        if (!f) return std::nullopt;
        switch (f->opcode) {
        case ws_opcode::ping: send_frame(ws_opcode::pong, f->payload); break;
        case ws_opcode::pong: break;
        case ws_opcode::close:
            if (f->payload.size() >= 2)
                peer_close_code_ = static_cast<std::uint16_t>((static_cast<std::uint8_t>(f->payload[0]) << 8) |
                                                              static_cast<std::uint8_t>(f->payload[1]));
            else
                peer_close_code_ = 1005;
            if (!sent_close_) send_frame(ws_opcode::close, f->payload.substr(0, 2)); // echo the code (RFC 6455)
            return std::nullopt;
        case ws_opcode::text:
        case ws_opcode::continuation:
            message += f->payload;
            if (f->fin) return message;
            break;
        default: break; // binary from the client: not expected, ignored
        }
    }
}

bool HostileConn::drain_until_eof(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left <= milliseconds::zero()) return false;
        if (!read_text(left)) return eof_ || peer_sent_close();
    }
}

bool HostileConn::hold_silently(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) in_.clear();
    return eof_;
}

// ---- HostileServer ----------------------------------------------------------------------

HostileServer::HostileServer(Script script, Options options) : script_(std::move(script)) {
    if (!options.tls_cert_file.empty()) {
        ctx_ = SSL_CTX_new(TLS_server_method());
        if (ctx_ == nullptr) throw std::runtime_error("SSL_CTX_new: " + ssl_errors());
        if (SSL_CTX_use_certificate_chain_file(ctx_, options.tls_cert_file.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx_, options.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
            const std::string why = ssl_errors();
            SSL_CTX_free(ctx_);
            throw std::runtime_error("cannot load the TLS identity: " + why);
        }
    }
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) throw_errno("eventfd");
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) throw_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind");
    if (::listen(listen_fd_, 16) != 0) throw_errno("listen");
    if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno("getsockname");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
}

HostileServer::~HostileServer() {
    stop();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (stop_fd_ >= 0) ::close(stop_fd_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

void HostileServer::stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(stop_fd_, &one, sizeof one);
    thread_.join();
}

std::string HostileServer::url(const char* scheme) const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + "/ws";
}

int HostileServer::accepted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepted_;
}

bool HostileServer::wait_accepted(int n, milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return accepted_ >= n; });
}

int HostileServer::finished() const {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
}

bool HostileServer::wait_finished(int n, milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return finished_ >= n; });
}

std::vector<std::string> HostileServer::events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
}

void HostileServer::note(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(line));
    cv_.notify_all();
}

void HostileServer::run() {
    for (int index = 0;; ++index) {
        int fd = -1;
        while (fd < 0) {
            pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
            const int r = ::poll(p, 2, -1);
            if (r < 0 && errno != EINTR) return;
            if ((p[1].revents & POLLIN) != 0) return;
            if ((p[0].revents & POLLIN) != 0) fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            ++accepted_;
            cv_.notify_all();
        }
        const int nodelay = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
        serve(fd, index);
        std::lock_guard<std::mutex> lock(mu_);
        ++finished_;
        cv_.notify_all();
    }
}

void HostileServer::serve(int fd, int index) {
    SSL* ssl = nullptr;
    if (ctx_ != nullptr) {
        ssl = SSL_new(ctx_);
        if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
            note("connection " + std::to_string(index) + ": SSL_new/SSL_set_fd failed: " + ssl_errors());
            if (ssl != nullptr) SSL_free(ssl);
            ::close(fd);
            return;
        }
    }
    HostileConn conn(fd, ssl, stop_fd_, index); // owns fd and ssl from here on
    if (ssl != nullptr) {
        const auto deadline = Clock::now() + milliseconds(5000);
        for (;;) {
            ERR_clear_error();
            const int r = SSL_accept(ssl);
            if (r == 1) break;
            const int err = SSL_get_error(ssl, r);
            short events = 0;
            if (err == SSL_ERROR_WANT_READ) events = POLLIN;
            if (err == SSL_ERROR_WANT_WRITE) events = POLLOUT;
            pollfd p[2] = {{fd, events, 0}, {stop_fd_, POLLIN, 0}};
            if (events == 0 || ::poll(p, 2, poll_timeout(deadline)) <= 0 || (p[1].revents & POLLIN) != 0 ||
                Clock::now() >= deadline) {
                note("connection " + std::to_string(index) + ": TLS handshake failed: " + ssl_errors());
                return;
            }
        }
        note("connection " + std::to_string(index) + ": TLS handshake done");
    }
    try {
        script_(conn);
    } catch (const std::exception& e) {
        note("connection " + std::to_string(index) + ": script threw: " + e.what());
    }
}

} // namespace tether::itest
