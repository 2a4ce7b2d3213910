// The websocketpp 0.8.2 / Asio / OpenSSL implementation of Transport.
//
// Model:
//  - Two client endpoints (ws:// and wss://) on the reactor's io_context, and
//    one fresh websocketpp connection per open() (connections are single-use).
//  - websocketpp runs its handlers on the io thread. Each handler turns what
//    happened into a small closure and posts it to the client's strand, so
//    every TransportEvents call is made on that strand, in the order
//    websocketpp produced them.
//  - Per-connection bookkeeping (`conns_`) lives on the strand. An event for a
//    connection is delivered only while its entry exists and belongs to the
//    same open() (ConnState identity), so stale events of an aborted or
//    replaced connection are dropped. on_closed erases the entry: exactly one
//    on_closed per open().
//  - Lifetime: websocketpp binds raw endpoint pointers into pending async
//    operations, so every connection's handlers hold the WsppEndpoints (which
//    own the endpoints) until websocketpp lets go of the connection. The
//    Transport object is only a facade; destroying it silences events and
//    terminates connections, and the endpoints go away with the last
//    connection.
//  - It translates and decides nothing: the caller's URL, headers and
//    options arrive checked; the connect and close deadlines are the
//    caller's (it aborts); what ended a connection is named by classify.cpp
//    from the facts gathered here; TLS is set up by tls_context.cpp.
//
// Thread safety: Transport methods (and its destructor) run on the strand;
// websocketpp handlers on the io thread. They share only `mu_`/`alive_` and
// the ConnState fields that are atomic or lock themselves (verify). Calls into a
// websocketpp connection are made from the strand, which is only safe with
// one io thread per io_context (websocketpp #872, #583).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

#include "tether/error.hpp"
#include "transport/classify.hpp"
#include "transport/tls_context.hpp"
#include "transport/transport.hpp"
#include "transport/transport_util.hpp"
#include "transport/wspp_config.hpp"

namespace tether::transport {
namespace {

using detail::PlainClientConfig;
using detail::TlsClientConfig;
using PlainClient = websocketpp::client<PlainClientConfig>;
using TlsClient = websocketpp::client<TlsClientConfig>;
using SslStream = asio::ssl::stream<asio::ip::tcp::socket>;
using SslContextPtr = std::shared_ptr<asio::ssl::context>;

// websocketpp 0.8.2's _htonll/_ntohll (64-bit frame lengths) set a
// function-local static on their first call without synchronization, so two
// io threads (two EventLoops) meeting their first long frame at once race on
// it (TSan, C ABI suite). Calling it while the library loads, before any
// thread of ours exists, leaves only reads.
[[maybe_unused]] const std::uint64_t kHtonllInitialized = websocketpp::lib::net::_htonll(1);

// After the server's close frame has been answered, websocketpp waits this
// long for the server to end the TCP connection, then ends it itself. A close
// we start is not timed here: the caller's close deadline aborts it.
constexpr long kAnsweredCloseTeardownMs = 1000;
constexpr std::size_t kMaxCloseReasonBytes = 123;

class WsppEndpoints;

// Per open(): what the websocketpp handlers of one connection share.
struct ConnState {
    ConnState(ConnectionId i, std::shared_ptr<WsppEndpoints> e) : id(i), endpoints(std::move(e)) {}

    const ConnectionId id;
    const std::shared_ptr<WsppEndpoints> endpoints; // kept alive (see file comment)
    std::string host;
    std::uint16_t port = 0;
    bool secure = false;
    std::string proxy_url; // empty: direct
    std::atomic<int> user_close_code{-1}; // code passed to close(), -1: none
    // Written by the verify callback (during the handshake), read by the
    // fail handler.
    detail::VerifyFailure verify;
};

// The operations the strand side needs, over either connection type.
class ConnOps {
public:
    virtual ~ConnOps() = default;
    virtual std::error_code send_text(std::string&& text) = 0;
    virtual std::error_code send_texts(std::string* const* texts, std::size_t n) = 0;
    virtual std::error_code ping() = 0;
    virtual std::error_code close(std::uint16_t code, const std::string& reason) = 0;
    virtual websocketpp::session::state::value state() const = 0;
    virtual void terminate() = 0;
    virtual std::size_t buffered_amount() const = 0;
};

template <class Con>
class ConnOpsImpl final : public ConnOps {
public:
    explicit ConnOpsImpl(std::shared_ptr<Con> con) : con_(std::move(con)) {}

