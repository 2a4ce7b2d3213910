#include "chat.hpp"

#include <algorithm>
#include <iostream>
#include <random>
#include <sstream>

namespace tchat {

using tether::State;

Chat::Chat(ChatOptions options) : options_(std::move(options)) {
    std::random_device rd;
    id_prefix_ = id_safe(options_.nick) + "-" + hex32(rd()) + "-";
}

Chat::~Chat() {
    // The client's destructor waits for a running callback and guarantees no
    // further one, so after this no io-thread code touches the Chat.
    client_.reset();
}

bool Chat::start(const std::string& transcript_path, std::string& error) {
    if (!transcript_path.empty()) {
        transcript_.open(transcript_path, std::ios::out | std::ios::trunc);
        if (!transcript_) {
            error = "cannot write the transcript " + transcript_path;
            return false;
        }
    }
    if (!options_.log_file.empty()) {
        log_file_.open(options_.log_file, std::ios::out | std::ios::app);
        if (!log_file_) {
            error = "cannot write the log " + options_.log_file;
            return false;
        }
    }

    tether::ClientOptions o;
    o.url = options_.url;
    o.token = options_.token;
    o.client_name = "tether-chat";
    if (options_.heartbeat) o.heartbeat.interval = *options_.heartbeat;
    if (options_.connect_timeout) {
        o.timeouts.connect = *options_.connect_timeout;
        o.timeouts.hello = *options_.connect_timeout;
    }
    if (options_.backoff_base) o.backoff.base = *options_.backoff_base;
    if (options_.backoff_max) o.backoff.max = *options_.backoff_max;
    if (o.backoff.max < o.backoff.base) o.backoff.max = o.backoff.base;
    o.backoff.max_attempts = options_.max_attempts;
    o.tls.ca_file = options_.ca_file;
    o.tls.insecure_skip_verify = options_.insecure;
    if (log_file_.is_open() || options_.log_stderr) {
        o.log = [this](tether::LogLevel level, std::string_view message) { log_line(level, message); };
        o.log_level = log_file_.is_open() ? tether::LogLevel::debug : tether::LogLevel::info;
    }
    o.callbacks.on_state = [this](const tether::StateChange& c) { on_state(c); };
    o.callbacks.on_message = [this](const tether::Message& m) { on_message(m); };
    o.callbacks.on_acked = [this](tether::MessageId id) { on_acked(id); };
    o.callbacks.on_sent = [this](tether::MessageId id) { on_sent(id); };
    o.callbacks.on_failed = [this](tether::MessageId id, const std::string& mid, std::error_code ec) {
        on_failed(id, mid, ec);
    };
    o.callbacks.on_resumed = [this](const std::string& s) { on_resumed(s); };
    o.callbacks.on_session_lost = [this](const tether::SessionLostInfo& i) { on_session_lost(i); };
    o.callbacks.on_error = [this](std::error_code ec, const std::string& d) { on_error(ec, d); };

    std::error_code ec;
    std::string detail;
    auto client = tether::Client::create(std::move(o), ec, &detail);
    if (!client) {
        error = "invalid options: " + (detail.empty() ? ec.message() : detail);
        return false;
    }

    std::lock_guard<std::mutex> lock(mu_);
    client_ = std::move(client);
    emit_locked(event::Start{options_.nick, options_.room, options_.url, id_prefix_, options_.history > 0});
    // Queued now, sent as soon as the session is ready: join the room.
    send_presence_locked("join");
    if (auto e = client_->connect()) {
        error = "connect: " + e.message();
        return false;
    }
    return true;
}

// ---- commands -------------------------------------------------------------------

std::string Chat::say(const std::string& text, bool& ok) {
    ok = false;
    if (text.empty()) return "nothing to send";
    std::lock_guard<std::mutex> lock(mu_);
    nlohmann::json data = {{"room", options_.room}, {"nick", options_.nick}, {"text", text}};
    std::string data_json;
    try {
        data_json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::exception&) {
        return "the text is not valid UTF-8";
    }
    const std::string id = next_id_locked("");
    // The Queued event below adds this message's row at `index`.
    const std::size_t index = entries_.size();
    std::string error;
    // Under mu_: an ack cannot be handled before the handle is recorded.
    if (!send_locked(data_json, id, Purpose::chat, index, &error)) return "not sent: " + error;
    own_.push_back(Own{id, data_json, index});
    ++pending_;
    emit_locked(event::Queued{id, options_.nick, text});
    changed_locked();
    ok = true;
    return {};
}

std::string Chat::drop(bool& ok) {
    std::error_code ec;
    {
        std::lock_guard<std::mutex> lock(mu_);
        ec = client_->simulate_network_drop();
        emit_locked(event::Command{"drop", ec ? code_name(ec) : "ok", std::nullopt});
    }
    ok = !ec;
    if (ec) return "/drop: " + code_name(ec) + " (no connection to drop right now)";
    return "/drop: transport cut, as a network failure would";
}

std::string Chat::reconnect(bool& ok) {
    std::error_code ec;
    {
        std::lock_guard<std::mutex> lock(mu_);
        ec = client_->reconnect_now();
        emit_locked(event::Command{"reconnect", ec ? code_name(ec) : "ok", std::nullopt});
    }
    ok = !ec;
    if (ec) return "/reconnect: " + code_name(ec);
    return "/reconnect: connecting now";
}

std::string Chat::set_nick(const std::string& nick, bool& ok) {
    ok = false;
    if (nick.empty() || nick.size() > 64) return "/nick: give a name of 1 to 64 bytes";
    std::lock_guard<std::mutex> lock(mu_);
    const std::string old = options_.nick;
    options_.nick = nick;
    emit_locked(event::NickChanged{old, nick});
    ok = true;
    return "you are now " + sanitize(nick) + " (was " + sanitize(old) + ")";
}

std::string Chat::stats_text() {
    const tether::Stats s = client_->stats();
    std::ostringstream o;
    o << "stats: connects " << s.connects << "/" << s.connect_attempts << " attempts, reconnects " << s.reconnects
      << ", resumes " << s.resumes << ", sessions lost " << s.sessions_lost << "; messages sent " << s.messages_sent
      << ", acked " << s.messages_acked << ", failed " << s.messages_failed << ", received " << s.messages_received
      << "; frames resent " << s.frames_resent << ", duplicates dropped by the SDK " << s.duplicates_dropped
      << "; outbox " << s.outbox_depth << " (high water " << s.outbox_high_water << "); pings " << s.pings_sent
      << "; protocol errors " << s.protocol_errors;
    std::lock_guard<std::mutex> lock(mu_);
    o << "; chat: shown " << received_ << ", copies dropped by id " << duplicates_ << ", resyncs " << resyncs_;
    return o.str();
}

void Chat::mark(const std::string& label) {
    std::lock_guard<std::mutex> lock(mu_);
    emit_locked(event::Mark{label, received_});
}

void Chat::note(Entry::Kind kind, const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    emit_locked(event::Note{kind, text});
    changed_locked();
}

void Chat::begin_close(Millis drain) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto ec = client_->close(drain);
    emit_locked(event::Command{"close", ec ? code_name(ec) : "ok", drain.count()});
}

