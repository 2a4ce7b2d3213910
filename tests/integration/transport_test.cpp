// Integration tests of the websocketpp transport and the reactor: a real
// Transport on a real Reactor against servers on 127.0.0.1 (port 0): a
// websocketpp echo server (ws and wss), raw TCP servers for broken handshakes,
// and a tiny HTTP CONNECT proxy. Every wait has a deadline; nothing sleeps.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <websocketpp/config/asio.hpp>
#include <websocketpp/server.hpp>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "core/utf8.hpp"
#include "tether/error.hpp"
#include "transport/reactor.hpp"
#include "transport/transport.hpp"
#include "transport/transport_util.hpp"

namespace tether::transport {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 5s; // generous upper bound; tests normally finish in ms
constexpr const char* kSubprotocol = "tether.v1";

// ---------------------------------------------------------------------------
// A websocketpp test server on its own io thread. Text commands from the
// client drive it; anything else is echoed.
//   "binary:N"          -> a binary frame of N bytes
//   "big:N"             -> a text frame of N bytes
//   "close:CODE:REASON" -> close handshake with CODE
//   "ping"              -> a server ping
//   "drop"              -> TCP teardown without a close frame
// ---------------------------------------------------------------------------
struct ServerSettings {
    bool select_subprotocol = true;
    int refuse_status = 0; // non-zero: refuse the upgrade with this status
    std::string retry_after;
};

template <class Config>
class TestServer {
public:
    using Server = websocketpp::server<Config>;
    using ConPtr = typename Server::connection_ptr;

    explicit TestServer(ServerSettings settings = {}, std::function<void(Server&)> setup = {})
        : settings_(std::move(settings)) {
        server_.init_asio(&io_);
        server_.clear_access_channels(websocketpp::log::alevel::all);
        // TETHER_TEST_VERBOSE=1 prints server errors and client logs.
        if (std::getenv("TETHER_TEST_VERBOSE") == nullptr) {
            server_.clear_error_channels(websocketpp::log::elevel::all);
        }
        server_.set_validate_handler([this](websocketpp::connection_hdl hdl) { return validate(hdl); });
        server_.set_message_handler(
            [this](websocketpp::connection_hdl hdl, typename Server::message_ptr msg) { on_message(hdl, msg); });
        if (setup) setup(server_);
        server_.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        server_.start_accept();
        asio::error_code ec;
        port_ = server_.get_local_endpoint(ec).port();
        thread_ = std::thread([this] { io_.run(); });
    }

    ~TestServer() {
        io_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return port_; }
    std::string url(const std::string& scheme = "ws", const std::string& host = "127.0.0.1") const {
        return scheme + "://" + host + ":" + std::to_string(port_) + "/ws";
    }
    std::string header(const std::string& name) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = headers_.find(name);
        return it == headers_.end() ? std::string() : it->second;
    }

private:
    bool validate(websocketpp::connection_hdl hdl) {
        ConPtr con = server_.get_con_from_hdl(hdl);
        {
            std::lock_guard<std::mutex> lock(mu_);
            for (const char* name : {"X-Tether-Test", "User-Agent", "Sec-WebSocket-Protocol"}) {
                headers_[name] = con->get_request_header(name);
            }
        }
        if (settings_.refuse_status != 0) {
            con->set_status(static_cast<websocketpp::http::status_code::value>(settings_.refuse_status));
            if (!settings_.retry_after.empty()) con->append_header("Retry-After", settings_.retry_after);
            return false;
        }
        if (settings_.select_subprotocol) {
            for (const auto& p : con->get_requested_subprotocols()) {
                if (p == kSubprotocol) con->select_subprotocol(p);
            }
        }
        return true;
    }

    void on_message(websocketpp::connection_hdl hdl, typename Server::message_ptr msg) {
        ConPtr con = server_.get_con_from_hdl(hdl);
        const std::string& p = msg->get_payload();
        std::error_code ec;
        if (p.rfind("binary:", 0) == 0) {
            ec = con->send(std::string(std::stoul(p.substr(7)), 'b'), websocketpp::frame::opcode::binary);
        } else if (p.rfind("big:", 0) == 0) {
            ec = con->send(std::string(std::stoul(p.substr(4)), 'x'), websocketpp::frame::opcode::text);
        } else if (p.rfind("close:", 0) == 0) {
            const auto colon = p.find(':', 6);
            const auto code = static_cast<websocketpp::close::status::value>(std::stoi(p.substr(6, colon - 6)));
            con->close(code, colon == std::string::npos ? std::string() : p.substr(colon + 1), ec);
        } else if (p == "ping") {
            con->ping("srv", ec);
        } else if (p == "drop") {
            asio::error_code aec;
            con->get_raw_socket().close(aec); // no close frame, no TLS close_notify
        } else {
            ec = con->send(p, msg->get_opcode());
        }
    }

    ServerSettings settings_;
    asio::io_context io_; // declared first: destroyed after the server
    Server server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::mutex mu_;
    std::map<std::string, std::string> headers_;
};

using WsServer = TestServer<websocketpp::config::asio>;
using WssServer = TestServer<websocketpp::config::asio_tls>;

// ---------------------------------------------------------------------------
// A raw TCP server: records each request head and answers with a canned
// response (or stays silent). Also serves as a refusing HTTP proxy.
// ---------------------------------------------------------------------------
class RawServer {
public:
    // `greet`: send `response` as soon as a client connects, without waiting
    // for a request (e.g. plain HTTP to a TLS client).
    explicit RawServer(std::string response, bool greet = false)
        : response_(std::move(response)), greet_(greet), acceptor_(io_) {
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~RawServer() {
        io_.stop();
        thread_.join();
    }
    std::uint16_t port() const { return port_; }
    std::string last_request() {
        std::lock_guard<std::mutex> lock(mu_);
        return last_request_;
    }

private:
    void accept() {
        acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
            if (ec) return;
            auto sock = std::make_shared<asio::ip::tcp::socket>(std::move(s));
            auto buf = std::make_shared<asio::streambuf>();
            socks_.push_back(sock);
            if (greet_) {
                asio::async_write(*sock, asio::buffer(response_), [sock](const asio::error_code&, std::size_t) {});
                accept();
                return;
            }
            asio::async_read_until(*sock, *buf, "\r\n\r\n", [this, sock, buf](const asio::error_code& rec, std::size_t) {
                if (rec) return;
                {
                    std::lock_guard<std::mutex> lock(mu_);
                    last_request_.assign(asio::buffers_begin(buf->data()), asio::buffers_end(buf->data()));
                }
                if (response_.empty()) return; // silent: hold the socket open
                asio::async_write(*sock, asio::buffer(response_), [sock](const asio::error_code&, std::size_t) {
                    asio::error_code ignored;
                    sock->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                });
            });
            accept();
        });
    }

    std::string response_;
    bool greet_;
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::vector<std::shared_ptr<asio::ip::tcp::socket>> socks_; // io thread only
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::mutex mu_;
    std::string last_request_;
};

