// The driver: runs a core::Session on a strand, executes its actions on the
// transport, keeps one timer armed at the session's next deadline, and hands
// events to the application's callbacks.
//
// Locking model: `mu_` guards the session. Application threads lock it to
// call the session directly (so send() returns its id or error at once) and
// then make sure a pump is posted. The pump, on the strand, drains actions
// and events under the lock, then executes and dispatches them without it.
// So callbacks never run with an SDK lock held, and run in order, one at a time.
//
// Persistence: the session writes its changes into the journal (under the
// lock) as they happen; the pump commits them once per round, after draining
// and before executing that round's actions, so no frame goes out ahead of
// the state it depends on (sdk/src/persist/store.hpp, "write-ahead rule").
#include "tether/client.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <random>

#include <time.h>

#include "client/store_journal.hpp"
#include "core/json_encode.hpp"
#include "core/session.hpp"
#include "core/suspend_watch.hpp"
#include "transport/reactor.hpp"
#include "transport/transport.hpp"
#include "transport/transport_util.hpp"

namespace tether {

struct EventLoop::Impl {
    std::shared_ptr<transport::Reactor> reactor;
};

EventLoop::EventLoop(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EventLoop::~EventLoop() = default;

std::shared_ptr<EventLoop> EventLoop::create() {
    auto impl = std::make_unique<Impl>();
    impl->reactor = transport::Reactor::create_threaded("tether-io");
    return std::make_shared<EventLoop>(std::move(impl));
}

std::shared_ptr<EventLoop> EventLoop::wrap_native(void* asio_io_context) {
    if (asio_io_context == nullptr) return nullptr;
    auto impl = std::make_unique<Impl>();
    impl->reactor = transport::Reactor::wrap(asio_io_context);
    return std::make_shared<EventLoop>(std::move(impl));
}

const char* version_string() noexcept { return TETHER_VERSION_STRING; }
int version_number() noexcept { return TETHER_VERSION_NUM; }

namespace {

using core::TimePoint;

TimePoint now() { return core::Clock::now(); }

// Time since boot including suspend (CLOCK_BOOTTIME), where the OS has it:
// steady time stands still while the machine sleeps, this does not.
std::optional<core::Duration> boot_time() {
#ifdef CLOCK_BOOTTIME
    timespec ts{};
    if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
        return std::chrono::duration_cast<core::Duration>(std::chrono::seconds(ts.tv_sec) +
                                                          std::chrono::nanoseconds(ts.tv_nsec));
#endif
    return std::nullopt;
}

// The earlier of two optional deadlines (empty: none).
std::optional<TimePoint> sooner(std::optional<TimePoint> a, std::optional<TimePoint> b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(*a, *b);
}

core::SessionConfig to_session_config(const ClientOptions& o) {
    core::SessionConfig c;
    c.url = o.url;
    c.headers = o.headers;
    c.token = o.token;
    c.has_token_provider = static_cast<bool>(o.token_provider);
    c.client_info = core::ClientInfo{o.client_name, o.client_version};
    c.heartbeat = {o.heartbeat.interval, o.heartbeat.timeout, o.heartbeat.probe_timeout};
    c.backoff = {o.backoff.base, o.backoff.max, o.backoff.stable_after, o.backoff.max_attempts};
    c.outbox = {o.outbox.max_messages, o.outbox.max_bytes, o.outbox.max_message_bytes, o.outbox.max_in_flight};
    c.inbox = {o.acks.every_messages, o.acks.max_delay};
    c.on_session_lost = o.outbox.on_session_lost;
    c.connect_timeout = o.timeouts.connect;
    c.hello_timeout = o.timeouts.hello;
    c.close_timeout = o.timeouts.close;
    c.decode_limits.max_bytes = o.max_inbound_message_bytes;
    c.decode_limits.payload_as_text = o.message_data == MessageData::text;
    c.report_sent = static_cast<bool>(o.callbacks.on_sent);
    return c;
}

bool readable(const std::string& path) { return std::ifstream(path).good(); }

// What validate_options hands down: the checked forms the transport uses as
// given, so that nothing is checked twice.
struct CheckedOptions {
    transport::WsUrl url;
    std::string proxy_url; // normalized; empty: none
};

// Mistakes no retry can fix are refused here, at construction, instead of
// turning into a reconnect loop later. The only check of the URL, headers,
// proxy and TLS files; on success fills `checked`.
std::string validate_options(const ClientOptions& o, CheckedOptions& checked) {
    std::string why;
    auto url = transport::detail::parse_ws_url(o.url, why);
    if (!url) return "url: " + why;
    for (const auto& [name, value] : o.headers) {
        if (!transport::detail::is_http_token(name)) return "header name '" + name + "' is not an HTTP token";
        if (!transport::detail::is_safe_header_value(value)) return "header '" + name + "' has a control character";
    }
    std::optional<std::string> proxy;
    if (!o.proxy.url.empty() && !(proxy = transport::detail::normalize_proxy_url(o.proxy.url, why))) {
        return "proxy url: " + why;
    }
    if (!o.tls.ca_file.empty() && !readable(o.tls.ca_file)) return "tls.ca_file is not readable: " + o.tls.ca_file;
    if (o.tls.cert_file.empty() != o.tls.key_file.empty()) return "tls.cert_file and tls.key_file go together";
    if (!o.tls.cert_file.empty() && !readable(o.tls.cert_file)) return "tls.cert_file is not readable";
    if (!o.tls.key_file.empty() && !readable(o.tls.key_file)) return "tls.key_file is not readable";
    if (!transport::detail::is_safe_header_value(o.client_name) || !transport::detail::is_safe_header_value(o.client_version))
        return "client_name/client_version must not contain control characters";
    if (o.max_inbound_message_bytes < 1024) return "max_inbound_message_bytes must be at least 1024";
    if (o.timeouts.close_drain < Milliseconds::zero()) return "close drain must not be negative";
    if (o.persistence.commit_interval < Milliseconds::zero() || o.persistence.commit_interval > Milliseconds(1000))
        return "persistence.commit_interval must be between 0 and 1000 ms";
    auto problem = core::validate(to_session_config(o));
    if (problem.empty()) checked = CheckedOptions{std::move(*url), proxy.value_or(std::string())};
    return problem;
}

// TCP keepalive, a cheap net under the heartbeat, follows the heartbeat's
// liveness timeout (as configured; a server's heartbeat_ms comes later):
// probes start after that much silence and give up after as long again
// (defaults: 30 s, then 3 probes 10 s apart). Linux takes whole seconds.
transport::TcpKeepalive keepalive_for(const HeartbeatOptions& h) {
    core::Heartbeat heartbeat({h.interval, h.timeout});
    heartbeat.start(TimePoint{}, std::nullopt);
    auto whole_seconds = [](core::Duration d) {
        return std::clamp(std::chrono::duration_cast<std::chrono::seconds>(d), std::chrono::seconds(1),
                          std::chrono::seconds(32767));
    };
    transport::TcpKeepalive k;
    k.probes = 3;
    k.idle = whole_seconds(heartbeat.timeout());
    k.interval = whole_seconds(heartbeat.timeout() / k.probes);
    return k;
}

std::uint64_t random_seed() {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

} // namespace

using client_detail::StoreJournal;

class Client::Impl final : public transport::TransportEvents, public std::enable_shared_from_this<Impl> {
public:
    Impl(ClientOptions options, CheckedOptions checked, std::optional<StoreJournal::Opened> store)
        : options_(std::move(options)),
          url_(std::move(checked.url)),
          loop_(options_.loop ? options_.loop : EventLoop::create()),
          rng_(random_seed()),
          session_(to_session_config(options_), rng_) {
        auto& reactor = *loop_->impl().reactor;
        strand_ = reactor.make_strand();
        timer_ = strand_->make_timer();
        transport::TransportOptions t;
        t.tls = options_.tls;
        t.proxy = options_.proxy;
        t.proxy.url = std::move(checked.proxy_url);
        t.max_message_bytes = options_.max_inbound_message_bytes;
        t.keepalive = keepalive_for(options_.heartbeat);
        t.user_agent = options_.client_name + "/" + options_.client_version + " tether/" TETHER_VERSION_STRING;
        t.log = make_log_sink();
        transport_ = transport::make_websocket_transport(reactor, *strand_, *this, std::move(t));
        if (store) {
            journal_ = std::move(store->journal);
            recovered_ = std::move(store->recovered);
            session_.restore(store->state);
            session_.attach_journal(journal_.get());
        }
    }

    const Recovered& recovered() const { return recovered_; }

    // ---- application side (any thread) ----

    template <class F>
    auto with_session(F&& f) {
        std::lock_guard<std::mutex> lock(mu_);
        auto result = f(session_);
        schedule_pump_locked();
        return result;
    }

    std::error_code guarded(std::error_code (core::Session::*method)(TimePoint)) {
        if (shut_down_) return make_error_code(errc::closed);
        return with_session([method](core::Session& s) { return (s.*method)(now()); });
    }

    SendResult send(std::string_view json, std::string_view id, core::PayloadCheck check) {
        SendResult out;
        if (shut_down_) {
            out.error = make_error_code(errc::closed);
            return out;
        }
        auto r = with_session([&](core::Session& s) { return s.send(now(), json, id, check); });
        if (r.ok()) {
            out.id = r.value();
        } else {
            out.error = r.error();
            out.detail = r.detail();
        }
        return out;
    }

    std::error_code close(std::optional<Milliseconds> drain) {
        if (shut_down_) return make_error_code(errc::closed);
        const Milliseconds d = drain.value_or(options_.timeouts.close_drain);
        return with_session([d](core::Session& s) { return s.close(now(), d); });
    }

    std::error_code simulate_network_drop() {
        if (shut_down_) return make_error_code(errc::invalid_state);
        return with_session([](core::Session& s) { return s.simulate_network_drop(now()); });
    }

    State state() const {
        std::lock_guard<std::mutex> lock(mu_);
        return session_.state();
    }
    Stats stats() const {
        std::lock_guard<std::mutex> lock(mu_);
        return session_.stats();
    }
    std::string session_id() const {
        std::lock_guard<std::mutex> lock(mu_);
        return session_.session_id();
    }

    State wait_until_terminal(Milliseconds timeout) const {
        // From a callback the io thread would wait for itself: answer at once.
        if (strand_->running_in_this_thread()) return state();
        std::unique_lock<std::mutex> lock(mu_);
        // Wakes once the callbacks for the terminal transition (on_failed for
        // the messages left, on_state) have run, not merely when the session
        // turned terminal: callers read what those callbacks recorded.
        state_cv_.wait_for(lock, timeout, [this] { return terminal_reported_; });
        return session_.state();
    }

    // Called by ~Client. Inside a callback (on the strand) the teardown is
    // queued behind the running callback; elsewhere we wait for it, so no
    // callback can run after the destructor returns.
    void shutdown() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (shut_down_) return;
            shut_down_ = true;
            // Destroying the client keeps the store for the next one: the
            // abort below must not record "every message failed". What is
            // staged is committed by teardown(), on the strand, after any
            // commit in flight.
            if (journal_) session_.attach_journal(nullptr);
            if (!is_terminal(session_.state())) session_.abort(now());
        }
        if (strand_->running_in_this_thread()) {
            strand_->post([self = shared_from_this()] { self->teardown(); });
            return;
        }
        auto done = std::make_shared<std::promise<void>>();
        auto future = done->get_future();
        strand_->post([self = shared_from_this(), done]() mutable {
            self->teardown();
            // Drop our reference before waking the destructor: the last one
            // must be released on its thread, so that a client-owned io
            // thread is joined there and not detached (and left running).
            self.reset();
            done->set_value();
        });
        if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            // The application's io_context is not running: nothing can run the
            // teardown. The posted handler keeps the Impl alive (a leak, not a
            // crash) until it does.
            log(LogLevel::error, "client destroyed while its io_context is not running; teardown deferred");
        }
    }

