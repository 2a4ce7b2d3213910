// The websocketpp driver around ProtocolServer: translates socket events into
// its inputs and its actions into websocketpp calls; all protocol decisions
// are its own. Upgrade-time policy (path, Bearer auth, scripted rejections,
// subprotocol) lives here because it happens before there is a connection.
//
// The only translation unit of chat-server that includes websocketpp/Asio
// (each such TU costs ~15 s to compile).
#include "server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

// GCC's middle end reports -Wnull-dereference inside Asio's scheduler even
// though it is a system header; silence it for these headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <openssl/rand.h>
#include <websocketpp/config/asio.hpp>
#include <websocketpp/server.hpp>
#pragma GCC diagnostic pop

namespace tether::chat {
namespace {

using Clock = std::chrono::steady_clock;
using Hdl = websocketpp::connection_hdl;

constexpr auto kCloseWait = std::chrono::seconds(2);     // for clients to answer our 1001
constexpr auto kTerminateWait = std::chrono::seconds(1); // for sockets we then drop
constexpr auto kUnsentPoll = std::chrono::milliseconds(2); // while the protocol server holds msgs for a full window

// 128 bits from OpenSSL's CSPRNG, hex: session ids and resume tokens.
std::string random_secret() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        std::cerr << "chat-server: RAND_bytes failed\n";
        std::abort(); // never hand out a guessable resume token
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * sizeof bytes);
    for (unsigned char b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 0xf];
    }
    return out;
}

std::string path_of(const std::string& resource) { return resource.substr(0, resource.find('?')); }

// One server for either config (plain ws or wss): owns the io_context, the
// endpoint, the protocol server and its single timer.
// Thread safety: none needed; run() is the only thread, and every handler and
// timer runs on it.
template <class Config>
class Server {
public:
    using Endpoint = websocketpp::server<Config>;
    using Message = typename Endpoint::message_ptr;

    explicit Server(const ServerOptions& options)
        : options_(options), protocol_(protocol_options(options), random_secret), timer_(io_), grace_(io_),
          unsent_poll_(io_), signals_(io_, SIGINT, SIGTERM) {
        ep_.init_asio(&io_);
        ep_.set_reuse_addr(true);
        ep_.clear_access_channels(websocketpp::log::alevel::all);
        ep_.get_alog().set_ostream(&std::cerr);
        ep_.get_elog().set_ostream(&std::cerr);
        ep_.clear_error_channels(websocketpp::log::elevel::all);
        // rerror is mostly peers dropping their sockets (tests do that on purpose).
        ep_.set_error_channels(websocketpp::log::elevel::warn | websocketpp::log::elevel::fatal |
                               (options.verbose ? websocketpp::log::elevel::rerror : 0));
        ep_.set_max_message_size(options.max_message_bytes);
        ep_.set_user_agent("tether-chat-server");

        ep_.set_validate_handler([this](Hdl h) { return on_validate(h); });
        ep_.set_http_handler([this](Hdl h) { on_http(h); });
        ep_.set_open_handler([this](Hdl h) { on_open(h); });
        ep_.set_close_handler([this](Hdl h) { on_gone(h); });
        ep_.set_fail_handler([this](Hdl h) { on_gone(h); });
        ep_.set_message_handler([this](Hdl h, Message m) { on_message(h, m); });
        ep_.set_ping_handler([this](Hdl h, std::string) {
            activity(h);
            return true; // answer with a pong
        });
        ep_.set_pong_handler([this](Hdl h, std::string) { activity(h); });
    }

    void set_tls(std::shared_ptr<asio::ssl::context> ctx) {
        if constexpr (std::is_same_v<Config, websocketpp::config::asio_tls>) {
            ep_.set_tls_init_handler([ctx](Hdl) { return ctx; });
        } else {
            (void)ctx;
        }
    }