State Chat::wait_terminal(Millis timeout) { return client_->wait_until_terminal(timeout); }

Status Chat::status() const {
    Status s;
    s.stats = client_ ? client_->stats() : tether::Stats{};
    std::lock_guard<std::mutex> lock(mu_);
    s.state = state_;
    s.reason = reason_;
    s.detail = detail_;
    s.retry_at = retry_at_;
    s.attempt = attempt_;
    s.session = session_;
    s.nick = options_.nick;
    s.received = received_;
    s.duplicates = duplicates_;
    s.resyncs = resyncs_;
    s.failed = failed_;
    s.pending = pending_;
    return s;
}

std::vector<Entry> Chat::last_entries(std::size_t n) const {
    std::lock_guard<std::mutex> lock(mu_);
    const std::size_t from = entries_.size() > n ? entries_.size() - n : 0;
    return std::vector<Entry>(entries_.begin() + static_cast<std::ptrdiff_t>(from), entries_.end());
}

State Chat::state() const {
    std::lock_guard<std::mutex> lock(mu_);
    return state_;
}

bool Chat::settled_locked() const { return pending_ == 0 && client_->stats().outbox_depth == 0; }

bool Chat::wait_until(const std::function<bool()>& pred, SteadyClock::time_point deadline,
                      const std::atomic<bool>* stop) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!pred()) {
        if (stop && stop->load()) return false;
        const auto now = SteadyClock::now();
        if (now >= deadline) return false;
        cv_.wait_for(lock, std::min<SteadyClock::duration>(deadline - now, Millis(50)));
    }
    return true;
}