// ---------------------------------------------------------------------------
// A minimal HTTP CONNECT proxy that tunnels to 127.0.0.1 only.
// ---------------------------------------------------------------------------
class TunnelProxy {
public:
    TunnelProxy() : acceptor_(io_) {
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        accept();
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TunnelProxy() {
        io_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string last_request() {
        std::lock_guard<std::mutex> lock(mu_);
        return last_request_;
    }

private:
    struct Pipe {
        explicit Pipe(asio::io_context& io) : a(io), b(io) {}
        asio::ip::tcp::socket a, b;
        asio::streambuf head;
        std::array<char, 4096> ab{}, ba{};
    };

    void accept() {
        acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
            if (ec) return;
            auto p = std::make_shared<Pipe>(io_);
            p->a = std::move(s);
            asio::async_read_until(p->a, p->head, "\r\n\r\n", [this, p](const asio::error_code& rec, std::size_t n) {
                if (rec) return;
                std::string head(asio::buffers_begin(p->head.data()), asio::buffers_begin(p->head.data()) +
                                                                          static_cast<std::ptrdiff_t>(n));
                p->head.consume(n);
                {
                    std::lock_guard<std::mutex> lock(mu_);
                    last_request_ = head;
                }
                // "CONNECT 127.0.0.1:PORT HTTP/1.1"
                const auto colon = head.find(':');
                const auto space = head.find(' ', colon);
                const auto port = static_cast<unsigned short>(std::stoi(head.substr(colon + 1, space - colon - 1)));
                asio::error_code cec;
                p->b.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), cec);
                static const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
                asio::async_write(p->a, asio::buffer(ok), [this, p](const asio::error_code& wec, std::size_t) {
                    if (wec) return;
                    pump(p, p->a, p->b, p->ab);
                    pump(p, p->b, p->a, p->ba);
                });
            });
            accept();
        });
    }

    void pump(std::shared_ptr<Pipe> p, asio::ip::tcp::socket& from, asio::ip::tcp::socket& to,
              std::array<char, 4096>& buf) {
        from.async_read_some(asio::buffer(buf), [this, p, &from, &to, &buf](const asio::error_code& ec, std::size_t n) {
            if (ec) {
                asio::error_code ignored;
                to.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
                return;
            }
            asio::async_write(to, asio::buffer(buf.data(), n), [this, p, &from, &to, &buf](const asio::error_code& wec,
                                                                                           std::size_t) {
                if (!wec) pump(p, from, to, buf);
            });
        });
    }

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::mutex mu_;
    std::string last_request_;
};

// ---------------------------------------------------------------------------
// TransportEvents recorder: checks the strand, lets tests wait with deadlines.
// ---------------------------------------------------------------------------
struct Event {
    enum Kind { open, text, binary, pong, closed } kind;
    ConnectionId id = 0;
    std::string str;
    std::size_t bytes = 0;
    CloseInfo info;
};

class Recorder final : public TransportEvents {
public:
    explicit Recorder(Strand& strand) : strand_(strand) {}

    void on_open(ConnectionId id, const std::string& sub) override {
add({Event::open, id, sub, 0, {}}); }
    void on_text(ConnectionId id, std::string&& text) override { add({Event::text, id, std::move(text), 0, {}}); }
    void on_binary(ConnectionId id, std::size_t bytes) override { add({Event::binary, id, {}, bytes, {}}); }
    void on_pong(ConnectionId id) override { add({Event::pong, id, {}, 0, {}}); }
    void on_closed(ConnectionId id, const CloseInfo& info) override { add({Event::closed, id, {}, 0, info}); }

    // The first event of `kind` for `id` not yet consumed by wait().
    std::optional<Event> wait(Event::Kind kind, ConnectionId id, std::chrono::milliseconds timeout = kWait) {
        std::unique_lock<std::mutex> lock(mu_);
        std::optional<Event> found;
        cv_.wait_for(lock, timeout, [&] {
            for (auto& e : events_) {
                if (e.kind == kind && e.id == id && !e.consumed) {
                    e.consumed = true;
                    found = e.event;
                    return true;
                }
            }
            return false;
        });
        return found;
    }

    std::size_t count(Event::Kind kind, ConnectionId id) {
        std::lock_guard<std::mutex> lock(mu_);
        std::size_t n = 0;
        for (const auto& e : events_) n += (e.event.kind == kind && e.event.id == id) ? 1 : 0;
        return n;
    }
    std::size_t total() {
        std::lock_guard<std::mutex> lock(mu_);
        return events_.size();
    }
    int off_strand() const { return off_strand_.load(); }

private:
    struct Slot {
        Event event;
        Event::Kind kind;
        ConnectionId id;
        bool consumed = false;
    };
    void add(Event e) {
        if (!strand_.running_in_this_thread()) off_strand_++;
        {
            std::lock_guard<std::mutex> lock(mu_);
            const auto kind = e.kind;
            const auto id = e.id;
            events_.push_back(Slot{std::move(e), kind, id, false});
        }
        cv_.notify_all();
    }

    Strand& strand_;
    std::atomic<int> off_strand_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Slot> events_;
};