    int run() {
        websocketpp::lib::error_code ec;
        ep_.listen(options_.host, std::to_string(options_.port), ec);
        if (ec) {
            std::cerr << "chat-server: cannot listen on " << options_.host << ":" << options_.port << ": "
                      << ec.message() << "\n";
            return 1;
        }
        ep_.start_accept(ec);
        if (ec) {
            std::cerr << "chat-server: accept failed: " << ec.message() << "\n";
            return 1;
        }
        asio::error_code aec;
        const auto local = ep_.get_local_endpoint(aec);
        // Tests parse this line: always first on stdout, always flushed.
        std::cout << "listening on " << options_.host << ":" << (aec ? options_.port : local.port()) << std::endl;

        signals_.async_wait([this](const asio::error_code& e, int sig) {
            if (e) return;
            if (options_.verbose) std::cerr << "chat-server: signal " << sig << ", shutting down\n";
            begin_shutdown();
        });
        io_.run();
        if (options_.verbose) print_stats();
        return 0;
    }

private:
    static ProtocolServerOptions protocol_options(const ServerOptions& o) {
        ProtocolServerOptions h = o.protocol;
        h.max_message_bytes = o.max_message_bytes;
        if (o.upgrade_auth) h.check_hello_token = false; // authenticated at the upgrade
        return h;
    }

    // ---- upgrade policy

    bool on_validate(Hdl h) {
        auto con = ep_.get_con_from_hdl(h);
        if (path_of(con->get_resource()) != options_.path) {
            con->set_status(websocketpp::http::status_code::not_found);
            return false;
        }
        if (rejected_ < options_.reject_upgrades) {
            ++rejected_;
            con->set_status(static_cast<websocketpp::http::status_code::value>(options_.reject_status));
            if (options_.retry_after_s) con->append_header("Retry-After", std::to_string(*options_.retry_after_s));
            return false;
        }
        if (options_.upgrade_auth && !bearer_ok(con->get_request_header("Authorization"))) {
            con->set_status(websocketpp::http::status_code::unauthorized);
            con->append_header("WWW-Authenticate", "Bearer");
            return false;
        }
        for (const std::string& p : con->get_requested_subprotocols()) {
            if (p == core::kSubprotocol) {
                websocketpp::lib::error_code ec;
                con->select_subprotocol(p, ec);
                break;
            }
        }
        return true;
    }

    bool bearer_ok(const std::string& header) const {
        static const std::string kPrefix = "Bearer ";
        if (header.compare(0, kPrefix.size(), kPrefix) != 0) return false;
        const std::string token = header.substr(kPrefix.size());
        const auto& ok = options_.protocol.tokens;
        const auto& expired = options_.protocol.expired_tokens;
        if (std::find(expired.begin(), expired.end(), token) != expired.end()) return false;
        return ok.empty() || std::find(ok.begin(), ok.end(), token) != ok.end();
    }

    // Plain HTTP (no upgrade): the WebSocket path wants an upgrade, the rest does not exist.
    void on_http(Hdl h) {
        auto con = ep_.get_con_from_hdl(h);
        if (path_of(con->get_resource()) == options_.path) {
            con->set_status(websocketpp::http::status_code::upgrade_required);
            con->set_body("WebSocket endpoint (subprotocol tether.v1)\n");
        } else {
            con->set_status(websocketpp::http::status_code::not_found);
            con->set_body("not found\n");
        }
    }

    // ---- connection events -> protocol server