void Chat::finish(int exit_code) {
    const tether::Stats s = client_->stats();
    std::lock_guard<std::mutex> lock(mu_);
    emit_locked(event::FinalStats{s, received_, duplicates_, resyncs_, failed_, pending_});
    emit_locked(event::Exit{exit_code});
}

// ---- SDK callbacks (io thread) -----------------------------------------------------

void Chat::on_state(const tether::StateChange& c) {
    const std::string session = c.to == State::ready ? client_->session_id() : std::string();
    std::lock_guard<std::mutex> lock(mu_);
    state_ = c.to;
    reason_ = code_name(c.reason);
    detail_ = c.detail;
    attempt_ = c.attempt;
    retry_at_ = SteadyClock::now() + c.retry_in;
    if (c.to == State::ready) session_ = session;
    emit_locked(event::StateChanged{c, session});
    if (c.from == State::ready && c.to != State::ready) requeue_locked();
    changed_locked();
}

void Chat::on_message(const tether::Message& m) {
    std::lock_guard<std::mutex> lock(mu_);
    const nlohmann::json& data = m.data;
    if (string_field(data, "room") != options_.room) {
        ++other_rooms_;
        emit_locked(event::Ignored{m.seq, "not for room " + options_.room});
        return;
    }
    const std::string id = m.id.value_or(std::string());
    const std::string nick = string_field(data, "nick");
    const std::string kind = string_field(data, "kind");
    if (kind == "join" || kind == "here") {
        if (!id.empty() && !seen_presence_.insert(id).second) return;
        if (is_own_id(id)) return;
        emit_locked(event::Presence{kind, nick, id, options_.room});
        resync_locked(nick, kind);
        changed_locked();
        return;
    }
    if (!id.empty() && !seen_.insert(id).second) {
        ++duplicates_;
        emit_locked(event::Duplicate{id, nick, m.seq});
        changed_locked();
        return;
    }
    ++received_;
    const bool own = is_own_id(id);
    if (own) {
        // Our own line is already on screen; mark that the room relayed it.
        for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
            if (it->kind == Entry::Kind::own && it->id == id) {
                it->echoed = true;
                break;
            }
        }
    }
    emit_locked(event::Received{id, nick, string_field(data, "text"), m.seq, own, true_field(data, "resync")});
    changed_locked();
}

void Chat::on_acked(tether::MessageId local) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sent_.find(local);
    if (it == sent_.end()) return;
    const Sent s = it->second;
    forget_locked(local);
    if (s.purpose == Purpose::chat && s.entry < entries_.size()) {
        Entry& e = entries_[s.entry];
        if (e.delivery != Delivery::acked && e.delivery != Delivery::failed) {
            e.delivery = Delivery::acked;
            if (pending_ > 0) --pending_;
            emit_locked(event::Acked{e.id});
        }
    }
    changed_locked();
}

// The SDK wrote the message's frame (again, after a reconnect).
void Chat::on_sent(tether::MessageId local) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sent_.find(local);
    if (it == sent_.end() || it->second.purpose != Purpose::chat || it->second.entry >= entries_.size()) return;
    Entry& e = entries_[it->second.entry];
    if (e.delivery != Delivery::queued) return;
    e.delivery = Delivery::sent;
    ++e.attempts;
    emit_locked(event::Sent{e.id, e.attempts});
    changed_locked();
}

void Chat::on_failed(tether::MessageId local, const std::string& id, std::error_code ec) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sent_.find(local);
    if (it == sent_.end()) return;
    const Sent s = it->second;
    forget_locked(local);
    if (s.purpose == Purpose::chat && s.entry < entries_.size()) {
        Entry& e = entries_[s.entry];
        if (e.delivery != Delivery::acked && e.delivery != Delivery::failed) {
            e.delivery = Delivery::failed;
            e.reason = code_name(ec);
            if (pending_ > 0) --pending_;
            ++failed_;
            emit_locked(event::Failed{id, e.reason});
        }
    } else {
        emit_locked(event::ControlFailed{id, code_name(ec)});
    }
    changed_locked();
}

void Chat::on_resumed(const std::string& session) {
    std::lock_guard<std::mutex> lock(mu_);
    emit_locked(event::Resumed{session, unacked_.size()});
    changed_locked();
}