// ---------------------------------------------------------------------------
// Test CA and server certificates, made once with the openssl CLI.
// ---------------------------------------------------------------------------
struct Pki {
    std::string dir, ca, good_cert, good_key, other_cert, other_key, good_pin;
    bool ok = false;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

// Removes the PKI directory when the test program exits.
struct TempDir {
    std::string path;
    ~TempDir() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
};

const Pki& pki() {
    static TempDir temp;
    static const Pki p = [] {
        Pki r;
        char tmpl[] = "/tmp/tether-transport-test-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) return r;
        r.dir = tmpl;
        temp.path = r.dir;
        const std::string d = r.dir;
        const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
        auto leaf = [&](const std::string& name, const std::string& san) {
            return "openssl req" + ec + "-keyout " + d + "/" + name + ".key -out " + d + "/" + name +
                   ".csr -subj /CN=" + name + " && printf 'subjectAltName=" + san +
                   "\\nbasicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth\\n' > " +
                   d + "/" + name + ".ext && openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d +
                   "/ca.pem -CAkey " + d + "/ca.key -CAcreateserial -days 2 -out " + d + "/" + name +
                   ".pem -extfile " + d + "/" + name + ".ext";
        };
        const std::string cmd =
            "(openssl req -x509" + ec + "-keyout " + d + "/ca.key -out " + d +
            "/ca.pem -days 2 -subj '/CN=tether test CA' -addext basicConstraints=critical,CA:TRUE"
            " -addext keyUsage=critical,keyCertSign,cRLSign && " +
            leaf("good", "IP:127.0.0.1,DNS:localhost") + " && " + leaf("other", "DNS:other.example") +
            " && openssl x509 -in " + d + "/good.pem -pubkey -noout | openssl pkey -pubin -outform der"
            " | openssl dgst -sha256 -binary | openssl base64 -A > " + d + "/good.pin) > " + d + "/log.txt 2>&1";
        if (std::system(cmd.c_str()) != 0) return r;
        r.ca = d + "/ca.pem";
        r.good_cert = d + "/good.pem";
        r.good_key = d + "/good.key";
        r.other_cert = d + "/other.pem";
        r.other_key = d + "/other.key";
        r.good_pin = read_file(d + "/good.pin");
        r.ok = !r.good_pin.empty();
        return r;
    }();
    return p;
}

std::function<void(WssServer::Server&)> tls_setup(const std::string& cert, const std::string& key) {
    return [cert, key](WssServer::Server& s) {
        s.set_tls_init_handler([cert, key](websocketpp::connection_hdl) {
            auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
            ctx->use_certificate_chain_file(cert);
            ctx->use_private_key_file(key, asio::ssl::context::pem);
            return ctx;
        });
    };
}

// ---------------------------------------------------------------------------
// Fixture: a threaded reactor, a strand, a recorder and the transport. All
// transport calls go through the strand, as the driver's do.
// ---------------------------------------------------------------------------
class TransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        reactor_ = Reactor::create_threaded("tether-test-io");
        strand_ = reactor_->make_strand();
        rec_ = std::make_unique<Recorder>(*strand_);
    }

    void TearDown() override {
        on_strand([&] { transport_.reset(); });
        EXPECT_EQ(rec_->off_strand(), 0) << "an event was delivered off the strand";
        strand_.reset();
        reactor_.reset();
    }

    template <class F>
    void on_strand(F fn) {
        std::promise<void> done;
        auto fut = done.get_future();
        strand_->post([&] {
            fn();
            done.set_value();
        });
        ASSERT_EQ(fut.wait_for(kWait), std::future_status::ready);
    }

    void make(TransportOptions opts = {}) {
        opts.log = [this](LogLevel level, std::string_view msg) {
            std::lock_guard<std::mutex> lock(log_mu_);
            if (std::getenv("TETHER_TEST_VERBOSE") != nullptr) {
                std::fprintf(stderr, "client log: %.*s\n", static_cast<int>(msg.size()), msg.data());
            }
            logs_.emplace_back(level, std::string(msg));
        };
        on_strand([&] { transport_ = make_websocket_transport(*reactor_, *strand_, *rec_, opts); });
    }

    void open(ConnectionId id, const std::string& url, std::vector<std::pair<std::string, std::string>> headers = {},
              std::string subprotocol = kSubprotocol) {
        // The URL arrives parsed, as validate_options hands it down.
        std::string why;
        auto parsed = detail::parse_ws_url(url, why);
        ASSERT_TRUE(parsed) << url << ": " << why;
        OpenRequest req;
        req.url = std::move(*parsed);
        req.headers = std::move(headers);
        req.subprotocol = std::move(subprotocol);
        on_strand([&] { transport_->open(id, req); });
    }
    void send(ConnectionId id, const std::string& text) {
        on_strand([&] { transport_->send_text(id, text); });
    }

    CloseInfo expect_closed(ConnectionId id) {
        auto e = rec_->wait(Event::closed, id);
        EXPECT_TRUE(e.has_value()) << "no on_closed for connection " << id;
        return e ? e->info : CloseInfo{};
    }

    bool logged(LogLevel level, const std::string& needle) {
        std::lock_guard<std::mutex> lock(log_mu_);
        for (const auto& [l, m] : logs_) {
            if (l == level && m.find(needle) != std::string::npos) return true;
        }
        return false;
    }

    std::shared_ptr<Reactor> reactor_;
    std::unique_ptr<Strand> strand_;
    std::unique_ptr<Recorder> rec_;
    std::unique_ptr<Transport> transport_;
    std::mutex log_mu_;
    std::vector<std::pair<LogLevel, std::string>> logs_;
};

std::uint16_t closed_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port(); // closed again when `a` goes away
}

// --- ws:// ------------------------------------------------------------------

TEST_F(TransportTest, OpensWithSelectedSubprotocolAndEchoes) {
    WsServer server;
    make();
    open(1, server.url());
    auto opened = rec_->wait(Event::open, 1);
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->str, kSubprotocol);
    EXPECT_EQ(server.header("Sec-WebSocket-Protocol"), kSubprotocol);

    send(1, "hello");
    auto text = rec_->wait(Event::text, 1);
    ASSERT_TRUE(text);
    EXPECT_EQ(text->str, "hello");
    std::size_t buffered = 1;
    on_strand([&] { buffered = transport_->buffered_amount(1); });
    EXPECT_EQ(buffered, 0u);
}