    // connection::send(payload) would copy the text into a message, then
    // prepare_data_frame would check it as UTF-8 and copy it again to mask it,
    // byte by byte (websocketpp 0.8.2). Instead the text becomes the payload
    // of a message prepared here: masked in place, 8 bytes at a time, with a
    // key from the same CSPRNG, and written as is (the path websocketpp has
    // for pre-prepared messages). connection::send reports errors by value.
    std::error_code send_text(std::string&& text) override {
        namespace frame = websocketpp::frame;
        // The core only emits UTF-8; should that ever break, websocketpp's own
        // path refuses the frame as before.
        if (!detail::is_valid_utf8_fast(text)) return con_->send(text, frame::opcode::text);
        const std::uint32_t key = detail::BufferedCsprng()();
        detail::mask_in_place(text.data(), text.size(), key);
        return send_prepared(frame::prepare_header(frame::basic_header(frame::opcode::text, text.size(), true, true),
                                                   frame::extended_header(text.size(), key)),
                             std::move(text));
    }

    // Many texts, one frame each, in order: the frames are built back to back
    // into one prepared message, so websocketpp takes one message, one lock
    // pair and one queue entry for the lot instead of one per text. A large
    // text goes alone, without the copy; a batch is cut at kBatchBytes.
    std::error_code send_texts(std::string* const* texts, std::size_t n) override {
        constexpr std::size_t kAloneBytes = 16 * 1024;
        constexpr std::size_t kBatchBytes = 64 * 1024;
        std::string wire;
        std::error_code first;
        const auto flush = [&] {
            if (wire.empty()) return;
            auto ec = send_prepared({}, std::move(wire));
            if (ec && !first) first = ec;
            wire = std::string();
        };
        for (std::size_t i = 0; i < n; ++i) {
            std::string& text = *texts[i];
            if (text.size() >= kAloneBytes || !detail::is_valid_utf8_fast(text)) {
                flush();
                auto ec = send_text(std::move(text));
                if (ec && !first) first = ec;
                continue;
            }
            if (wire.empty()) wire.reserve(room_for(texts + i, n - i, kBatchBytes + kAloneBytes));
            detail::append_masked_text_frame(wire, text, detail::BufferedCsprng()());
            if (wire.size() >= kBatchBytes) flush();
        }
        flush();
        return first;
    }
    std::error_code ping() override {
        std::error_code ec;
        con_->ping(std::string(), ec);
        return ec;
    }
    std::error_code close(std::uint16_t code, const std::string& reason) override {
        std::error_code ec;
        con_->set_close_handshake_timeout(0); // the caller's close deadline times it
        con_->close(static_cast<websocketpp::close::status::value>(code), reason, ec);
        return ec;
    }
    websocketpp::session::state::value state() const override { return con_->get_state(); }
    void terminate() override {
        std::error_code ec;
        con_->terminate(ec);
        // terminate() starts a TLS close_notify exchange that would wait for
        // the peer; shutting the TCP socket down ends it (and any pending read)
        // at once, which is what an abort on a dead link needs.
        asio::error_code aec;
        con_->get_raw_socket().shutdown(asio::ip::tcp::socket::shutdown_both, aec);
    }
    std::size_t buffered_amount() const override { return con_->get_buffered_amount(); }

private:
    // Bytes already framed and masked (`header`, then `payload`), written as
    // they are.
    std::error_code send_prepared(std::string header, std::string&& payload) {
        using Message = typename Con::message_type;
        auto msg = std::make_shared<Message>(typename Message::con_msg_man_ptr(), websocketpp::frame::opcode::text, 0);
        msg->set_header(header);
        msg->get_raw_payload() = std::move(payload);
        msg->set_prepared(true);
        return con_->send(msg);
    }
    // The frames' bytes (at most `cap`: the scan stops there).
    static std::size_t room_for(std::string* const* texts, std::size_t n, std::size_t cap) {
        std::size_t bytes = 0;
        for (std::size_t i = 0; i < n && bytes < cap; ++i) bytes += texts[i]->size() + 14;
        return std::min(bytes, cap);
    }