void Chat::on_session_lost(const tether::SessionLostInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    emit_locked(event::SessionLost{info, options_.room});
    // The new server session is in no room: join again (and ask for a resync).
    send_presence_locked("join");
    changed_locked();
}

void Chat::on_error(std::error_code ec, const std::string& detail) {
    std::lock_guard<std::mutex> lock(mu_);
    emit_locked(event::SdkError{ec, detail});
}

// ---- internals (mu_ held) ----------------------------------------------------------

std::string Chat::next_id_locked(const char* tag) { return id_prefix_ + tag + std::to_string(next_seq_++); }

bool Chat::send_locked(const std::string& data_json, const std::string& id, Purpose purpose, std::size_t entry,
                       std::string* error) {
    const tether::SendResult r = client_->send_json(data_json, id);
    if (!r) {
        if (error) *error = code_name(r.error) + (r.detail.empty() ? "" : " (" + r.detail + ")");
        return false;
    }
    sent_[r.id] = Sent{purpose, entry};
    unacked_.push_back(r.id);
    return true;
}

void Chat::send_presence_locked(const char* kind) {
    nlohmann::json data = {{"room", options_.room}, {"nick", options_.nick}};
    Purpose purpose = Purpose::join;
    if (options_.history > 0) {
        // "text" makes the server relay it; "kind" says it is not a chat line.
        data["text"] = "";
        data["kind"] = kind;
        purpose = Purpose::presence;
    }
    const std::string id = next_id_locked("p");
    std::string error;
    if (!send_locked(data.dump(), id, purpose, 0, &error)) emit_locked(event::ControlFailed{id, error});
}

void Chat::resync_locked(const std::string& peer, const std::string& trigger) {
    if (options_.history == 0) return;
    const std::size_t from = own_.size() > options_.history ? own_.size() - options_.history : 0;
    std::size_t count = 0;
    for (std::size_t i = from; i < own_.size(); ++i) {
        // A message the SDK gave up on stays failed: do not deliver it behind the user's back.
        const bool failed = entries_[own_[i].entry].delivery == Delivery::failed;
        if (failed) continue;
        // Same id, same words; "resync" only lets the receiver say how the copy came.
        nlohmann::json copy = nlohmann::json::parse(own_[i].data_json, nullptr, false);
        if (copy.is_object()) copy["resync"] = true;
        const std::string text = copy.is_object() ? copy.dump() : own_[i].data_json;
        if (send_locked(text, own_[i].id, Purpose::resync, 0, nullptr)) ++count;
    }
    ++resyncs_;
    emit_locked(event::Resync{peer, trigger, count});
    if (trigger == "join") send_presence_locked("here");
}

void Chat::requeue_locked() {
    for (auto local : unacked_) {
        auto it = sent_.find(local);
        if (it == sent_.end() || it->second.purpose != Purpose::chat) continue;
        Entry& e = entries_[it->second.entry];
        if (e.delivery == Delivery::sent) e.delivery = Delivery::queued;
    }
}

void Chat::forget_locked(tether::MessageId local) {
    sent_.erase(local);
    auto it = std::find(unacked_.begin(), unacked_.end(), local);
    if (it != unacked_.end()) unacked_.erase(it);
}

void Chat::emit_locked(const ChatEvent& e) {
    const auto since_start = std::chrono::duration_cast<Millis>(SteadyClock::now() - started_);
    if (transcript_.is_open()) {
        if (auto line = transcript_line(e, since_start)) {
            transcript_ << *line << '\n';
            transcript_.flush();
        }
    }
    if (printer_) {
        if (auto line = printed_line(e, since_start)) printer_(*line);
    }
    if (auto row = screen_row(e, std::chrono::system_clock::now())) entries_.push_back(std::move(*row));
}

void Chat::changed_locked() {
    cv_.notify_all();
    if (on_change_) on_change_();
}

void Chat::log_line(tether::LogLevel level, std::string_view message) {
    std::lock_guard<std::mutex> lock(log_mu_);
    if (log_file_.is_open()) {
        log_file_ << "[" << level_name(level) << "] " << message << '\n';
        log_file_.flush();
    } else if (options_.log_stderr && level >= tether::LogLevel::info) {
        std::cerr << "tether [" << level_name(level) << "] " << message << '\n';
    }
}

} // namespace tchat