// One batch of every size class: each text arrives as its own message, in
// order, whether it went in the shared buffer, alone (large), or in the next
// buffer after a cut at 64 KiB. Connection 1 must be open.
void expect_a_batch_arrives(Transport& transport, Recorder& rec, const std::function<void(std::function<void()>)>& on_strand) {
    std::vector<std::string> texts;
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{125}, std::size_t{126},
                             std::size_t{65535}, std::size_t{65536}, std::size_t{70000}, std::size_t{3}})
        texts.push_back(std::string(size, static_cast<char>('a' + texts.size())));
    for (int i = 0; i < 300; ++i) texts.push_back("small-" + std::to_string(i) + std::string(400, 'x'));
    texts.push_back("caf\xC3\xA9 last");
    const std::vector<std::string> sent = texts;
    std::vector<std::string*> ptrs;
    for (auto& t : texts) ptrs.push_back(&t);
    on_strand([&] { transport.send_texts(1, ptrs.data(), ptrs.size()); });
    for (std::size_t i = 0; i < sent.size(); ++i) {
        auto text = rec.wait(Event::text, 1);
        ASSERT_TRUE(text) << "message " << i << " of " << sent.size() << " never arrived";
        ASSERT_EQ(text->str.size(), sent[i].size()) << "message " << i;
        ASSERT_EQ(text->str, sent[i]) << "message " << i;
    }
    EXPECT_EQ(rec.count(Event::closed, 1), 0u);
}

TEST_F(TransportTest, ABatchOfTextsArrivesAsOneMessageEachInOrder) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    expect_a_batch_arrives(*transport_, *rec_, [this](std::function<void()> fn) { on_strand(fn); });
}

TEST_F(TransportTest, ReportsNoSubprotocolWhenServerSelectsNone) {
    WsServer server(ServerSettings{false, 0, {}});
    make();
    open(1, server.url());
    auto opened = rec_->wait(Event::open, 1);
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->str, "");
}

TEST_F(TransportTest, PingGetsPongAndServerPingCountsAsLiveness) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    on_strand([&] { transport_->ping(1); });
    EXPECT_TRUE(rec_->wait(Event::pong, 1));
    send(1, "ping");
    EXPECT_TRUE(rec_->wait(Event::pong, 1));
}

TEST_F(TransportTest, BinaryInboundIsReportedBySize) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    send(1, "binary:10");
    auto bin = rec_->wait(Event::binary, 1);
    ASSERT_TRUE(bin);
    EXPECT_EQ(bin->bytes, 10u);
}

TEST_F(TransportTest, ServerCloseCodeIsReported) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    send(1, "close:4009:taken over");
    const CloseInfo info = expect_closed(1);
    EXPECT_FALSE(info.error) << info.error.message();
    EXPECT_EQ(info.close_code, 4009);
    EXPECT_EQ(info.reason, "taken over");
    EXPECT_TRUE(info.opened);
}

TEST_F(TransportTest, ClientCloseIsClean) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    on_strand([&] { transport_->close(1, 1000, "bye"); });
    const CloseInfo info = expect_closed(1);
    EXPECT_FALSE(info.error) << info.error.message();
    EXPECT_EQ(info.close_code, 1000);
    EXPECT_TRUE(info.opened);
}

TEST_F(TransportTest, ServerDropIsTransportClosed) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    send(1, "drop");
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::transport_closed));
    EXPECT_EQ(info.close_code, 0);
    EXPECT_TRUE(info.opened);
}

TEST_F(TransportTest, UpgradeRefusalsCarryStatusAndRetryAfter) {
    struct Case {
        int status;
        std::string retry_after;
        errc expected;
        std::optional<std::chrono::milliseconds> retry;
    };
    const std::vector<Case> cases = {
        {401, "", errc::http_status, std::nullopt},
        {404, "", errc::not_found, std::nullopt},
        {503, "7", errc::http_status, std::chrono::milliseconds(7000)},
        {429, "Thu, 01 Jan 1970 00:00:00 GMT", errc::http_status, std::chrono::milliseconds(0)},
    };
    make();
    ConnectionId id = 1;
    for (const auto& c : cases) {
        WsServer server(ServerSettings{true, c.status, c.retry_after});
        open(id, server.url());
        const CloseInfo info = expect_closed(id);
        EXPECT_EQ(info.error, make_error_code(c.expected)) << c.status << ": " << info.reason;
        EXPECT_EQ(info.http_status, c.status);
        EXPECT_EQ(info.retry_after, c.retry) << c.status;
        EXPECT_FALSE(info.opened);
        EXPECT_EQ(rec_->count(Event::open, id), 0u);
        ++id;
    }
}

TEST_F(TransportTest, ConnectionRefusedIsConnectFailed) {
    make();
    open(1, "ws://127.0.0.1:" + std::to_string(closed_port()) + "/");
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::connect_failed)) << info.reason;
    EXPECT_FALSE(info.opened);
}

// The connect deadline is the caller's (the Session's timeouts.connect; that a
// silent server ends as connect_timeout is asserted end to end by the
// bad-input rows handshake_that_never_completes and tcp_accepted_then_silence).
// The transport waits until it is told to stop.
TEST_F(TransportTest, SilentServerWaitsForTheCallersAbort) {
    RawServer silent("");
    make();
    open(1, "ws://127.0.0.1:" + std::to_string(silent.port()) + "/");
    EXPECT_FALSE(rec_->wait(Event::closed, 1, 500ms)) << "the transport timed the connect itself";
    const auto start = Clock::now();
    on_strand([&] { transport_->abort(1); });
    const CloseInfo info = expect_closed(1);
    EXPECT_LT(Clock::now() - start, 500ms);
    EXPECT_EQ(info.error, make_error_code(errc::transport_closed)) << info.reason;
    EXPECT_FALSE(info.opened);
}