    std::shared_ptr<Con> con_;
};

bool is_ec(const std::error_code& ec, const std::error_code& other) {
    return ec.category() == other.category() && ec.value() == other.value();
}

// The reason websocketpp puts in its own close frame for a processor error.
detail::ProcessorReason processor_reason(const std::string& reason) {
    namespace pe = websocketpp::processor::error;
    if (reason == pe::make_error_code(pe::invalid_utf8).message()) return detail::ProcessorReason::invalid_utf8;
    for (int v = pe::general; v <= pe::extensions_disabled; ++v) {
        if (reason == pe::make_error_code(static_cast<pe::processor_errors>(v)).message()) {
            return detail::ProcessorReason::other;
        }
    }
    return detail::ProcessorReason::none;
}

// Sorts an error code from the fail handler into the kind classify.cpp
// knows. Checked in classify_failure's order, so a code of two kinds (a TLS
// handshake timeout) gets the kind that rule would have matched first.
detail::FailureCause failure_cause(const std::error_code& ec) {
    namespace wse = websocketpp::error;
    namespace te = websocketpp::transport::error;
    namespace ae = websocketpp::transport::asio::error;
    namespace sk = websocketpp::transport::asio::socket;
    namespace pe = websocketpp::processor::error;
    using C = detail::FailureCause;
    if (!ec) return C::none;
    if (is_ec(ec, pe::make_error_code(pe::invalid_http_status))) return C::invalid_http_status;
    if (is_ec(ec, wse::make_error_code(wse::open_handshake_timeout)) || is_ec(ec, te::make_error_code(te::timeout)) ||
        is_ec(ec, sk::make_error_code(sk::error::tls_handshake_timeout)) || ec == asio::error::timed_out) {
        return C::timeout;
    }
    if (ec.category() == sk::get_socket_category() || is_ec(ec, te::make_error_code(te::tls_error)) ||
        is_ec(ec, te::make_error_code(te::tls_short_read)) || ec.category() == asio::error::get_ssl_category()) {
        return C::tls;
    }
    if (is_ec(ec, ae::make_error_code(ae::proxy_failed)) || is_ec(ec, ae::make_error_code(ae::proxy_invalid))) {
        return C::proxy;
    }
    if (is_ec(ec, ae::make_error_code(ae::pass_through))) return C::pass_through;
    if (ec.category() == asio::error::get_netdb_category() || ec.category() == asio::error::get_addrinfo_category()) {
        return C::dns;
    }
    if (ec == asio::error::connection_refused || ec == asio::error::network_unreachable ||
        ec == asio::error::host_unreachable || ec == asio::error::network_down ||
        ec == asio::error::address_family_not_supported) {
        return C::unreachable;
    }
    if (is_ec(ec, wse::make_error_code(wse::invalid_uri))) return C::invalid_uri;
    if (ec.category() == pe::get_processor_category() || is_ec(ec, wse::make_error_code(wse::general))) {
        return C::bad_upgrade;
    }
    if (is_ec(ec, te::make_error_code(te::eof)) || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::broken_pipe || ec == asio::error::connection_aborted) {
        return C::dropped;
    }
    return C::other;
}

// The two websocketpp client endpoints (ws:// and wss://), the connections
// opened on them, and the posting of their events to the strand. Shared by
// the Transport facade and every live connection's handlers.
class WsppEndpoints : public std::enable_shared_from_this<WsppEndpoints> {
public:
    WsppEndpoints(Reactor& reactor, Strand& strand, TransportEvents& events, TransportOptions options)
        : io_(static_cast<asio::io_context*>(reactor.native_io_context())),
          strand_(&strand),
          events_(&events),
          options_(std::move(options)) {}

    void init() {
        init_endpoint(plain_);
        init_endpoint(tls_);
        // Both handlers run synchronously inside get_connection() on the
        // strand, so they read `pending_` (the ConnState being opened).
        tls_.set_tls_init_handler([this](websocketpp::connection_hdl) { return tls_ctx_; });
        tls_.set_socket_init_handler(
            [this](websocketpp::connection_hdl, SslStream& stream) { configure_stream(stream); });
    }