    void on_open(Hdl h) {
        const ConnId id = next_id_++;
        ids_[h] = id;
        hdls_[id] = h;
        {
            // Acks and echoes are small; do not let Nagle hold them back.
            asio::error_code ec;
            ep_.get_con_from_hdl(h)->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ec);
        }
        if (options_.verbose) std::cerr << "chat-server: conn " << id << " open\n";
        protocol_.on_open(id, Clock::now());
        pump();
    }

    void on_gone(Hdl h) {
        auto it = ids_.find(h);
        if (it == ids_.end()) return; // a refused upgrade: the protocol server never saw it
        const ConnId id = it->second;
        ids_.erase(it);
        hdls_.erase(id);
        if (options_.verbose) {
            websocketpp::lib::error_code ec;
            auto con = ep_.get_con_from_hdl(h, ec);
            std::cerr << "chat-server: conn " << id << " closed";
            if (con)
                std::cerr << " (remote " << con->get_remote_close_code() << " \"" << con->get_remote_close_reason()
                          << "\", local " << con->get_local_close_code() << ")";
            std::cerr << "\n";
        }
        protocol_.on_closed(id, Clock::now());
        pump();
        if (stopping_ && ids_.empty()) finish();
    }

    void on_message(Hdl h, const Message& m) {
        const ConnId id = id_of(h);
        if (id == 0) return;
        if (m->get_opcode() == websocketpp::frame::opcode::text)
            protocol_.on_text(id, m->get_payload(), Clock::now());
        else
            protocol_.on_binary(id, Clock::now());
        pump();
    }

    void activity(Hdl h) {
        if (const ConnId id = id_of(h)) protocol_.on_activity(id, Clock::now());
    }

    ConnId id_of(Hdl h) const {
        auto it = ids_.find(h);
        return it == ids_.end() ? 0 : it->second;
    }

    // ---- protocol server actions -> websocketpp

    void pump() {
        const bool windowed = protocol_.options().send_window_bytes != 0;
        std::vector<Action> actions = protocol_.take_actions();
        while (!actions.empty()) {
            std::vector<ConnId> sent_to;
            for (Action& a : actions) {
                if (windowed && a.kind == Action::Kind::send_text && (sent_to.empty() || sent_to.back() != a.conn))
                    sent_to.push_back(a.conn);
                execute(a);
            }
            // What the transport could not write yet decides what the protocol server hands over next.
            for (ConnId id : sent_to) report_unsent(id);
            actions = protocol_.take_actions();
        }
        arm_timer();
        arm_unsent_poll();
    }

    void report_unsent(ConnId id) {
        auto it = hdls_.find(id);
        if (it == hdls_.end()) return;
        websocketpp::lib::error_code ec;
        auto con = ep_.get_con_from_hdl(it->second, ec);
        if (con) protocol_.on_unsent(id, con->get_buffered_amount(), Clock::now());
    }

    // websocketpp says nothing when a write completes, so while the protocol server holds
    // msgs back for a full window, ask the transports again every few ms.
    void arm_unsent_poll() {
        if (unsent_poll_armed_ || protocol_.held_connections().empty()) return;
        unsent_poll_armed_ = true;
        unsent_poll_.expires_after(kUnsentPoll);
        unsent_poll_.async_wait([this](const asio::error_code& ec) {
            unsent_poll_armed_ = false;
            if (ec == asio::error::operation_aborted) return;
            const std::vector<ConnId> held(protocol_.held_connections().begin(), protocol_.held_connections().end());
            for (ConnId id : held) report_unsent(id);
            pump();
        });
    }

    void execute(Action& a) {
        auto it = hdls_.find(a.conn);
        if (it == hdls_.end()) return;
        websocketpp::lib::error_code ec;
        auto con = ep_.get_con_from_hdl(it->second, ec);
        if (!con) return;
        switch (a.kind) {
        case Action::Kind::send_text:
            ec = con->send(a.text, websocketpp::frame::opcode::text);
            break;
        case Action::Kind::ping:
            con->ping("", ec);
            break;
        case Action::Kind::close:
            if (options_.verbose) std::cerr << "chat-server: conn " << a.conn << " close " << a.code << " " << a.text << "\n";
            con->close(a.code, a.text, ec);
            break;
        case Action::Kind::terminate:
            if (options_.verbose) std::cerr << "chat-server: conn " << a.conn << " silent too long, dropped\n";
            // May run on_gone() (and a nested pump) before it returns: `it` is dead after this.
            con->terminate(websocketpp::transport::error::make_error_code(websocketpp::transport::error::timeout));
            break;
        }
        // Failures here mean the connection is already going; its close handler follows.
        if (ec && options_.verbose) std::cerr << "chat-server: conn " << a.conn << ": " << ec.message() << "\n";
    }

    // The single timer, always at the protocol server's earliest deadline.
    void arm_timer() {
        const auto want = protocol_.next_timeout();
        if (want == timer_at_) return;
        timer_at_ = want;
        if (!want) {
            timer_.cancel();
            return;
        }
        timer_.expires_at(*want);
        timer_.async_wait([this](const asio::error_code& ec) {
            if (ec == asio::error::operation_aborted) return;
            timer_at_.reset();
            protocol_.on_timeout(Clock::now());
            pump();
        });
    }

    // ---- shutdown: 1001 to everyone, bounded wait, then drop what is left

    void begin_shutdown() {
        if (stopping_) return;
        stopping_ = true;
        websocketpp::lib::error_code ec;
        ep_.stop_listening(ec);
        protocol_.shutdown(Clock::now());
        pump();
        if (ids_.empty()) {
            finish();
            return;
        }
        grace_.expires_after(kCloseWait);
        grace_.async_wait([this](const asio::error_code& e) {
            if (e) return;
            // terminate() can run the close handler at once, which edits hdls_.
            std::vector<Hdl> left;
            for (const auto& entry : hdls_) left.push_back(entry.second);
            for (const Hdl& h : left) {
                websocketpp::lib::error_code ec2;
                if (auto con = ep_.get_con_from_hdl(h, ec2))
                    con->terminate(websocketpp::transport::error::make_error_code(websocketpp::transport::error::timeout));
            }
            if (ids_.empty()) return; // on_gone() already finished
            grace_.expires_after(kTerminateWait);
            grace_.async_wait([this](const asio::error_code& e2) {
                if (!e2) finish();
            });
        });
    }

    void finish() {
        timer_.cancel();
        grace_.cancel();
        unsent_poll_.cancel();
        asio::error_code ec;
        signals_.cancel(ec);
        io_.stop();
    }

    void print_stats() const {
        const ProtocolServerStats& s = protocol_.stats();
        std::cerr << "chat-server: stats connections=" << s.connections_total << " sessions=" << s.sessions_created
                  << " resumes=" << s.resumes << " resume_misses=" << s.resume_misses << " takeovers=" << s.takeovers
                  << " auth_failures=" << s.auth_failures << " bad_frames=" << s.bad_frames
                  << " msgs_in=" << s.msgs_in << " dup_in=" << s.msgs_in_duplicate << " msgs_out=" << s.msgs_out
                  << " replayed=" << s.msgs_replayed << " replay_dropped=" << s.replay_dropped
                  << " sends_held=" << s.sends_held << " window_overruns=" << s.window_overruns
                  << " expired=" << s.sessions_expired << " liveness_timeouts=" << s.liveness_timeouts
                  << " upgrades_rejected=" << rejected_ << "\n";
    }

    const ServerOptions& options_;
    asio::io_context io_; // before everything that uses it
    Endpoint ep_;
    ProtocolServer protocol_;
    asio::steady_timer timer_;
    asio::steady_timer grace_;
    asio::steady_timer unsent_poll_;
    bool unsent_poll_armed_ = false;
    asio::signal_set signals_;
    std::optional<core::TimePoint> timer_at_;
    std::map<Hdl, ConnId, std::owner_less<Hdl>> ids_;
    std::unordered_map<ConnId, Hdl> hdls_;
    ConnId next_id_ = 1;
    unsigned rejected_ = 0;
    bool stopping_ = false;
};

std::shared_ptr<asio::ssl::context> load_tls(const ServerOptions& o) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    asio::error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1,
                     ec);
    if (!ec) ctx->use_certificate_chain_file(o.tls_cert, ec);
    if (ec) {
        std::cerr << "chat-server: cannot load certificate " << o.tls_cert << ": " << ec.message() << "\n";
        return nullptr;
    }
    ctx->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
    if (ec) {
        std::cerr << "chat-server: cannot load key " << o.tls_key << ": " << ec.message() << "\n";
        return nullptr;
    }
    return ctx;
}

} // namespace

int run_server(const ServerOptions& options) {
    try {
        if (!options.tls_cert.empty()) {
            auto ctx = load_tls(options);
            if (!ctx) return 1;
            Server<websocketpp::config::asio_tls> server(options);
            server.set_tls(std::move(ctx));
            return server.run();
        }
        Server<websocketpp::config::asio> server(options);
        return server.run();
    } catch (const std::exception& e) {
        std::cerr << "chat-server: " << e.what() << "\n";
        return 1;
    }
}

} // namespace tether::chat