TEST_F(TransportTest, Invalid101IsHandshakeFailed) {
    RawServer bad("HTTP/1.1 101 Switching Protocols\r\nUpgrade: nope\r\n\r\n");
    make();
    open(1, "ws://127.0.0.1:" + std::to_string(bad.port()) + "/");
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::handshake_failed)) << info.reason;
    EXPECT_EQ(info.http_status, 0);
}

TEST_F(TransportTest, OversizedInboundIsMessageTooBig) {
    WsServer server;
    TransportOptions opts;
    opts.max_message_bytes = 1024;
    make(opts);
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    send(1, "big:1000");
    ASSERT_TRUE(rec_->wait(Event::text, 1)); // under the limit: delivered
    send(1, "big:4096");
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::message_too_big)) << info.reason;
    EXPECT_TRUE(info.opened);
    EXPECT_EQ(rec_->count(Event::text, 1), 1u);
}

TEST_F(TransportTest, AbortReportsPromptlyAndSilencesTheConnection) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    const auto start = Clock::now();
    on_strand([&] {
        transport_->send_text(1, "late");
        transport_->abort(1);
        transport_->abort(1); // idempotent
        transport_->send_text(1, "ignored"); // stale id: ignored
    });
    const CloseInfo info = expect_closed(1);
    EXPECT_LT(Clock::now() - start, 500ms);
    EXPECT_EQ(info.error, make_error_code(errc::transport_closed));
    EXPECT_TRUE(info.opened);
    // Nothing after on_closed: a round trip through a fresh connection
    // flushes anything the aborted one could still have produced.
    open(2, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 2));
    send(2, "sync");
    ASSERT_TRUE(rec_->wait(Event::text, 2));
    EXPECT_EQ(rec_->count(Event::closed, 1), 1u);
    EXPECT_EQ(rec_->count(Event::text, 1), 0u);
}

TEST_F(TransportTest, AbortWhileConnectingAndReuseOfTheId) {
    RawServer silent("");
    make();
    open(1, "ws://127.0.0.1:" + std::to_string(silent.port()) + "/");
    on_strand([&] { transport_->abort(1); });
    const CloseInfo first = expect_closed(1);
    EXPECT_FALSE(first.opened);

    WsServer server;
    open(1, server.url()); // the driver may reuse an id after on_closed
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    on_strand([&] { transport_->close(1, 1000, ""); });
    expect_closed(1);
    EXPECT_EQ(rec_->count(Event::closed, 1), 2u);
}

TEST_F(TransportTest, CloseWhileConnectingEndsTheAttempt) {
    RawServer silent("");
    make();
    open(1, "ws://127.0.0.1:" + std::to_string(silent.port()) + "/");
    on_strand([&] { transport_->close(1, 1000, "never mind"); });
    const CloseInfo info = expect_closed(1);
    EXPECT_FALSE(info.opened);
}

TEST_F(TransportTest, HeadersAndUserAgentReachTheServer) {
    WsServer server;
    TransportOptions opts;
    opts.user_agent = "tether-test/1.0";
    make(opts);
    open(1, server.url(), {{"X-Tether-Test", "42"}});
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    EXPECT_EQ(server.header("X-Tether-Test"), "42");
    EXPECT_EQ(server.header("User-Agent"), "tether-test/1.0");
}

// URLs and headers are checked once, before they reach the transport
// (validate_options, with these functions); the Client refuses them at
// construction (c_abi_test's test_args asserts that end to end).
TEST(TransportInputTest, WhatTheTransportIsNeverGivenIsRefusedByTheOneCheck) {
    std::string why;
    for (const char* bad : {"http://127.0.0.1/", "ws://", "ws://host:99999/"}) {
        EXPECT_FALSE(detail::parse_ws_url(bad, why)) << bad;
    }
    EXPECT_FALSE(detail::is_safe_header_value("a\r\nInjected: 1"));
}

TEST_F(TransportTest, BadInputsCloseWithoutThrowing) {
    make();
    open(5, "ws://127.0.0.1/", {}, "bad protocol");
    EXPECT_EQ(expect_closed(5).error, make_error_code(errc::invalid_argument));
    open(0, "ws://127.0.0.1/");
    EXPECT_EQ(expect_closed(0).error, make_error_code(errc::invalid_argument));
}

TEST_F(TransportTest, UnknownHostIsDnsFailed) {
    make();
    // .invalid never resolves (RFC 6761); the resolver answers locally.
    open(1, "ws://tether-test.invalid/");
    // websocketpp's DNS phase timeout (10 s) bounds a resolver that hangs.
    auto closed = rec_->wait(Event::closed, 1, 15s);
    ASSERT_TRUE(closed);
    const CloseInfo info = closed->info;
    EXPECT_TRUE(info.error == make_error_code(errc::dns_failed) || info.error == make_error_code(errc::connect_timeout))
        << info.reason;
}

TEST_F(TransportTest, DestroyingTheTransportWithOpenConnectionsIsSilent) {
    WsServer server;
    make();
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    RawServer silent("");
    open(2, "ws://127.0.0.1:" + std::to_string(silent.port()) + "/"); // still connecting
    send(1, "big:100");
    const auto before = rec_->total();
    on_strand([&] { transport_.reset(); });
    // A new transport on the same strand works; the old one stays silent.
    make();
    open(3, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 3));
    send(3, "sync");
    ASSERT_TRUE(rec_->wait(Event::text, 3));
    EXPECT_EQ(rec_->count(Event::closed, 1), 0u);
    EXPECT_EQ(rec_->count(Event::closed, 2), 0u);
    EXPECT_LE(rec_->total(), before + 3); // at most the late "big:100" echo, open 3 and text 3
}

// --- proxy -------------------------------------------------------------------

TEST_F(TransportTest, ProxyRefusalIsProxyError) {
    RawServer proxy("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    WsServer server;
    TransportOptions opts;
    opts.proxy.url = "http://127.0.0.1:" + std::to_string(proxy.port());
    make(opts);
    open(1, server.url());
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::proxy_error)) << info.reason;
    EXPECT_NE(proxy.last_request().find("CONNECT 127.0.0.1:" + std::to_string(server.port())), std::string::npos);
}