    // --- strand side -------------------------------------------------------

    // Never throws: every failure becomes exactly one posted on_closed.
    void open(ConnectionId id, const OpenRequest& req) {
        std::shared_ptr<ConnState> created;
        try {
            open_impl(id, req, created);
        } catch (const std::exception& ex) {
            // If the entry was registered, websocketpp may or may not report
            // this connection later; drop the entry so only this report counts.
            auto it = conns_.find(id);
            if (created && it != conns_.end() && it->second.state == created) {
                Entry entry = std::move(it->second);
                conns_.erase(it);
                entry.ops->terminate();
            }
            closed_without_connection(id, errc::connect_failed, std::string("cannot open: ") + ex.what());
        }
    }

    void open_impl(ConnectionId id, const OpenRequest& req, std::shared_ptr<ConnState>& created) {
        if (id == 0 || conns_.count(id) != 0) {
            log(LogLevel::error, "transport: open() with an invalid or duplicate connection id");
            closed_without_connection(id, errc::invalid_argument, "invalid or duplicate connection id");
            return;
        }
        auto st = std::make_shared<ConnState>(id, shared_from_this());
        created = st;
        st->host = req.url.host;
        st->port = req.url.port;
        st->secure = req.url.secure;
        st->proxy_url = options_.proxy.url;

        if (req.url.secure) {
            if (!tls_ctx_) {
                std::string err;
                tls_ctx_ = detail::make_tls_context(options_.tls, err);
                if (!tls_ctx_) {
                    closed_without_connection(id, errc::tls_error, err);
                    return;
                }
            }
            start(tls_, st, req);
        } else {
            start(plain_, st, req);
        }
    }

    void send_text(ConnectionId id, std::string&& text) {
        auto* e = find(id);
        if (e == nullptr) return;
        if (const auto ec = e->ops->send_text(std::move(text))) {
            // Closing or closed: on_closed is on its way; nothing else to do.
            log(LogLevel::debug, "transport: send on connection " + std::to_string(id) + " failed: " + ec.message());
        }
    }

    void send_texts(ConnectionId id, std::string* const* texts, std::size_t n) {
        auto* e = find(id);
        if (e == nullptr) return;
        if (const auto ec = e->ops->send_texts(texts, n)) {
            log(LogLevel::debug, "transport: send on connection " + std::to_string(id) + " failed: " + ec.message());
        }
    }

    void ping(ConnectionId id) {
        auto* e = find(id);
        if (e == nullptr) return;
        if (const auto ec = e->ops->ping()) {
            log(LogLevel::debug, "transport: ping on connection " + std::to_string(id) + " failed: " + ec.message());
        }
    }

    void close(ConnectionId id, std::uint16_t code, const std::string& reason) {
        auto* e = find(id);
        if (e == nullptr) return;
        const auto state = e->ops->state();
        if (state == websocketpp::session::state::open) {
            e->state->user_close_code = code;
            const auto ec = e->ops->close(code, detail::truncate_utf8(reason, kMaxCloseReasonBytes));
            if (!ec) return;
            // E.g. a reserved code: no handshake possible, tear down instead.
            log(LogLevel::warn, "transport: close(" + std::to_string(code) + ") failed: " + ec.message() +
                                    "; aborting the connection");
            abort(id);
        } else if (state == websocketpp::session::state::connecting) {
            abort(id); // nothing to hand shake with yet
        }
        // closing/closed: websocketpp's close or fail handler follows.
    }

    void abort(ConnectionId id) {
        auto it = conns_.find(id);
        if (it == conns_.end()) return;
        Entry entry = std::move(it->second);
        conns_.erase(it);
        // Report at once instead of waiting for websocketpp's teardown (a TLS
        // shutdown can take seconds on a dead link); its own close/fail
        // handler then finds no entry and is dropped.
        CloseInfo info;
        info.error = make_error_code(errc::transport_closed);
        info.reason = "aborted";
        info.opened = entry.opened;
        entry.ops->terminate();
        post_event([id, info](WsppEndpoints& self) { self.events_->on_closed(id, info); });
    }

    std::size_t buffered_amount(ConnectionId id) const {
        auto it = conns_.find(id);
        return it == conns_.end() ? 0 : it->second.ops->buffered_amount();
    }