    // ---- transport side (strand) ----

    void on_open(core::ConnectionId id, const std::string& subprotocol) override {
        input([&](core::Session& s) { s.on_transport_open(now(), id, subprotocol); });
    }
    void on_text(core::ConnectionId id, std::string&& text) override {
        input([&](core::Session& s) { s.on_text(now(), id, text); });
    }
    void on_binary(core::ConnectionId id, std::size_t bytes) override {
        input([&](core::Session& s) { s.on_binary(now(), id, bytes); });
    }
    void on_pong(core::ConnectionId id) override {
        input([&](core::Session& s) { s.on_pong(now(), id); });
    }
    void on_closed(core::ConnectionId id, const core::CloseInfo& info) override {
        input([&](core::Session& s) { s.on_transport_closed(now(), id, info); });
    }

private:
    template <class F>
    void input(F&& f) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            f(session_);
        }
        pump();
    }

    void schedule_pump_locked() {
        // Staged changes need a pump unless a commit is already due later:
        // the timer runs that pump (re-posting here would spin until then).
        const bool staged = journal_ && !commit_at_ && !retry_at_ && journal_->has_staged();
        if (pump_posted_ || (!session_.has_output() && !staged)) return;
        pump_posted_ = true;
        strand_->post(while_alive(&Impl::pump));
    }

    // A strand handler that runs `method` unless the teardown has run before it.
    // The gate is read and closed on the strand only, so a handler queued
    // behind the teardown takes no reference: ~Client, which waits for the
    // teardown, then holds the last one, and the client ends on its thread
    // (store released, io thread joined) before the destructor returns.
    std::function<void()> while_alive(void (Impl::*method)()) {
        return [weak = weak_from_this(), alive = alive_, method] {
            if (!*alive) return;
            if (auto self = weak.lock()) ((*self).*method)();
        };
    }

    void on_timer() {
        armed_.reset();
        const TimePoint t = now();
        std::optional<core::Duration> gap;
        if (suspend_.is_due(t)) gap = suspend_.check(t, boot_time());
        input([&](core::Session& s) {
            if (gap && *gap > s.late_timer_threshold()) s.on_suspend_detected(t, *gap);
            s.on_timeout(t);
        });
    }

    // The session's next deadline, or the next suspend check if sooner
    // (only while a connection exists or is awaited).
    std::optional<TimePoint> with_suspend_check(std::optional<TimePoint> deadline, State state) {
        const bool watch = state == State::connecting || state == State::authenticating || state == State::ready ||
                           state == State::backoff;
        if (!watch) {
            suspend_.stop();
            return deadline;
        }
        if (!suspend_.watching()) suspend_.start(now(), boot_time());
        return sooner(deadline, suspend_.due());
    }

    // Strand only. One round: drain the session's output under the lock,
    // then execute and dispatch it without. Output made meanwhile (a token
    // handed to the session by execute(), a call from a callback) waits for
    // a pump posted behind the strand's other work, so a callback that keeps
    // the session busy cannot hold the strand, and nothing is left behind.
    void pump() {
        std::vector<core::Action> actions;
        std::vector<core::Event> events;
        actions.swap(spare_actions_);
        events.swap(spare_events_);
        std::optional<TimePoint> deadline;
        bool terminal_now = false;
        StoreJournal::CommitOutcome committed;
        std::optional<persist::Store::Batch> batch;
        State state_now = State::idle;
        {
            std::lock_guard<std::mutex> lock(mu_);
            pump_posted_ = false;
            while (auto a = session_.poll_action()) actions.push_back(std::move(*a));
            while (auto e = session_.poll_event()) events.push_back(std::move(*e));
            deadline = session_.poll_timeout();
            state_now = session_.state();
            terminal_now = is_terminal(state_now);
            if (journal_) batch = take_batch_locked(actions, deadline);
        }
        if (batch) {
            // Written without the lock: application threads go on sending
            // (into the next batch) while this one reaches the disk, and
            // this round's frames go out only after it has.
            auto failure = journal_->write(*batch);
            std::lock_guard<std::mutex> lock(mu_);
            committed = journal_->end_commit(std::move(*batch), std::move(failure));
            // A failing store (disk full, I/O) is retried after a pause that
            // doubles, not on every turn; frames are not held for it.
            if (committed.error) {
                commit_retry_ = std::clamp(commit_retry_ * 2, kCommitRetryFirst, kCommitRetryMax);
                retry_at_ = now() + commit_retry_;
                deadline = sooner(deadline, retry_at_);
            } else {
                commit_retry_ = core::Duration::zero();
            }
        }
        execute_all(actions);
        rearm(with_suspend_check(deadline, state_now));
        if (journal_ && !shut_down_) report_commit(committed);
        std::uint64_t processed = 0; // the last msg seq whose on_message returned
        for (auto& e : events) {
            if (shut_down_) break; // destroyed from a callback: not one more
            dispatch(e);
            if (auto* m = std::get_if<core::MessageReceived>(&e)) processed = m->seq;
        }
        if (journal_ && processed != 0) {
            std::lock_guard<std::mutex> lock(mu_);
            session_.confirm_delivered(now(), processed);
        }
        actions.clear();
        events.clear();
        spare_actions_.swap(actions);
        spare_events_.swap(events);
        std::lock_guard<std::mutex> lock(mu_);
        if (terminal_now && !terminal_reported_) {
            terminal_reported_ = true; // this round dispatched the terminal events
            state_cv_.notify_all();
        }
        schedule_pump_locked();
    }

    // A failing commit is reported once per streak of failures.
    void report_commit(const StoreJournal::CommitOutcome& c) {
        if (c.first_failure) {
            log(LogLevel::error, "persistence: " + c.detail);
            call(options_.callbacks.on_error, "on_error", c.error, c.detail);
        }
        if (c.recovered) log(LogLevel::info, "persistence: the store accepts commits again");
        if (c.durable_through) call(options_.callbacks.on_durable, "on_durable", *c.durable_through);
    }

    // Group commit: at most one commit per PersistenceOptions::commit_interval.
    // The first change after a quiet spell is committed at once; within the
    // interval, this round's actions wait (in order, behind any held ones)
    // for the commit at the end of it, so the write-ahead rule holds.
    std::optional<persist::Store::Batch> take_batch_locked(std::vector<core::Action>& actions,
                                                           std::optional<TimePoint>& deadline) {
        const TimePoint t = now();
        const bool staged = journal_->has_staged();
        if (retry_at_ && t < *retry_at_) {
            release_held_locked(actions);
            deadline = sooner(deadline, retry_at_);
            return std::nullopt;
        }
        retry_at_.reset();
        if (!commit_at_ && staged && t < last_commit_ + options_.persistence.commit_interval)
            commit_at_ = last_commit_ + options_.persistence.commit_interval;
        if (commit_at_ && t < *commit_at_) {
            held_actions_.insert(held_actions_.end(), std::make_move_iterator(actions.begin()),
                                 std::make_move_iterator(actions.end()));
            actions.clear();
            deadline = sooner(deadline, commit_at_);
            return std::nullopt;
        }
        commit_at_.reset();
        release_held_locked(actions);
        if (!staged) return std::nullopt;
        last_commit_ = t;
        return journal_->begin_commit();
    }

    // Held actions go first, in order.
    void release_held_locked(std::vector<core::Action>& actions) {
        if (held_actions_.empty()) return;
        actions.insert(actions.begin(), std::make_move_iterator(held_actions_.begin()),
                       std::make_move_iterator(held_actions_.end()));
        held_actions_.clear();
    }

    void rearm(std::optional<TimePoint> deadline) {
        if (!timer_ || deadline == armed_) return;
        armed_ = deadline;
        if (!deadline) {
            timer_->cancel();
            return;
        }
        timer_->arm(*deadline, while_alive(&Impl::on_timer));
    }

    // In order; a run of texts for one connection goes to the transport as
    // one batch.
    void execute_all(std::vector<core::Action>& actions) {
        for (std::size_t i = 0; i < actions.size();) {
            auto* first = std::get_if<core::SendText>(&actions[i]);
            if (first == nullptr || !transport_) {
                execute(actions[i++]);
                continue;
            }
            const std::size_t start = i;
            spare_texts_.clear();
            for (; i < actions.size(); ++i) {
                auto* text = std::get_if<core::SendText>(&actions[i]);
                if (text == nullptr || text->id != first->id) break;
                spare_texts_.push_back(&text->text);
            }
            if (spare_texts_.size() == 1)
                execute(actions[start]);
            else
                transport_->send_texts(first->id, spare_texts_.data(), spare_texts_.size());
        }
    }

    void execute(core::Action& action) {
        if (!transport_) return;
        core::match(
            action,
            [&](core::OpenTransport& open) {
                // open.url is SessionConfig::url, the configured URL, which
                // validate_options parsed into url_ once.
                transport::OpenRequest req;
                req.url = url_;
                req.headers = std::move(open.headers);
                req.subprotocol = std::move(open.subprotocol);
                transport_->open(open.id, req);
            },
            [&](core::SendText& text) { transport_->send_text(text.id, std::move(text.text)); },
            [&](core::SendPing& ping) { transport_->ping(ping.id); },
            [&](core::CloseTransport& close) { transport_->close(close.id, close.code, close.reason); },
            [&](core::AbortTransport& abort) { transport_->abort(abort.id); },
            [&](core::FetchToken& fetch) {
                std::optional<std::string> token;
                if (options_.token_provider && !shut_down_) {
                    try {
                        token = options_.token_provider(fetch.refresh);
                    } catch (const std::exception& e) {
                        log(LogLevel::error, std::string("token provider threw: ") + e.what());
                    } catch (...) {
                        log(LogLevel::error, "token provider threw");
                    }
                }
                std::lock_guard<std::mutex> lock(mu_);
                session_.provide_token(now(), std::move(token));
            });
    }

    // Runs one application callback; an exception escaping it is a bug in
    // the application, reported through the log, never allowed to unwind
    // into Asio.
    template <class F, class... A>
    void call(const F& f, const char* name, A&&... args) {
        if (!f) return;
        try {
            f(std::forward<A>(args)...);
        } catch (const std::exception& e) {
            log(LogLevel::error, std::string(name) + " callback threw: " + e.what());
        } catch (...) {
            log(LogLevel::error, std::string(name) + " callback threw");
        }
    }

    void dispatch(core::Event& event) {
        const Callbacks& cb = options_.callbacks;
        core::match(
            event,
            [&](core::StateChanged& c) {
                log(c.reason && c.to != State::ready ? LogLevel::warn : LogLevel::info,
                    std::string("state ") + to_string(c.from) + " -> " + to_string(c.to) +
                        (c.reason ? " (" + c.reason.message() + (c.detail.empty() ? "" : ": " + c.detail) + ")" : ""));
                call(cb.on_state, "on_state", c);
            },
            [&](core::MessageReceived& m) { call(cb.on_message, "on_message", m); },
            [&](core::MessageAcked& a) { call(cb.on_acked, "on_acked", a.id); },
            [&](core::MessageSent& m) { call(cb.on_sent, "on_sent", m.id); },
            [&](core::MessageFailed& f) { call(cb.on_failed, "on_failed", f.id, f.message_id, f.error); },
            [&](core::SessionResumed& r) { call(cb.on_resumed, "on_resumed", r.session); },
            [&](core::SessionLost& l) {
                log(LogLevel::warn, "session " + l.previous_session + " lost; new session " + l.new_session);
                call(cb.on_session_lost, "on_session_lost", l);
            },
            [&](core::ErrorEvent& e) {
                log(LogLevel::warn, e.code.message() + (e.detail.empty() ? "" : ": " + e.detail));
                call(cb.on_error, "on_error", e.code, e.detail);
            });
    }

    LogSink make_log_sink() {
        if (!options_.log) return {};
        const LogLevel min = options_.log_level;
        LogSink sink = options_.log;
        return [sink, min](LogLevel level, std::string_view message) {
            if (level < min) return;
            try {
                sink(level, message);
            } catch (...) {
            }
        };
    }

    void log(LogLevel level, const std::string& message) {
        if (!options_.log || level < options_.log_level) return;
        try {
            options_.log(level, message);
        } catch (...) {
        }
    }

    void teardown() {
        // Destroyed here, on the strand, like every other Timer call: ~Impl
        // may run on an application thread, where ~AsioTimer would race with
        // a completed wait still queued on the strand (TSan saw it).
        *alive_ = false;
        timer_.reset();
        armed_.reset();
        transport_.reset(); // aborts live connections, no events
        std::lock_guard<std::mutex> lock(mu_);
        if (!journal_) return;
        journal_->commit(); // what was staged before the client was destroyed
        const persist::StoreStats& st = journal_->stats();
        log(LogLevel::debug, "persistence: " + std::to_string(st.transactions) + " transactions, " +
                                 std::to_string(st.rows_inserted) + " rows written, " +
                                 std::to_string(st.rows_skipped) + " never written, " +
                                 std::to_string(st.rows_deleted) + " deleted, " +
                                 std::to_string(st.failed_commits) + " failed commits");
        journal_.reset(); // the store is released here, even where ~Impl runs later
    }

    ClientOptions options_;
    const transport::WsUrl url_;
    std::shared_ptr<EventLoop> loop_;
    std::unique_ptr<transport::Strand> strand_;
    std::unique_ptr<transport::Timer> timer_;
    std::unique_ptr<transport::Transport> transport_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true); // strand only; see while_alive()
    core::SplitMix64 rng_;

    mutable std::mutex mu_;
    mutable std::condition_variable state_cv_;
    core::Session session_;   // guarded by mu_
    std::unique_ptr<StoreJournal> journal_; // guarded by mu_; null without persistence
    Recovered recovered_;     // set at construction, then read-only
    bool pump_posted_ = false; // guarded by mu_
    bool terminal_reported_ = false; // guarded by mu_; see wait_until_terminal()
    std::atomic<bool> shut_down_{false};

    // strand only
    std::optional<TimePoint> armed_;
    core::SuspendWatch suspend_;
    std::vector<core::Action> spare_actions_;
    std::vector<std::string*> spare_texts_; // execute_all()
    // Persistence group commit (guarded by mu_): actions waiting for the
    // commit due at commit_at_, and when the last one began.
    std::vector<core::Action> held_actions_;
    std::optional<TimePoint> commit_at_;
    TimePoint last_commit_{};
    // After a failed commit: the next try is not before retry_at_.
    static constexpr core::Duration kCommitRetryFirst{10};
    static constexpr core::Duration kCommitRetryMax{1000};
    core::Duration commit_retry_{0};
    std::optional<TimePoint> retry_at_;
    std::vector<core::Event> spare_events_;
};