TEST_F(TransportTest, TunnelsThroughProxyWithBasicAuth) {
    TunnelProxy proxy;
    WsServer server;
    TransportOptions opts;
    opts.proxy.url = proxy.url();
    opts.proxy.username = "user";
    opts.proxy.password = "pass";
    make(opts);
    open(1, server.url());
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    send(1, "via proxy");
    auto text = rec_->wait(Event::text, 1);
    ASSERT_TRUE(text);
    EXPECT_EQ(text->str, "via proxy");
    // base64("user:pass")
    EXPECT_NE(proxy.last_request().find("Proxy-Authorization: Basic dXNlcjpwYXNz"), std::string::npos);
}

TEST_F(TransportTest, UnreachableProxyIsProxyError) {
    WsServer server;
    TransportOptions opts;
    opts.proxy.url = "http://127.0.0.1:" + std::to_string(closed_port());
    make(opts);
    open(1, server.url());
    EXPECT_EQ(expect_closed(1).error, make_error_code(errc::proxy_error));
}

// --- wss:// -----------------------------------------------------------------

class TlsTransportTest : public TransportTest {
protected:
    void SetUp() override {
        TransportTest::SetUp();
        if (!pki().ok) GTEST_SKIP() << "openssl CLI could not create the test PKI";
    }
};

TEST_F(TlsTransportTest, SucceedsWithCaFile) {
    WssServer server({}, tls_setup(pki().good_cert, pki().good_key));
    TransportOptions opts;
    opts.tls.ca_file = pki().ca;
    make(opts);
    open(1, server.url("wss"));
    auto opened = rec_->wait(Event::open, 1);
    ASSERT_TRUE(opened) << expect_closed(1).reason;
    EXPECT_EQ(opened->str, kSubprotocol);
    send(1, "secure hello");
    auto text = rec_->wait(Event::text, 1);
    ASSERT_TRUE(text);
    EXPECT_EQ(text->str, "secure hello");
    // The same context serves a second connection, by host name this time.
    open(2, server.url("wss", "localhost"));
    EXPECT_TRUE(rec_->wait(Event::open, 2)) << expect_closed(2).reason;
}

TEST_F(TlsTransportTest, ABatchOfTextsArrivesInOrderOverTls) {
    WssServer server({}, tls_setup(pki().good_cert, pki().good_key));
    TransportOptions opts;
    opts.tls.ca_file = pki().ca;
    make(opts);
    open(1, server.url("wss"));
    ASSERT_TRUE(rec_->wait(Event::open, 1)) << expect_closed(1).reason;
    expect_a_batch_arrives(*transport_, *rec_, [this](std::function<void()> fn) { on_strand(fn); });
}

TEST_F(TlsTransportTest, UnknownCaIsVerifyFailed) {
    WssServer server({}, tls_setup(pki().good_cert, pki().good_key));
    make(); // system store: does not know the test CA
    open(1, server.url("wss"));
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::tls_verify_failed)) << info.reason;
    EXPECT_FALSE(info.opened);
}

TEST_F(TlsTransportTest, WrongHostNameIsVerifyFailed) {
    WssServer server({}, tls_setup(pki().other_cert, pki().other_key)); // only DNS:other.example
    TransportOptions opts;
    opts.tls.ca_file = pki().ca;
    make(opts);
    open(1, server.url("wss"));
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::tls_verify_failed)) << info.reason;
    EXPECT_NE(info.reason.find("does not match"), std::string::npos) << info.reason;
}

TEST_F(TlsTransportTest, SpkiPinsAreEnforced) {
    WssServer server({}, tls_setup(pki().good_cert, pki().good_key));
    {
        TransportOptions opts;
        opts.tls.ca_file = pki().ca;
        opts.tls.pinned_spki_sha256 = {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pki().good_pin};
        make(opts);
        open(1, server.url("wss"));
        EXPECT_TRUE(rec_->wait(Event::open, 1)) << expect_closed(1).reason;
    }
    {
        TransportOptions opts;
        opts.tls.ca_file = pki().ca;
        opts.tls.pinned_spki_sha256 = {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="};
        on_strand([&] { transport_.reset(); });
        make(opts);
        open(2, server.url("wss"));
        const CloseInfo info = expect_closed(2);
        EXPECT_EQ(info.error, make_error_code(errc::tls_verify_failed)) << info.reason;
        EXPECT_NE(info.reason.find("pin"), std::string::npos) << info.reason;
    }
}

TEST_F(TlsTransportTest, InsecureSkipVerifyConnectsAndWarns) {
    WssServer server({}, tls_setup(pki().other_cert, pki().other_key));
    TransportOptions opts;
    opts.tls.insecure_skip_verify = true;
    make(opts);
    open(1, server.url("wss"));
    EXPECT_TRUE(rec_->wait(Event::open, 1)) << expect_closed(1).reason;
    EXPECT_TRUE(logged(LogLevel::warn, "insecure_skip_verify"));
}

TEST_F(TlsTransportTest, PlainServerIsTlsError) {
    RawServer plain("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", true);
    TransportOptions opts;
    opts.tls.ca_file = pki().ca;
    make(opts);
    open(1, "wss://127.0.0.1:" + std::to_string(plain.port()) + "/");
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::tls_error)) << info.reason;
}

TEST_F(TlsTransportTest, BadCaFileIsTlsError) {
    WssServer server({}, tls_setup(pki().good_cert, pki().good_key));
    TransportOptions opts;
    opts.tls.ca_file = pki().dir + "/missing.pem";
    make(opts);
    open(1, server.url("wss"));
    const CloseInfo info = expect_closed(1);
    EXPECT_EQ(info.error, make_error_code(errc::tls_error)) << info.reason;
}

TEST_F(TlsTransportTest, AbortOnTlsIsPrompt) {
    WssServer server({}, tls_setup(pki().good_cert, pki().good_key));
    TransportOptions opts;
    opts.tls.ca_file = pki().ca;
    make(opts);
    open(1, server.url("wss"));
    ASSERT_TRUE(rec_->wait(Event::open, 1));
    const auto start = Clock::now();
    on_strand([&] { transport_->abort(1); });
    expect_closed(1);
    EXPECT_LT(Clock::now() - start, 500ms);
}