    // The Transport facade is going away: no events from now on.
    void shutdown() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            alive_ = false;
        }
        // Moved out first: terminate() may run websocketpp handlers inline.
        auto conns = std::move(conns_);
        conns_.clear();
        for (auto& [id, entry] : conns) entry.ops->terminate();
    }

private:
    struct Entry {
        std::shared_ptr<ConnState> state;
        std::unique_ptr<ConnOps> ops;
        bool opened = false; // on_open was delivered
    };

    template <class Client>
    void init_endpoint(Client& ep) {
        std::error_code ec;
        ep.init_asio(io_, ec); // cannot fail on a fresh endpoint
        ep.clear_access_channels(websocketpp::log::alevel::all);
        ep.get_elog().set_sink(options_.log);
        ep.set_user_agent(options_.user_agent);
        ep.set_max_message_size(options_.max_message_bytes);
    }

    template <class Client>
    void start(Client& ep, const std::shared_ptr<ConnState>& st, const OpenRequest& req) {
        using Con = typename Client::connection_type;
        const ConnectionId id = st->id;

        std::error_code ec;
        typename Client::connection_ptr con;
        {
            struct ClearPending {
                std::shared_ptr<ConnState>& p;
                ~ClearPending() { p.reset(); }
            } clear{pending_};
            pending_ = st;
            con = ep.get_connection(req.url.normalized, ec);
        }
        if (ec || !con) {
            const bool bad_uri = is_ec(ec, websocketpp::error::make_error_code(websocketpp::error::invalid_uri));
            closed_without_connection(id, bad_uri ? errc::bad_url : (st->secure ? errc::tls_error : errc::connect_failed),
                                      "cannot create connection: " + (ec ? ec.message() : std::string("unknown")));
            return;
        }

        if (!req.subprotocol.empty()) {
            con->add_subprotocol(req.subprotocol, ec); // refuses what is not an HTTP token
            if (ec) {
                closed_without_connection(id, errc::invalid_argument, "invalid subprotocol: " + ec.message());
                return;
            }
        }
        try {
            // append_header only throws outside the USER_INIT state.
            for (const auto& [name, value] : req.headers) con->append_header(name, value);
        } catch (const std::exception& ex) {
            closed_without_connection(id, errc::invalid_argument, ex.what());
            return;
        }
        con->set_open_handshake_timeout(0); // the caller's connect deadline aborts a slow upgrade
        con->set_close_handshake_timeout(kAnsweredCloseTeardownMs);
        con->set_max_message_size(options_.max_message_bytes);
        if (!st->proxy_url.empty()) {
            con->set_proxy(st->proxy_url, ec);
            if (!options_.proxy.username.empty() || !options_.proxy.password.empty()) {
                con->set_proxy_basic_auth(options_.proxy.username, options_.proxy.password, ec);
            }
        }
        install_handlers<Con>(*con, st);

        Entry entry;
        entry.state = st;
        entry.ops = std::make_unique<ConnOpsImpl<Con>>(con);
        conns_.emplace(id, std::move(entry));
        // May call the fail handler synchronously (e.g. bad proxy URI); it
        // only posts, and the entry already exists.
        ep.connect(con);
    }