// ---- Client ------------------------------------------------------------------

namespace {

// The one check of the options and opening of the store: the constructor
// throws what this reports, create() returns it.
std::shared_ptr<Client::Impl> make_impl(ClientOptions&& options, std::error_code& ec, std::string& detail) {
    CheckedOptions checked;
    if (auto problem = validate_options(options, checked); !problem.empty()) {
        ec = make_error_code(errc::invalid_argument);
        detail = std::move(problem);
        return nullptr;
    }
    std::optional<StoreJournal::Opened> store;
    if (!options.persistence.path.empty()) {
        auto opened = StoreJournal::open(options.persistence);
        if (!opened) {
            ec = opened.error();
            detail = opened.detail();
            return nullptr;
        }
        store = std::move(opened).value();
    }
    ec.clear();
    return std::make_shared<Client::Impl>(std::move(options), std::move(checked), std::move(store));
}

} // namespace

Client::Client(ClientOptions options) {
    std::error_code ec;
    std::string detail;
    impl_ = make_impl(std::move(options), ec, detail);
    if (!impl_) throw std::system_error(ec, detail);
}

Client::Client(Checked, std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<Client> Client::create(ClientOptions options, std::error_code& ec, std::string* detail) {
    std::string why;
    try {
        auto impl = make_impl(std::move(options), ec, why);
        if (impl) return std::unique_ptr<Client>(new Client(Checked{}, std::move(impl)));
    } catch (const std::system_error& e) {
        ec = e.code();
        why = e.what();
    } catch (const std::exception& e) {
        ec = make_error_code(errc::invalid_argument);
        why = e.what();
    }
    if (detail) *detail = std::move(why);
    return nullptr;
}

Client::~Client() {
    if (impl_) impl_->shutdown();
}

std::error_code Client::connect() { return impl_->guarded(&core::Session::start); }

SendResult Client::send(const nlohmann::json& data, std::string_view message_id) {
    // One buffer per application thread, reused: the fast encoder appends the
    // dump to it; nlohmann's dump runs only where the encoder declines (and
    // words the error). A buffer grown by a huge message is not kept.
    thread_local std::string text;
    text.clear();
    if (text.capacity() > 64 * 1024) std::string().swap(text);
    const bool encoded = core::fast::append_compact_dump(text, data, core::kMaxPayloadDepth);
    if (!encoded) {
        try {
            text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
        } catch (const nlohmann::json::exception& e) {
            SendResult r;
            r.error = make_error_code(errc::invalid_utf8);
            r.detail = e.what();
            return r;
        }
    }
    return impl_->send(text, message_id, encoded ? core::PayloadCheck::encoded : core::PayloadCheck::trusted);
}

SendResult Client::send_json(std::string_view json_text, std::string_view message_id) {
    return impl_->send(json_text, message_id, core::PayloadCheck::validate);
}

std::error_code Client::close(std::optional<Milliseconds> drain) {
    return impl_->close(drain);
}
std::error_code Client::abort() { return impl_->guarded(&core::Session::abort); }
std::error_code Client::reconnect_now() { return impl_->guarded(&core::Session::reconnect_now); }
std::error_code Client::network_changed() { return impl_->guarded(&core::Session::network_changed); }
std::error_code Client::simulate_network_drop() { return impl_->simulate_network_drop(); }
State Client::state() const { return impl_->state(); }
Stats Client::stats() const { return impl_->stats(); }
std::string Client::session_id() const { return impl_->session_id(); }
const Recovered& Client::recovered() const { return impl_->recovered(); }
State Client::wait_until_terminal(Milliseconds timeout) const { return impl_->wait_until_terminal(timeout); }

} // namespace tether