// --- reactor ------------------------------------------------------------------

TEST(TransportReactorTest, TimerFiresOnTheStrandAndCancelAndRearmSuppressOldCallbacks) {
    auto reactor = Reactor::create_threaded("tether-timer");
    auto strand = reactor->make_strand();
    std::unique_ptr<Timer> timer;
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> fired;
    bool on_strand = true;
    auto note = [&](const std::string& what) {
        std::lock_guard<std::mutex> lock(mu);
        on_strand = on_strand && strand->running_in_this_thread();
        fired.push_back(what);
        cv.notify_all();
    };
    strand->post([&] {
        timer = strand->make_timer();
        const auto now = core::Clock::now();
        timer->arm(now + 1ms, [&] { note("replaced"); }); // replaced before it can run
        timer->arm(now + 20ms, [&] { note("second"); });
    });
    {
        std::unique_lock<std::mutex> lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return !fired.empty(); }));
    }
    std::promise<void> armed;
    strand->post([&] {
        timer->arm(core::Clock::now() + 10ms, [&] { note("cancelled"); });
        timer->cancel();
        timer->arm(core::Clock::now() + 30ms, [&] { note("third"); });
        armed.set_value();
    });
    armed.get_future().wait();
    {
        std::unique_lock<std::mutex> lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return fired.size() >= 2; }));
        EXPECT_EQ(fired, (std::vector<std::string>{"second", "third"}));
        EXPECT_TRUE(on_strand);
    }
    std::promise<void> gone;
    strand->post([&] {
        timer.reset(); // destroyed on the strand
        gone.set_value();
    });
    gone.get_future().wait();
}

TEST(TransportReactorTest, TimerCancelledAfterExpiryStillNeverRuns) {
    // With two io threads, the expired wait can complete on the other thread
    // and sit in the strand queue while the strand is busy; cancel() must
    // still win. Spinning (not sleeping) keeps the strand busy past the
    // deadline so the completion is queued behind us.
    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::thread t1([&] { io.run(); });
    std::thread t2([&] { io.run(); });
    {
        auto reactor = Reactor::wrap(&io);
        auto strand = std::shared_ptr<Strand>(reactor->make_strand());
        std::atomic<int> ran{0};
        std::promise<void> done;
        strand->post([&] {
            auto timer = std::shared_ptr<Timer>(strand->make_timer());
            timer->arm(core::Clock::now(), [&] { ran++; });
            const auto until = core::Clock::now() + 20ms;
            while (core::Clock::now() < until) {
            }
            timer->cancel();
            strand->post([&, timer]() mutable {
                timer.reset();
                done.set_value();
            });
        });
        ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
        EXPECT_EQ(ran.load(), 0);
    }
    guard.reset();
    io.stop();
    t1.join();
    t2.join();
}

TEST(TransportReactorTest, ReleasingTheLastReferenceOnTheIoThreadDoesNotSelfJoin) {
    auto reactor = Reactor::create_threaded();
    std::shared_ptr<Strand> strand(reactor->make_strand());
    std::promise<void> go;
    std::shared_future<void> go_signal = go.get_future().share();
    std::promise<bool> in_thread;
    auto fut = in_thread.get_future();
    // The posted closure ends up holding the last references to the reactor
    // and the strand (strands must go before their io_context). It waits until
    // this thread has dropped its own, after post() has returned: a poster must
    // hold a reference while it posts (post() still touches the io_context).
    strand->post([r = reactor, s = strand, go_signal, &in_thread]() mutable {
        go_signal.wait();
        const bool inside = r->running_in_this_thread();
        s.reset();
        r.reset();
        in_thread.set_value(inside);
    });
    strand.reset();
    reactor.reset();
    go.set_value();
    ASSERT_EQ(fut.wait_for(kWait), std::future_status::ready);
    EXPECT_TRUE(fut.get());
}

TEST(TransportReactorTest, WrapUsesTheApplicationsContext) {
    asio::io_context io;
    auto reactor = Reactor::wrap(&io);
    ASSERT_TRUE(reactor);
    EXPECT_EQ(reactor->native_io_context(), &io);
    auto strand = reactor->make_strand();
    bool ran = false;
    bool inside = false;
    strand->post([&] {
        ran = true;
        inside = strand->running_in_this_thread() && reactor->running_in_this_thread();
    });
    EXPECT_FALSE(reactor->running_in_this_thread());
    io.run();
    EXPECT_TRUE(ran);
    EXPECT_TRUE(inside);
}

// --- pure helpers ---------------------------------------------------------------

TEST(TransportUtilTest, ParsesWebSocketUrls) {
    std::string why;
    auto u = detail::parse_ws_url("WSS://Example.com:8443/path?q=1", why);
    ASSERT_TRUE(u) << why;
    EXPECT_TRUE(u->secure);
    EXPECT_EQ(u->host, "Example.com");
    EXPECT_EQ(u->port, 8443);
    EXPECT_EQ(u->normalized, "wss://Example.com:8443/path?q=1");

    u = detail::parse_ws_url("ws://[::1]?x", why);
    ASSERT_TRUE(u) << why;
    EXPECT_EQ(u->host, "::1");
    EXPECT_EQ(u->port, 80);
    EXPECT_EQ(u->normalized, "ws://[::1]/?x");

    for (const char* bad : {"", "ws:/x", "http://a/", "ws://", "ws://:80/", "ws://a:0/", "ws://a:65536/", "ws://a:/",
                            "ws://u@a/", "ws://a/#frag", "ws://a b/", "ws://a/\x01", "ws://[::1/"}) {
        EXPECT_FALSE(detail::parse_ws_url(bad, why)) << bad;
    }
}

TEST(TransportUtilTest, NormalizesProxyUrls) {
    std::string why;
    EXPECT_EQ(detail::normalize_proxy_url("HTTP://proxy:3128/", why), "http://proxy:3128");
    EXPECT_FALSE(detail::normalize_proxy_url("https://proxy:3128", why));
    EXPECT_FALSE(detail::normalize_proxy_url("http://u:p@proxy:3128", why));
}