    // The handlers hold `st` (and through it the endpoints), never the
    // connection: they live inside it. They get the connection back from the
    // handle.
    template <class Con>
    void install_handlers(Con& con, const std::shared_ptr<ConnState>& st) {
        using MessagePtr = typename Con::message_ptr;
        using Self = WsppEndpoints;
        auto get = [](websocketpp::connection_hdl hdl) { return std::static_pointer_cast<Con>(hdl.lock()); };

        con.set_tcp_post_init_handler([st, get](websocketpp::connection_hdl hdl) {
            if (auto c = get(hdl)) st->endpoints->set_socket_options(c->get_raw_socket());
        });
        con.set_open_handler([st, get](websocketpp::connection_hdl hdl) {
            auto c = get(hdl);
            // websocketpp 0.8.2 never sets get_subprotocol() on clients.
            std::string selected = c ? c->get_response_header("Sec-WebSocket-Protocol") : std::string();
            st->endpoints->post_conn_event(st, [selected](Self& self, Entry& e) {
                e.opened = true;
                self.events_->on_open(e.state->id, selected);
            });
        });
        con.set_message_handler([st](websocketpp::connection_hdl, MessagePtr msg) {
            if (!msg) return;
            if (msg->get_opcode() == websocketpp::frame::opcode::text) {
                std::string text = std::move(msg->get_raw_payload());
                st->endpoints->post_conn_event(st, [text = std::move(text)](Self& self, Entry& e) mutable {
                    self.events_->on_text(e.state->id, std::move(text));
                });
            } else {
                const std::size_t bytes = msg->get_payload().size();
                st->endpoints->post_conn_event(
                    st, [bytes](Self& self, Entry& e) { self.events_->on_binary(e.state->id, bytes); });
            }
        });
        con.set_pong_handler([st](websocketpp::connection_hdl, std::string) {
            st->endpoints->post_conn_event(st, [](Self& self, Entry& e) { self.events_->on_pong(e.state->id); });
        });
        // A server ping proves liveness too; there is no on_ping, so it is
        // reported as on_pong. Returning true lets websocketpp answer it.
        con.set_ping_handler([st](websocketpp::connection_hdl, std::string) {
            st->endpoints->post_conn_event(st, [](Self& self, Entry& e) { self.events_->on_pong(e.state->id); });
            return true;
        });
        con.set_fail_handler([st, get](websocketpp::connection_hdl hdl) {
            auto c = get(hdl);
            CloseInfo info = c ? detail::classify_failure(failure_facts(*c, *st), std::chrono::system_clock::now())
                               : generic_failure();
            st->endpoints->post_closed(st, std::move(info));
        });
        con.set_close_handler([st, get](websocketpp::connection_hdl hdl) {
            auto c = get(hdl);
            CloseInfo info = c ? detail::classify_close(close_facts(*c, *st)) : generic_failure();
            info.opened = true;
            st->endpoints->post_closed(st, std::move(info));
        });
    }

    static CloseInfo generic_failure() {
        CloseInfo info;
        info.error = make_error_code(errc::transport_closed);
        info.reason = "connection ended";
        return info;
    }

    template <class Socket>
    void set_socket_options(Socket& s) const {
        asio::error_code ec;
        s.set_option(asio::ip::tcp::no_delay(true), ec); // small frames: no Nagle delay
        const TcpKeepalive& k = options_.keepalive;
        if (k.idle <= std::chrono::seconds::zero()) return;
        s.set_option(asio::socket_base::keep_alive(true), ec);
#if defined(__linux__)
        const int idle = static_cast<int>(k.idle.count());
        const int interval = static_cast<int>(k.interval.count());
        const int count = k.probes;
        const auto fd = s.native_handle();
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
#endif
    }

    // --- facts for classify.cpp (io thread) ----------------------------------

    template <class Con>
    static detail::FailureFacts failure_facts(Con& con, ConnState& st) {
        detail::FailureFacts f;
        f.error = con.get_ec();
        f.cause = failure_cause(f.error);
        f.http_status = static_cast<int>(con.get_response_code());
        f.http_reason = con.get_response_msg();
        f.retry_after = con.get_response_header("Retry-After");
        f.verify_failure = st.verify.why();
        f.host = st.host;
        f.port = st.port;
        f.proxy_url = st.proxy_url;
        return f;
    }

    template <class Con>
    static detail::CloseFacts close_facts(Con& con, ConnState& st) {
        detail::CloseFacts f;
        f.remote_code = con.get_remote_close_code();
        f.remote_reason = con.get_remote_close_reason();
        f.local_code = con.get_local_close_code();
        f.local_reason = con.get_local_close_reason();
        f.local_reason_kind = processor_reason(f.local_reason);
        f.user_close_code = st.user_close_code.load();
        f.error = con.get_ec();
        return f;
    }

    // --- TLS ----------------------------------------------------------------

