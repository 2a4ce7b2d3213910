#include "core/session.hpp"

#include <algorithm>
#include <cstring>

#include "core/utf8.hpp"

namespace tether::core {

std::string validate(const SessionConfig& c) {
    if (c.url.empty()) return "url is empty";
    if (auto e = Heartbeat::validate(c.heartbeat); !e.empty()) return e;
    if (c.backoff.base <= Duration::zero()) return "backoff base must be positive";
    if (c.backoff.max < c.backoff.base) return "backoff max must be >= base";
    if (c.backoff.max > kMaxDuration) return "backoff max is too large";
    if (c.backoff.stable_after < Duration::zero()) return "backoff stable_after must not be negative";
    if (c.outbox.max_messages == 0) return "outbox max_messages must be positive";
    if (c.outbox.max_in_flight == 0) return "outbox max_in_flight must be positive";
    if (c.outbox.max_message_bytes == 0 || c.outbox.max_message_bytes > c.outbox.max_bytes)
        return "outbox max_message_bytes must be in [1, max_bytes]";
    if (c.inbox.ack_every == 0) return "ack every_messages must be positive";
    if (c.inbox.ack_delay < Duration::zero() || c.inbox.ack_delay > kMaxDuration) return "ack max_delay out of range";
    if (c.connect_timeout <= Duration::zero() || c.connect_timeout > kMaxDuration) return "connect timeout out of range";
    if (c.hello_timeout <= Duration::zero() || c.hello_timeout > kMaxDuration) return "hello timeout out of range";
    if (c.close_timeout <= Duration::zero() || c.close_timeout > kMaxDuration) return "close timeout out of range";
    if (c.token && !is_valid_utf8(*c.token)) return "token is not valid UTF-8";
    if (c.late_timer_threshold <= Duration::zero() || c.late_timer_threshold > kMaxDuration)
        return "late timer threshold out of range";
    return {};
}

namespace {

// Generated ids: 64 random bits as 11 base64url digits, then the local id
// in base64url digits (no leading zero digit). The prefix has a fixed
// length, so no separator is needed and distinct local ids give distinct
// ids; no byte needs escaping in JSON. A 64 B message at local id 100,000
// carries a 14 B id (it was 23 B as hex + '-' + decimal), which keeps its
// frame within a 125 B WebSocket payload, the 2-byte header's limit.
constexpr char kIdDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char* append_id_digits(char* out, std::uint64_t v, int min_digits) {
    char tmp[11];
    int n = 0;
    do {
        tmp[n++] = kIdDigits[v & 63];
        v >>= 6;
    } while (v != 0 || n < min_digits);
    while (n > 0) *out++ = tmp[--n];
    return out;
}

std::string id_prefix(std::uint64_t random) {
    char buf[11];
    append_id_digits(buf, random, 11);
    return std::string(buf, sizeof buf);
}

} // namespace

std::string_view Session::generated_id(MessageId local_id, IdBuffer& buf) const {
    const std::size_t n = std::min(id_prefix_.size(), buf.size() - 24);
    std::memcpy(buf.data(), id_prefix_.data(), n);
    const char* const end = append_id_digits(buf.data() + n, local_id, 1);
    return std::string_view(buf.data(), static_cast<std::size_t>(end - buf.data()));
}

std::string_view Session::message_id(const Outbox::Entry& entry, IdBuffer& buf) const {
    return entry.id_generated() ? generated_id(entry.local_id, buf) : entry.id();
}

Session::Session(SessionConfig config, Rng& rng)
    : config_(std::move(config)),
      rng_(rng),
      backoff_(config_.backoff),
      heartbeat_(config_.heartbeat),
      outbox_(config_.outbox),
      inbox_(config_.inbox),
      id_prefix_(id_prefix(rng.next_u64())) {
    if (config_.token) token_ = config_.token;
}

Stats Session::stats() const {
    Stats s = stats_;
    s.outbox_depth = outbox_.size();
    s.outbox_bytes = outbox_.bytes();
    s.outbox_high_water = outbox_.high_water();
    return s;
}

std::error_code Session::local_error(errc e) {
    ++stats_.caller_errors;
    return make_error_code(e);
}

void Session::set_state(TimePoint, State to, std::error_code reason, std::string detail, Duration retry_in) {
    if (to == state_) return;
    StateChanged ev;
    ev.from = state_;
    ev.to = to;
    ev.reason = reason;
    ev.detail = std::move(detail);
    ev.retry_in = retry_in;
    ev.attempt = backoff_.failures();
    state_ = to;
    events_.emplace_back(std::move(ev));
}

// ---- persistence ------------------------------------------------------------

void Session::attach_journal(Journal* journal) {
    journal_ = journal;
    inbox_.set_gated(journal != nullptr);
}

std::error_code Session::restore(const RestoredState& state) {
    if (state_ != State::idle || next_local_id_ != 1 || !outbox_.empty()) return local_error(errc::invalid_state);
    if (!state.session.empty() && state.resume_token.empty()) return local_error(errc::invalid_argument);
    session_id_ = state.session;
    resume_token_ = state.resume_token;
    resume_attempts_ = state.resume_attempt;
    inbox_.restore(state.session.empty() ? 0 : state.inbound_last);
    for (const RestoredMessage& m : state.messages) outbox_.restore(next_local_id_++, m.id, m.data, m.seq);
    outbox_.restore_next_seq(state.next_seq);
    return {};
}

void Session::confirm_delivered(TimePoint now, std::uint64_t seq) {
    if (seq == 0 || seq > inbox_.last_delivered()) return;
    if (journal_) journal_result(journal_->inbound_last(seq), "inbound last");
    inbox_.confirm(seq, now);
    flush_ack(now, false);
}

void Session::journal_result(std::error_code ec, const char* what) {
    if (!ec) return;
    events_.emplace_back(ErrorEvent{ec, std::string("persistence could not record the ") + what});
}

// welcome{resumed:true} with a last_seq beyond anything this client numbered:
// the store the session was restored from is older than what the server
// saw (a power cut rolled back commits, or commits failed). Resuming with
// the stored seqs would make the server drop new messages as duplicates, so
// the session is given up and a new one started at once; unacked messages
// go again under their ids (at-least-once).
void Session::store_behind(TimePoint now, std::uint64_t server_last_seq) {
    events_.emplace_back(ErrorEvent{make_error_code(errc::session_lost),
                                    "the server's session is ahead of the stored one (welcome.last_seq " +
                                        std::to_string(server_last_seq) + ", stored " +
                                        std::to_string(outbox_.last_seq_sent()) + "): starting a new session"});
    lost_to_store_behind_ = session_id_;
    session_id_.clear();
    resume_token_.clear();
    inbox_.reset_session();
    outbox_.renumber_for_new_session();
    journal_->session_ended();
    drop_connection(now, true);
    enter_backoff(now, Duration::zero(), make_error_code(errc::session_lost), "the store is behind the server");
}

// ---- application inputs ----------------------------------------------------

std::error_code Session::start(TimePoint now) {
    if (state_ != State::idle) return local_error(errc::invalid_state);
    begin_connect(now, false);
    return {};
}

Result<MessageId> Session::send(TimePoint now, std::string_view data_json, std::string_view id, PayloadCheck check) {
    if (state_ == State::closing || state_ == State::closed || state_ == State::failed) {
        ++stats_.caller_errors;
        return fail(errc::closed, std::string("send() in state ") + to_string(state_));
    }
    // A full outbox refuses before the payload is validated: a caller retrying
    // on outbox_full should not pay for a validation each time.
    auto refused = outbox_.check_bounds(id.size(), data_json.size());
    if (refused && refused->code == errc::outbox_full) {
        ++stats_.caller_errors;
        return std::move(*refused);
    }
    {
        DecodeLimits limits;
        limits.max_bytes = config_.outbox.max_message_bytes;
        limits.max_depth = kMaxPayloadDepth;
        std::string detail;
        std::error_code ec;
        if (check == PayloadCheck::validate)
            ec = validate_json_value(data_json, limits, &detail);
        else if (check == PayloadCheck::trusted)
            ec = check_nesting(data_json, limits.max_depth);
        if (ec == errc::frame_too_deep) { // the caller's payload, so a local error
            ec = make_error_code(errc::invalid_json);
            detail = "payload nested deeper than " + std::to_string(kMaxPayloadDepth) + " levels";
        }
        if (ec) {
            ++stats_.caller_errors;
            return Failure{ec, detail};
        }
    }
    // Generated ids: prefix + local id, formatted on the stack (no
    // allocation), and not stored in the outbox (formed again when sent).
    IdBuffer generated;
    const bool id_generated = id.empty();
    if (id_generated) {
        id = generated_id(next_local_id_, generated);
    } else if (id.size() > 256 || !is_valid_utf8(id)) {
        ++stats_.caller_errors;
        return fail(errc::invalid_argument, "message id must be valid UTF-8 of at most 256 bytes");
    }
    auto pushed = outbox_.push(next_local_id_, id, data_json, id_generated);
    if (!pushed) {
        ++stats_.caller_errors;
        return pushed;
    }
    if (journal_) journal_result(journal_->enqueued(next_local_id_, id, data_json), "message");
    ++next_local_id_;
    ++stats_.messages_sent;
    if (state_ == State::ready) flush_outbox();
    (void)now;
    return pushed;
}

std::error_code Session::close(TimePoint now, Duration drain) {
    switch (state_) {
    case State::closed:
    case State::failed: return local_error(errc::closed);
    case State::closing: return local_error(errc::invalid_state);
    case State::ready:
        set_state(now, State::closing);
        timers_.set(SessionTimer::drain, now + clamp_duration(drain));
        if (outbox_.empty()) finish_closing(now);
        return {};
    default:
        terminate(now, State::closed, {}, "closed by the application");
        return {};
    }
}

std::error_code Session::abort(TimePoint now) {
    if (state_ == State::closed || state_ == State::failed) return local_error(errc::closed);
    terminate(now, State::closed, {}, "aborted by the application");
    return {};
}

std::error_code Session::reconnect_now(TimePoint now) {
    switch (state_) {
    case State::backoff:
        timers_.stop(SessionTimer::backoff);
        begin_connect(now, refresh_on_connect_);
        return {};
    case State::connecting:
    case State::authenticating:
    case State::ready:
        drop_connection(now, true);
        enter_backoff(now, Duration::zero(), {}, "reconnect requested by the application");
        timers_.stop(SessionTimer::backoff);
        begin_connect(now, false);
        return {};
    case State::idle: return local_error(errc::invalid_state);
    default: return local_error(errc::closed);
    }
}

std::error_code Session::network_changed(TimePoint now) {
    if (state_ == State::idle) return local_error(errc::invalid_state);
    if (state_ == State::closing || is_terminal(state_)) return local_error(errc::closed);
    connection_suspect(now);
    return {};
}

std::error_code Session::on_suspend_detected(TimePoint now, Duration) {
    if (is_terminal(state_)) return make_error_code(errc::closed);
    suspend_detected(now);
    return {};
}

void Session::suspend_detected(TimePoint now) {
    ++stats_.suspends_detected;
    suspect_since_ = now;
    connection_suspect(now);
}

// The connection may have died unseen (suspend, network change): find out
// within probe_timeout instead of a full heartbeat timeout. Not a failed
// attempt in the backoff's count.
void Session::connection_suspect(TimePoint now) {
    const Duration probe = config_.heartbeat.probe_timeout;
    switch (state_) {
    case State::backoff:
        timers_.stop(SessionTimer::backoff);
        begin_connect(now, refresh_on_connect_);
        return;
    case State::connecting:
        if (conn_ == 0) return; // asking for a token: no connection to suspect yet
        drop_connection(now, true);
        begin_connect(now, false);
        return;
    case State::authenticating:
    case State::ready:
        ++stats_.pings_sent;
        actions_.emplace_back(SendPing{conn_});
        if (!timers_.get(SessionTimer::probe)) timers_.set(SessionTimer::probe, now + probe);
        // The probe decides now, not the silence (or the sleep) before it.
        if (heartbeat_.active()) {
            heartbeat_.on_inbound(now);
            heartbeat_.on_ping_sent(now);
        }
        if (auto hello = timers_.get(SessionTimer::hello); hello && *hello < now + probe)
            timers_.set(SessionTimer::hello, now + probe);
        return;
    default: return;
    }
}

Duration Session::late_timer_threshold() const {
    return std::max(config_.late_timer_threshold, std::max(config_.heartbeat.interval, heartbeat_.interval()) / 2);
}

std::error_code Session::provide_token(TimePoint now, std::optional<std::string> token) {
    if (!awaiting_token_ || state_ != State::connecting) return local_error(errc::invalid_state);
    if (token && !is_valid_utf8(*token)) {
        ++stats_.caller_errors;
        token.reset();
        events_.emplace_back(ErrorEvent{make_error_code(errc::invalid_utf8), "token provider returned invalid UTF-8"});
    }
    awaiting_token_ = false;
    const bool was_refresh = token_refresh_pending_;
    token_refresh_pending_ = false;
    if (!token && was_refresh) {
        timers_.stop(SessionTimer::connect);
        terminate(now, State::failed, make_error_code(errc::no_token),
                  "the server said token_expired and the token provider has no fresh token");
        return {};
    }
    token_ = std::move(token);
    open_transport(now);
    return {};
}

std::error_code Session::simulate_network_drop(TimePoint) {
    if (conn_ == 0) return local_error(errc::invalid_state);
    actions_.emplace_back(AbortTransport{conn_});
    return {};
}

// ---- connection lifecycle ----------------------------------------------------

void Session::begin_connect(TimePoint now, bool refresh_token) {
    refresh_on_connect_ = false;
    set_state(now, State::connecting);
    ++stats_.connect_attempts;
    timers_.set(SessionTimer::connect, now + config_.connect_timeout);
    if (config_.has_token_provider) {
        awaiting_token_ = true;
        token_refresh_pending_ = refresh_token;
        actions_.emplace_back(FetchToken{refresh_token});
    } else if (refresh_token) {
        timers_.stop(SessionTimer::connect);
        terminate(now, State::failed, make_error_code(errc::token_expired),
                  "the server said token_expired and there is no token provider");
    } else {
        open_transport(now);
    }
}

void Session::open_transport(TimePoint) {
    conn_ = next_conn_++;
    actions_.emplace_back(OpenTransport{conn_, config_.url, config_.headers, kSubprotocol});
}

void Session::drop_connection(TimePoint now, bool abort_transport) {
    if (conn_ != 0 && abort_transport) actions_.emplace_back(AbortTransport{conn_});
    conn_ = 0;
    awaiting_token_ = false;
    token_refresh_pending_ = false;
    timers_.stop_if(ends_with_connection);
    if (state_ == State::ready || state_ == State::closing) backoff_.on_ready_ended(now);
    heartbeat_.stop();
    outbox_.on_connection_lost();
    inbox_.on_connection_lost();
}

void Session::fail_all(std::error_code reason) {
    if (journal_ && !outbox_.empty()) journal_->outbox_cleared();
    for (auto& entry : outbox_.take_all()) {
        ++stats_.messages_failed;
        IdBuffer buf;
        events_.emplace_back(MessageFailed{entry.local_id, std::string(message_id(entry, buf)), reason});
    }
}

void Session::terminate(TimePoint now, State to, std::error_code reason, std::string detail) {
    drop_connection(now, true);
    timers_.stop(SessionTimer::backoff);
    fail_all(reason ? reason : make_error_code(errc::closed));
    set_state(now, to, reason, std::move(detail));
}

void Session::enter_backoff(TimePoint now, Duration delay, std::error_code reason, std::string detail) {
    timers_.set(SessionTimer::backoff, now + delay);
    set_state(now, State::backoff, reason, std::move(detail), delay);
}

void Session::connection_ended(TimePoint now, Reaction r, bool abort_transport) {
    if (r.protocol_error) ++stats_.protocol_errors;
    if (r.report && r.reason) events_.emplace_back(ErrorEvent{r.reason, r.detail});
    const bool closing = state_ == State::closing;
    drop_connection(now, abort_transport);
    if (closing) {
        fail_all(make_error_code(errc::closed));
        set_state(now, State::closed, bye_sent_ ? std::error_code{} : r.reason, r.detail);
        return;
    }
    switch (r.kind) {
    case Reaction::Kind::fail: terminate(now, State::failed, r.reason, r.detail); return;
    case Reaction::Kind::closed: terminate(now, State::closed, r.reason, r.detail); return;
    case Reaction::Kind::refresh:
        if (token_refreshed_ || !config_.has_token_provider) {
            terminate(now, State::failed, r.reason, r.detail + (token_refreshed_ ? " (after a token refresh)" : ""));
            return;
        }
        token_refreshed_ = true;
        refresh_on_connect_ = true;
        enter_backoff(now, Duration::zero(), r.reason, r.detail);
        return;
    case Reaction::Kind::retry_soon:
        // A server restart after a stable connection: come back quickly, not
        // a failure. A server that keeps closing young connections gets the
        // normal backoff, so "welcome, close, welcome, close" cannot spin.
        if (backoff_.last_ready_was_stable()) {
            enter_backoff(now, backoff_.short_delay(rng_), r.reason, r.detail);
            return;
        }
        [[fallthrough]];
    case Reaction::Kind::retry: {
        const Duration delay = backoff_.next_delay(rng_, r.retry_after);
        if (backoff_.exhausted()) {
            terminate(now, State::failed, make_error_code(errc::max_attempts_exceeded),
                      r.detail + "; " + std::to_string(backoff_.failures()) + " consecutive attempts failed");
            return;
        }
        enter_backoff(now, delay, r.reason, r.detail);
        return;
    }
    }
}

void Session::protocol_violation(TimePoint now, std::error_code code, std::string detail) {
    Reaction r;
    r.kind = Reaction::Kind::retry;
    r.reason = code;
    r.detail = std::move(detail);
    r.protocol_error = true;
    connection_ended(now, std::move(r), true);
}

void Session::finish_closing(TimePoint now) {
    timers_.stop(SessionTimer::drain);
    flush_ack(now, true);
    emit_send(encode(Bye{}));
    actions_.emplace_back(CloseTransport{conn_, close_code::normal, "bye"});
    bye_sent_ = true;
    if (journal_) journal_->session_ended();
    heartbeat_.stop();
    timers_.set(SessionTimer::close, now + config_.close_timeout);
    fail_all(make_error_code(errc::closed));
}

// ---- transport inputs -------------------------------------------------------

std::error_code Session::on_transport_open(TimePoint now, ConnectionId id, std::string_view subprotocol) {
    if (!is_current(id) || state_ != State::connecting || awaiting_token_) return make_error_code(errc::invalid_state);
    ++stats_.connects;
    timers_.stop(SessionTimer::connect);
    if (!subprotocol.empty() && subprotocol != kSubprotocol) {
        connection_ended(now,
                         Reaction{Reaction::Kind::fail, make_error_code(errc::protocol_version),
                                  "server selected subprotocol '" + std::string(subprotocol) + "', expected tether.v1",
                                  std::nullopt, true, true},
                         true);
        return {};
    }
    Hello hello;
    hello.token = token_;
    hello.client = config_.client_info;
    resume_requested_ = !session_id_.empty();
    if (resume_requested_) {
        hello.resume = ResumeRequest{session_id_, resume_token_, inbox_.ackable(), ++resume_attempts_};
        if (journal_) journal_result(journal_->resume_attempt(resume_attempts_), "resume attempt");
    }
    timers_.set(SessionTimer::hello, now + config_.hello_timeout);
    set_state(now, State::authenticating);
    emit_send(encode(hello));
    return {};
}

std::error_code Session::on_text(TimePoint now, ConnectionId id, std::string_view text) {
    if (!is_current(id) || conn_ == 0) return make_error_code(errc::invalid_state);
    if (state_ != State::authenticating && state_ != State::ready && state_ != State::closing)
        return make_error_code(errc::invalid_state);
    ++stats_.frames_in;
    stats_.bytes_in += text.size();
    heartbeat_.on_inbound(now);
    timers_.stop(SessionTimer::probe);
    if (bye_sent_) return {}; // the session is over; only the close matters now
    auto decoded = decode_server_frame(text, config_.decode_limits);
    if (!decoded) {
        protocol_violation(now, decoded.error(), decoded.detail());
        return {};
    }
    handle_frame(now, std::move(decoded).value());
    return {};
}

std::error_code Session::on_binary(TimePoint now, ConnectionId id, std::size_t bytes) {
    if (!is_current(id) || (state_ != State::authenticating && state_ != State::ready && state_ != State::closing))
        return make_error_code(errc::invalid_state);
    ++stats_.frames_in;
    stats_.bytes_in += bytes;
    if (bye_sent_) return {};
    protocol_violation(now, make_error_code(errc::binary_frame),
                       "binary frame of " + std::to_string(bytes) + " bytes (tether.v1 is text only)");
    return {};
}

std::error_code Session::on_pong(TimePoint now, ConnectionId id) {
    if (!is_current(id)) return make_error_code(errc::invalid_state);
    heartbeat_.on_inbound(now);
    timers_.stop(SessionTimer::probe);
    return {};
}

std::error_code Session::on_transport_closed(TimePoint now, ConnectionId id, const CloseInfo& info) {
    if (!is_current(id)) return make_error_code(errc::invalid_state);
    conn_ = 0;
    if (state_ == State::closing && bye_sent_) {
        drop_connection(now, false);
        set_state(now, State::closed);
        return {};
    }
    connection_ended(now, fail_if_stuck_on_oversized(classify_close(info)), false);
    return {};
}

// A message over a size limit (1009) is replayed on every resume until it is
// acked, and it can never be: the session would reconnect forever. After
// kOversizedRepeatsBeforeFail such closes in a row at the same point of the
// session (nothing delivered or acked in between) it fails with a clear error.
Reaction Session::fail_if_stuck_on_oversized(Reaction r) {
    if (r.reason != errc::message_too_big) return r;
    const std::uint64_t mark = inbox_.last_delivered() + stats_.messages_acked;
    oversized_streak_ = oversized_streak_ > 0 && mark == oversized_mark_ ? oversized_streak_ + 1 : 1;
    oversized_mark_ = mark;
    if (oversized_streak_ >= kOversizedRepeatsBeforeFail) {
        r.kind = Reaction::Kind::fail;
        r.detail += "; " + std::to_string(oversized_streak_) +
                    " connections in a row ended on a message over the size limit with nothing delivered or acked "
                    "in between: it is re-sent on every resume, so the session cannot move past it (raise "
                    "max_inbound_message_bytes or the server's limit)";
    }
    return r;
}

// ---- frames ------------------------------------------------------------------

void Session::handle_frame(TimePoint now, ServerFrame&& frame) {
    match(
        frame,
        [&](Welcome& w) {
            if (state_ != State::authenticating) {
                protocol_violation(now, make_error_code(errc::unexpected_frame), "welcome on an established session");
                return;
            }
            handle_welcome(now, std::move(w));
        },
        [&](ServerMsg& m) {
            if (state_ == State::authenticating) {
                protocol_violation(now, make_error_code(errc::unexpected_frame), "msg before welcome");
                return;
            }
            handle_msg(now, std::move(m));
        },
        [&](Ack& a) {
            if (state_ == State::authenticating) {
                protocol_violation(now, make_error_code(errc::unexpected_frame), "ack before welcome");
                return;
            }
            handle_ack(now, a);
        },
        [&](ErrorFrame& e) { connection_ended(now, classify_error_frame(e), true); },
        [&](UnknownFrame&) { ++stats_.unknown_frames; });
}

void Session::handle_welcome(TimePoint now, Welcome&& w) {
    if (w.session.empty() || w.resume_token.empty()) {
        protocol_violation(now, make_error_code(errc::bad_frame), "welcome with an empty session or resume_token");
        return;
    }
    if (w.resumed && (!resume_requested_ || w.session != session_id_)) {
        protocol_violation(now, make_error_code(errc::unexpected_frame),
                           "welcome resumed:true for a session this client did not ask to resume");
        return;
    }
    timers_.stop(SessionTimer::hello);
    if (w.resumed) {
        acked_scratch_.clear();
        if (journal_ && w.last_seq > outbox_.last_seq_sent()) {
            store_behind(now, w.last_seq);
            return;
        }
        if (auto ec = outbox_.on_resumed(w.last_seq, acked_scratch_)) {
            protocol_violation(now, ec,
                               "welcome.last_seq " + std::to_string(w.last_seq) + " is beyond the last seq sent " +
                                   std::to_string(outbox_.last_seq_sent()));
            return;
        }
        for (MessageId acked : acked_scratch_) events_.emplace_back(MessageAcked{acked});
        stats_.messages_acked += acked_scratch_.size();
        if (journal_) {
            journal_result(journal_->acked_through(w.last_seq), "resume");
            journal_result(journal_->resumed(w.session, w.resume_token), "resume");
        }
        ++stats_.resumes;
        events_.emplace_back(SessionResumed{w.session, outbox_.size()});
    } else {
        if (w.last_seq != 0) {
            protocol_violation(now, make_error_code(errc::bad_frame), "welcome resumed:false with last_seq != 0");
            return;
        }
        inbox_.reset_session();
        if (resume_requested_ || !lost_to_store_behind_.empty()) {
            ++stats_.sessions_lost;
            const std::size_t unacked = outbox_.size();
            events_.emplace_back(
                SessionLost{resume_requested_ ? session_id_ : lost_to_store_behind_, w.session, unacked});
            if (config_.on_session_lost == SessionLostPolicy::fail) fail_all(make_error_code(errc::session_lost));
        }
        lost_to_store_behind_.clear();
        outbox_.renumber_for_new_session();
        if (journal_) journal_result(journal_->new_session(w.session, w.resume_token), "new session");
    }
    session_id_ = std::move(w.session);
    resume_token_ = std::move(w.resume_token);
    std::optional<Duration> server_interval;
    if (w.heartbeat_ms && *w.heartbeat_ms > 0) // 0 is not a valid interval: keep ours
        server_interval = Duration(static_cast<Duration::rep>(
            std::min<std::uint64_t>(*w.heartbeat_ms, static_cast<std::uint64_t>(kMaxDuration.count()))));
    heartbeat_.start(now, server_interval);
    backoff_.on_ready(now);
    token_refreshed_ = false;
    if (was_ready_) ++stats_.reconnects;
    was_ready_ = true;
    set_state(now, State::ready);
    flush_outbox();
}

void Session::handle_msg(TimePoint now, ServerMsg&& m) {
    if (m.seq == 0) {
        protocol_violation(now, make_error_code(errc::frame_seq_out_of_range), "msg.seq must start at 1");
        return;
    }
    switch (inbox_.on_msg(m.seq, now)) {
    case Inbox::Verdict::gap:
        protocol_violation(now, make_error_code(errc::seq_gap),
                           "msg.seq " + std::to_string(m.seq) + " after " + std::to_string(inbox_.last_delivered()));
        return;
    case Inbox::Verdict::duplicate: ++stats_.duplicates_dropped; break;
    case Inbox::Verdict::deliver:
        ++stats_.messages_received;
        events_.emplace_back(MessageReceived{m.seq, std::move(m.data), std::move(m.id), std::move(m.data_json)});
        break;
    }
    flush_ack(now, false);
}

void Session::handle_ack(TimePoint now, const Ack& a) {
    acked_scratch_.clear();
    if (auto ec = outbox_.ack(a.seq, acked_scratch_)) {
        protocol_violation(now, ec,
                           "ack " + std::to_string(a.seq) + " beyond the last seq sent " +
                               std::to_string(outbox_.last_seq_sent()));
        return;
    }
    for (MessageId acked : acked_scratch_) events_.emplace_back(MessageAcked{acked});
    stats_.messages_acked += acked_scratch_.size();
    if (journal_ && !acked_scratch_.empty()) journal_result(journal_->acked_through(a.seq), "ack");
    if (state_ == State::closing && outbox_.empty() && !bye_sent_) {
        finish_closing(now);
        return;
    }
    flush_outbox();
}

// ---- output helpers -----------------------------------------------------------

void Session::emit_send(std::string&& text) {
    ++stats_.frames_out;
    stats_.bytes_out += text.size();
    actions_.emplace_back(SendText{conn_, std::move(text)});
}

void Session::flush_outbox() {
    if (conn_ == 0 || bye_sent_ || (state_ != State::ready && state_ != State::closing)) return;
    const std::uint64_t numbered_before = outbox_.last_seq_sent();
    while (Outbox::Entry* entry = outbox_.next_to_send()) {
        if (entry->transmitted) ++stats_.frames_resent;
        entry->transmitted = true;
        std::string text; // append_client_msg reserves the exact room once
        IdBuffer buf;
        append_client_msg(text, entry->seq, message_id(*entry, buf), entry->data());
        emit_send(std::move(text));
        if (config_.report_sent) events_.emplace_back(MessageSent{entry->local_id});
    }
    if (journal_ && outbox_.last_seq_sent() != numbered_before)
        journal_result(journal_->numbered_through(outbox_.last_seq_sent()), "numbering");
}

void Session::flush_ack(TimePoint now, bool force) {
    if (conn_ == 0 || bye_sent_ || (state_ != State::ready && state_ != State::closing)) return;
    if (auto seq = inbox_.take_ack(now, force)) {
        ++stats_.acks_sent;
        emit_send(encode(Ack{*seq}));
    }
}

// ---- timers ---------------------------------------------------------------------

void Session::on_timeout(TimePoint now) {
    // Far later than due: the process or machine slept, or the clock jumped.
    if (const auto due = poll_timeout(); due && now - std::max(*due, suspect_since_) > late_timer_threshold())
        suspend_detected(now);
    if (timers_.is_expired(SessionTimer::connect, now)) {
        connection_ended(now, Reaction{Reaction::Kind::retry, make_error_code(errc::connect_timeout),
                                       "no connection within the connect timeout", std::nullopt, false, true},
                         true);
    } else if (timers_.is_expired(SessionTimer::hello, now)) {
        connection_ended(now, Reaction{Reaction::Kind::retry, make_error_code(errc::auth_timeout),
                                       "no welcome within the hello timeout", std::nullopt, false, true},
                         true);
    } else if (timers_.is_expired(SessionTimer::close, now)) {
        drop_connection(now, true);
        set_state(now, State::closed);
        return;
    } else if (timers_.is_expired(SessionTimer::probe, now)) {
        // A suspect connection that stayed silent: replaced at once, not
        // counted as a failed attempt (the suspend or the network change
        // killed it, not the server).
        Reaction r{Reaction::Kind::retry, make_error_code(errc::heartbeat_timeout),
                   "no reply to the probe within " + std::to_string(config_.heartbeat.probe_timeout.count()) + " ms",
                   std::nullopt, false, true};
        if (state_ == State::closing) {
            connection_ended(now, std::move(r), true);
            return;
        }
        events_.emplace_back(ErrorEvent{r.reason, r.detail});
        drop_connection(now, true);
        enter_backoff(now, Duration::zero(), r.reason, std::move(r.detail));
        return;
    }
    if (state_ == State::ready || (state_ == State::closing && !bye_sent_)) {
        if (heartbeat_.active() && heartbeat_.liveness_deadline() <= now) {
            connection_ended(now, Reaction{Reaction::Kind::retry, make_error_code(errc::heartbeat_timeout),
                                           "nothing received for " + std::to_string(heartbeat_.timeout().count()) +
                                               " ms: the connection is dead",
                                           std::nullopt, false, true},
                             true);
            return;
        }
        if (heartbeat_.active() && heartbeat_.next_ping() <= now) {
            ++stats_.pings_sent;
            actions_.emplace_back(SendPing{conn_});
            heartbeat_.on_ping_sent(now);
        }
        if (auto ack = inbox_.ack_deadline(); ack && *ack <= now) flush_ack(now, false);
        if (timers_.is_expired(SessionTimer::drain, now)) finish_closing(now);
    }
    if (state_ == State::backoff && timers_.is_expired(SessionTimer::backoff, now)) {
        timers_.stop(SessionTimer::backoff);
        begin_connect(now, refresh_on_connect_);
    }
}

std::optional<TimePoint> Session::poll_timeout() const {
    // The table needs no state check: backoff is armed only in state backoff,
    // drain only while closing on a connection with the bye not yet sent.
    std::optional<TimePoint> next = timers_.next();
    auto consider = [&next](const std::optional<TimePoint>& t) {
        if (t && (!next || *t < *next)) next = t;
    };
    if (conn_ != 0 && (state_ == State::ready || (state_ == State::closing && !bye_sent_))) {
        if (heartbeat_.active()) {
            consider(heartbeat_.next_ping());
            consider(heartbeat_.liveness_deadline());
        }
        consider(inbox_.ack_deadline());
    }
    return next;
}

std::optional<Action> Session::poll_action() { return actions_.pop_front(); }

std::optional<Event> Session::poll_event() { return events_.pop_front(); }

} // namespace tether::core