TEST(TransportUtilTest, ParsesRetryAfter) {
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777)); // Sun, 06 Nov 1994 08:49:37
    EXPECT_EQ(detail::parse_retry_after("120", now), std::chrono::milliseconds(120000));
    EXPECT_EQ(detail::parse_retry_after(" 0 ", now), std::chrono::milliseconds(0));
    EXPECT_EQ(detail::parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), std::chrono::milliseconds(30000));
    EXPECT_EQ(detail::parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), std::chrono::milliseconds(0));
    EXPECT_EQ(detail::parse_retry_after("99999999999999999999", now), core::kMaxDuration);
    for (const char* bad : {"", "-1", "1.5", "soon", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"}) {
        EXPECT_FALSE(detail::parse_retry_after(bad, now)) << bad;
    }
}

TEST(TransportUtilTest, TruncatesUtf8OnCharacterBoundaries) {
    EXPECT_EQ(detail::truncate_utf8("abc", 5), "abc");
    EXPECT_EQ(detail::truncate_utf8("ab\xC3\xA9", 3), "ab"); // never half of "é"
    EXPECT_EQ(detail::truncate_utf8("ab\xC3\xA9", 4), "ab\xC3\xA9");
}

TEST(TransportUtilTest, ValidatesTokensAndHeaderValues) {
    EXPECT_TRUE(detail::is_http_token("tether.v1"));
    EXPECT_FALSE(detail::is_http_token(""));
    EXPECT_FALSE(detail::is_http_token("a b"));
    EXPECT_FALSE(detail::is_http_token("a:b"));
    EXPECT_TRUE(detail::is_safe_header_value("Bearer x\ty"));
    EXPECT_FALSE(detail::is_safe_header_value("a\r\nb"));
}

TEST(TransportUtilTest, CsprngProducesVaryingWords) {
    detail::BufferedCsprng rng;
    std::set<std::uint32_t> seen;
    for (int i = 0; i < 3000; ++i) seen.insert(rng()); // crosses a 4 KiB refill
    EXPECT_GT(seen.size(), 2990u);
}

// The transport masks outgoing frames itself (websocket_transport.cpp). RFC
// 6455 §5.3: octet i of the payload is XORed with octet i mod 4 of the key,
// the key's octets in the order they appear in the frame header (memory order).
TEST(TransportUtilTest, MaskInPlaceMatchesTheRfcDefinitionAtEveryLengthAndAlignment) {
    const std::uint32_t key = 0xA1B2C3D4u;
    unsigned char k[4];
    std::memcpy(k, &key, sizeof k);
    std::string source;
    for (int i = 0; i < 80; ++i) source.push_back(static_cast<char>(i * 37 + 11));
    for (std::size_t offset = 0; offset < 8; ++offset) {
        for (std::size_t len = 0; len + offset <= source.size(); ++len) {
            std::string buf = source;
            detail::mask_in_place(buf.data() + offset, len, key);
            for (std::size_t i = 0; i < buf.size(); ++i) {
                const bool inside = i >= offset && i < offset + len;
                const auto expected = inside ? static_cast<char>(static_cast<unsigned char>(source[i]) ^ k[(i - offset) % 4])
                                             : source[i];
                ASSERT_EQ(buf[i], expected) << "offset " << offset << " len " << len << " byte " << i;
            }
            detail::mask_in_place(buf.data() + offset, len, key); // masking twice restores the payload
            ASSERT_EQ(buf, source);
        }
    }
}

TEST(TransportUtilTest, BatchedFramesAreWhatWebsocketppWouldWrite) {
    namespace frame = websocketpp::frame;
    for (std::size_t size : std::vector<std::size_t>{0, 1, 7, 125, 126, 127, 1000, 65535, 65536, 70000}) {
        std::string text(size, '\0');
        for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('A' + i % 53);
        const std::uint32_t key = 0x9e3779b9u ^ static_cast<std::uint32_t>(size);
        std::string wire = "prev";
        detail::append_masked_text_frame(wire, text, key);
        std::string payload = text;
        detail::mask_in_place(payload.data(), payload.size(), key);
        const std::string expected =
            "prev" +
            frame::prepare_header(frame::basic_header(frame::opcode::text, size, true, true),
                                  frame::extended_header(size, key)) +
            payload;
        ASSERT_EQ(wire, expected) << "size " << size;
    }
}

TEST(TransportUtilTest, FastUtf8CheckAgreesWithTheCoreValidator) {
    std::mt19937 rng(7);
    const char pieces[][5] = {"a", "Z", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80", "\x80", "\xC0\xAF",
                              "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE6\x97", "0123"};
    for (int n = 0; n < 20000; ++n) {
        std::string s;
        const int parts = static_cast<int>(rng() % 24);
        for (int i = 0; i < parts; ++i) s += pieces[rng() % (sizeof pieces / sizeof *pieces)];
        ASSERT_EQ(detail::is_valid_utf8_fast(s), core::is_valid_utf8(s)) << s;
    }
}

TEST(TransportUtilTest, ForkedChildNeverReusesTheParentsBufferedKeys) {
    detail::BufferedCsprng rng;
    (void)rng(); // the pool now holds about 4 KiB of unused bytes
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::uint32_t words[8];
        for (auto& w : words) w = rng();
        const auto written = ::write(fds[1], words, sizeof words);
        ::_exit(written == static_cast<ssize_t>(sizeof words) ? 0 : 1);
    }
    ::close(fds[1]);
    std::uint32_t child[8] = {};
    std::size_t got = 0;
    while (got < sizeof child) {
        const auto n = ::read(fds[0], reinterpret_cast<char*>(child) + got, sizeof child - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_EQ(got, sizeof child);
    std::uint32_t parent[8];
    for (auto& w : parent) w = rng();
    EXPECT_NE(std::memcmp(child, parent, sizeof child), 0) << "parent and child drew the same masking keys";
}

} // namespace
} // namespace tether::transport