    // Per-connection verification on the stream (the context is shared).
    void configure_stream(SslStream& stream) {
        const std::shared_ptr<ConnState> st = pending_;
        if (!st) return;
        asio::error_code ec;
        if (options_.tls.insecure_skip_verify) {
            log(LogLevel::warn, "transport: TLS certificate verification is DISABLED (insecure_skip_verify) for " +
                                    st->host);
            stream.set_verify_mode(asio::ssl::verify_none, ec);
            return;
        }
        stream.set_verify_mode(asio::ssl::verify_peer, ec);
        // Weak: the connection's handlers already keep the state alive.
        const std::shared_ptr<detail::VerifyFailure> failure(st, &st->verify);
        stream.set_verify_callback(detail::PeerVerifier(st->host, options_.tls.pinned_spki_sha256, failure), ec);
    }

    // --- events --------------------------------------------------------------

    // Posts `fn` to the strand unless the transport is gone; runs it only if
    // the transport is still alive there.
    template <class F>
    void post_event(F fn) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!alive_) return;
        strand_->post([self = shared_from_this(), fn = std::move(fn)]() mutable {
            if (!self->alive()) return;
            fn(*self);
        });
    }

    // As post_event, for an event of a live connection: dropped if the entry
    // is gone (closed/aborted) or belongs to a later open() with the same id.
    template <class F>
    void post_conn_event(const std::shared_ptr<ConnState>& st, F fn) {
        post_event([st, fn = std::move(fn)](WsppEndpoints& self) mutable {
            Entry* e = self.find(st->id);
            if (e == nullptr || e->state != st) return;
            fn(self, *e);
        });
    }

    void post_closed(const std::shared_ptr<ConnState>& st, CloseInfo info) {
        post_event([st, info = std::move(info)](WsppEndpoints& self) {
            auto it = self.conns_.find(st->id);
            if (it == self.conns_.end() || it->second.state != st) return;
            CloseInfo out = info;
            out.opened = out.opened || it->second.opened;
            self.conns_.erase(it);
            self.events_->on_closed(st->id, out);
        });
    }

    void closed_without_connection(ConnectionId id, errc e, std::string reason) {
        CloseInfo info;
        info.error = make_error_code(e);
        info.reason = std::move(reason);
        post_event([id, info](WsppEndpoints& self) { self.events_->on_closed(id, info); });
    }

    bool alive() {
        std::lock_guard<std::mutex> lock(mu_);
        return alive_;
    }

    Entry* find(ConnectionId id) {
        auto it = conns_.find(id);
        return it == conns_.end() ? nullptr : &it->second;
    }

    void log(LogLevel level, const std::string& msg) const {
        if (options_.log) options_.log(level, msg);
    }

    asio::io_context* io_;
    Strand* strand_;
    TransportEvents* events_;
    const TransportOptions options_;

    PlainClient plain_;
    TlsClient tls_;

    std::mutex mu_;
    bool alive_ = true;

    // Strand-only state.
    std::unordered_map<ConnectionId, Entry> conns_;
    SslContextPtr tls_ctx_;
    std::shared_ptr<ConnState> pending_; // set around get_connection() for the init handlers
};

class WebSocketTransport final : public Transport {
public:
    explicit WebSocketTransport(std::shared_ptr<WsppEndpoints> endpoints) : endpoints_(std::move(endpoints)) {}
    ~WebSocketTransport() override { endpoints_->shutdown(); }

    void open(ConnectionId id, const OpenRequest& request) override { endpoints_->open(id, request); }
    void send_text(ConnectionId id, std::string text) override { endpoints_->send_text(id, std::move(text)); }
    void send_texts(ConnectionId id, std::string* const* texts, std::size_t n) override {
        endpoints_->send_texts(id, texts, n);
    }
    void ping(ConnectionId id) override { endpoints_->ping(id); }
    void close(ConnectionId id, std::uint16_t code, const std::string& reason) override {
        endpoints_->close(id, code, reason);
    }
    void abort(ConnectionId id) override { endpoints_->abort(id); }
    std::size_t buffered_amount(ConnectionId id) const override { return endpoints_->buffered_amount(id); }

private:
    std::shared_ptr<WsppEndpoints> endpoints_;
};

} // namespace

std::unique_ptr<Transport> make_websocket_transport(Reactor& reactor, Strand& strand, TransportEvents& events,
                                                    TransportOptions options) {
    auto endpoints = std::make_shared<WsppEndpoints>(reactor, strand, events, std::move(options));
    endpoints->init();
    return std::make_unique<WebSocketTransport>(std::move(endpoints));
}

} // namespace tether::transport
