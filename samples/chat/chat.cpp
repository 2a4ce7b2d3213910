#include "chat.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>

namespace tchat {

using tether::State;

const char* to_string(Delivery d) {
    switch (d) {
    case Delivery::queued: return "queued";
    case Delivery::sent: return "sent";
    case Delivery::acked: return "acked";
    case Delivery::failed: return "failed";
    }
    return "?";
}

std::string code_name(const std::error_code& ec) {
    if (!ec) return {};
    if (ec.category() == tether::error_category()) return tether::errc_name(static_cast<tether::errc>(ec.value()));
    return ec.message();
}

std::string sanitize(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) {
            out += c == '\t' ? ' ' : '?';
            ++i;
            continue;
        }
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1fu;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0fu;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07u;
        }
        bool valid = len != 0 && i + len <= text.size();
        for (std::size_t k = 1; valid && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xc0) != 0x80) valid = false;
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if (valid) {
            static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
            if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) valid = false;
        }
        if (!valid) {
            out += '?';
            ++i;
            continue;
        }
        if (cp >= 0x80 && cp <= 0x9f) out += '?'; // C1 controls
        else out.append(text, i, len);
        i += len;
    }
    return out;
}

namespace {

std::string one_decimal_seconds(std::chrono::steady_clock::duration d) {
    const auto ms = std::chrono::duration_cast<Millis>(d).count();
    const long long tenths = ms <= 0 ? 0 : (ms + 99) / 100;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

std::string hex32(std::uint32_t v) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
}

// The nick, reduced to what is safe inside a message id.
std::string id_safe(const std::string& nick) {
    std::string out;
    for (char c : nick) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
            out += c;
        if (out.size() >= 24) break;
    }
    return out.empty() ? "chat" : out;
}

const char* level_name(tether::LogLevel l) {
    switch (l) {
    case tether::LogLevel::trace: return "trace";
    case tether::LogLevel::debug: return "debug";
    case tether::LogLevel::info: return "info";
    case tether::LogLevel::warn: return "warn";
    case tether::LogLevel::error: return "error";
    }
    return "?";
}

const nlohmann::json* field(const nlohmann::json& obj, const char* name) {
    if (!obj.is_object()) return nullptr;
    const auto& fields = obj.get_ref<const nlohmann::json::object_t&>();
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
}

std::string string_field(const nlohmann::json& obj, const char* name) {
    const nlohmann::json* f = field(obj, name);
    return f && f->is_string() ? f->get<std::string>() : std::string();
}

} // namespace

std::string state_phrase(const Status& s, SteadyClock::time_point now) {
    std::string out = tether::to_string(s.state);
    switch (s.state) {
    case State::backoff:
        out += " \u2014 retry in " + one_decimal_seconds(s.retry_at > now ? s.retry_at - now : SteadyClock::duration{}) +
               " s (attempt " + std::to_string(s.attempt) + ")";
        if (!s.reason.empty()) out += " \u00b7 " + s.reason;
        break;
    case State::failed:
    case State::closed:
        if (!s.reason.empty()) out += " \u2014 " + s.reason;
        if (!s.detail.empty()) out += ": " + s.detail;
        break;
    default: break;
    }
    return out;
}

std::string counters_phrase(const Status& s) {
    std::ostringstream o;
    o << "pending " << s.stats.outbox_depth << " \u00b7 resent " << s.stats.frames_resent << " \u00b7 reconnects "
      << s.stats.reconnects << " \u00b7 resumes " << s.stats.resumes << " \u00b7 sessions lost "
      << s.stats.sessions_lost << " \u00b7 dups " << s.duplicates;
    return o.str();
}

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
    event_locked({{"event", "start"},
                  {"nick", options_.nick},
                  {"room", options_.room},
                  {"url", options_.url},
                  {"id_prefix", id_prefix_},
                  {"resync", options_.history > 0}});
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
    Entry e;
    e.kind = Entry::Kind::own;
    e.when = std::chrono::system_clock::now();
    e.nick = options_.nick;
    e.text = text;
    e.id = id;
    const std::size_t index = entries_.size();
    std::string error;
    // Under mu_: an ack cannot be handled before the handle is recorded.
    if (!send_locked(data_json, id, Purpose::chat, index, &error)) return "not sent: " + error;
    entries_.push_back(std::move(e));
    own_.push_back(Own{id, data_json, index});
    ++pending_;
    event_locked({{"event", "queued"}, {"id", id}, {"nick", options_.nick}, {"text", text}});
    print_locked("-> " + options_.nick + ": " + sanitize(text) + "  [" + id + "] queued");
    mark_sent_locked();
    changed_locked();
    ok = true;
    return {};
}

std::string Chat::drop(bool& ok) {
    std::error_code ec;
    {
        std::lock_guard<std::mutex> lock(mu_);
        ec = client_->simulate_network_drop();
        event_locked({{"event", "command"}, {"command", "drop"}, {"result", ec ? code_name(ec) : "ok"}});
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
        event_locked({{"event", "command"}, {"command", "reconnect"}, {"result", ec ? code_name(ec) : "ok"}});
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
    event_locked({{"event", "nick"}, {"from", old}, {"to", nick}});
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
    event_locked({{"event", "mark"}, {"label", label}, {"received", received_}});
    print_locked("mark " + label);
}

void Chat::note(Entry::Kind kind, const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry e;
    e.kind = kind;
    e.when = std::chrono::system_clock::now();
    e.text = text;
    add_entry_locked(std::move(e));
    changed_locked();
}

void Chat::begin_close(Millis drain) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto ec = client_->close(drain);
    event_locked({{"event", "command"}, {"command", "close"}, {"drain_ms", drain.count()},
                  {"result", ec ? code_name(ec) : "ok"}});
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
    event_locked({{"event", "stats"},
                  {"connect_attempts", s.connect_attempts},
                  {"connects", s.connects},
                  {"reconnects", s.reconnects},
                  {"resumes", s.resumes},
                  {"sessions_lost", s.sessions_lost},
                  {"messages_sent", s.messages_sent},
                  {"messages_acked", s.messages_acked},
                  {"messages_failed", s.messages_failed},
                  {"messages_received", s.messages_received},
                  {"frames_resent", s.frames_resent},
                  {"sdk_duplicates_dropped", s.duplicates_dropped},
                  {"protocol_errors", s.protocol_errors},
                  {"shown", received_},
                  {"copies_dropped", duplicates_},
                  {"resyncs", resyncs_},
                  {"own_failed", failed_},
                  {"own_pending", pending_}});
    event_locked({{"event", "exit"}, {"code", exit_code}});
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
    nlohmann::json ev = {{"event", "state"}, {"from", tether::to_string(c.from)}, {"to", tether::to_string(c.to)}};
    if (c.reason) ev["reason"] = reason_;
    if (!c.detail.empty()) ev["detail"] = c.detail;
    if (c.to == State::backoff) ev["retry_in_ms"] = c.retry_in.count();
    if (c.attempt) ev["attempt"] = c.attempt;
    if (c.to == State::ready) ev["session"] = session;
    event_locked(std::move(ev));

    std::string line = std::string("state ") + tether::to_string(c.from) + " -> " + tether::to_string(c.to);
    if (c.to == State::backoff)
        line += " (retry in " + std::to_string(c.retry_in.count()) + " ms, attempt " + std::to_string(c.attempt) + ")";
    if (c.reason) line += " because " + reason_ + (c.detail.empty() ? "" : ": " + sanitize(c.detail));
    print_locked(line);
    if (c.to == State::failed) {
        Entry e;
        e.kind = Entry::Kind::error;
        e.when = std::chrono::system_clock::now();
        e.text = "connection failed for good: " + reason_ + (c.detail.empty() ? "" : " (" + sanitize(c.detail) + ")") +
                 " \u2014 /quit to leave";
        add_entry_locked(std::move(e));
    }
    if (c.from == State::ready && c.to != State::ready) requeue_locked();
    if (c.to == State::ready) mark_sent_locked();
    changed_locked();
}

void Chat::on_message(const tether::Message& m) {
    std::lock_guard<std::mutex> lock(mu_);
    const nlohmann::json& data = m.data;
    if (string_field(data, "room") != options_.room) {
        ++other_rooms_;
        event_locked({{"event", "ignored"}, {"seq", m.seq}, {"why", "not for room " + options_.room}});
        return;
    }
    const std::string id = m.id.value_or(std::string());
    const std::string nick = string_field(data, "nick");
    const std::string kind = string_field(data, "kind");
    if (kind == "join" || kind == "here") {
        if (!id.empty() && !seen_presence_.insert(id).second) return;
        if (is_own_id(id)) return;
        event_locked({{"event", "presence"}, {"kind", kind}, {"nick", nick}, {"id", id}});
        if (kind == "join") {
            Entry e;
            e.kind = Entry::Kind::info;
            e.when = std::chrono::system_clock::now();
            e.text = sanitize(nick) + " joined #" + sanitize(options_.room);
            add_entry_locked(std::move(e));
            print_locked("* " + sanitize(nick) + " joined");
        }
        resync_locked(nick, kind);
        changed_locked();
        return;
    }
    const std::string text = string_field(data, "text");
    if (!id.empty() && !seen_.insert(id).second) {
        ++duplicates_;
        event_locked({{"event", "duplicate"}, {"id", id}, {"nick", nick}, {"seq", m.seq}});
        print_locked("(copy of [" + id + "] dropped)");
        changed_locked();
        return;
    }
    ++received_;
    const bool own = is_own_id(id);
    nlohmann::json ev = {{"event", "received"}, {"id", id}, {"nick", nick}, {"text", text},
                         {"seq", m.seq},        {"own", own}};
    if (const nlohmann::json* r = field(data, "resync"); r && r->is_boolean() && r->get<bool>()) ev["via"] = "resync";
    if (id.empty()) ev["warning"] = "no message id: cannot deduplicate";
    event_locked(std::move(ev));
    if (own) {
        // Our own line is already on screen; mark that the room relayed it.
        for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
            if (it->kind == Entry::Kind::own && it->id == id) {
                it->echoed = true;
                break;
            }
        }
        print_locked("<" + sanitize(nick) + "> " + sanitize(text) + "  [" + id + "] (ours, relayed)");
    } else {
        Entry e;
        e.kind = Entry::Kind::peer;
        e.when = std::chrono::system_clock::now();
        e.nick = nick;
        e.text = text;
        e.id = id;
        add_entry_locked(std::move(e));
        print_locked("<" + sanitize(nick) + "> " + sanitize(text) + "  [" + id + "]");
    }
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
            event_locked({{"event", "acked"}, {"id", e.id}});
            print_locked("\u2713 [" + e.id + "] acked");
        }
    }
    mark_sent_locked();
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
            event_locked({{"event", "failed"}, {"id", id}, {"reason", e.reason}});
            print_locked("\u2717 [" + id + "] failed: " + e.reason);
        }
    } else {
        event_locked({{"event", "control_failed"}, {"id", id}, {"reason", code_name(ec)}});
    }
    changed_locked();
}

void Chat::on_resumed(const std::string& session) {
    std::lock_guard<std::mutex> lock(mu_);
    event_locked({{"event", "resumed"}, {"session", session}, {"unacked", unacked_.size()}});
    Entry e;
    e.kind = Entry::Kind::info;
    e.when = std::chrono::system_clock::now();
    e.text = "session resumed: the server kept it; " + std::to_string(unacked_.size()) +
             " unacknowledged message(s) go out again, nothing lost";
    add_entry_locked(std::move(e));
    print_locked("session resumed (" + std::to_string(unacked_.size()) + " unacked re-sent)");
    changed_locked();
}

void Chat::on_session_lost(const tether::SessionLostInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    event_locked({{"event", "session_lost"},
                  {"previous", info.previous_session},
                  {"new", info.new_session},
                  {"unacked", info.unacked}});
    Entry e;
    e.kind = Entry::Kind::warn;
    e.when = std::chrono::system_clock::now();
    e.text = "session lost (the server forgot it): " + std::to_string(info.unacked) +
             " unacknowledged message(s) go out again in a new session; rejoining #" + sanitize(options_.room);
    add_entry_locked(std::move(e));
    print_locked("session lost: " + std::to_string(info.unacked) +
                 " unacknowledged message(s) go out again in the new session; rejoining #" + sanitize(options_.room));
    // The new server session is in no room: join again (and ask for a resync).
    send_presence_locked("join");
    changed_locked();
}

void Chat::on_error(std::error_code ec, const std::string& detail) {
    std::lock_guard<std::mutex> lock(mu_);
    event_locked({{"event", "error"}, {"code", code_name(ec)}, {"detail", detail}});
    print_locked("error " + code_name(ec) + (detail.empty() ? "" : ": " + sanitize(detail)));
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
    if (!send_locked(data.dump(), id, purpose, 0, &error))
        event_locked({{"event", "control_failed"}, {"id", id}, {"reason", error}});
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
    event_locked({{"event", "resync"}, {"for", peer}, {"trigger", trigger}, {"count", count}});
    if (count > 0) {
        Entry e;
        e.kind = Entry::Kind::info;
        e.when = std::chrono::system_clock::now();
        e.text = "resync: re-sent my last " + std::to_string(count) + " message(s) for " + sanitize(peer) +
                 " (copies are dropped by id)";
        add_entry_locked(std::move(e));
    }
    print_locked("resync for " + sanitize(peer) + " (" + trigger + "): re-sent " + std::to_string(count) +
                 " of my messages");
    if (trigger == "join") send_presence_locked("here");
}

// The SDK writes the outbox front-first, at most max_in_flight frames
// unacknowledged, as soon as the session is ready.
void Chat::mark_sent_locked() {
    if (state_ != State::ready) return;
    const std::size_t window = tether::OutboxOptions{}.max_in_flight;
    std::size_t n = 0;
    for (auto local : unacked_) {
        if (n++ >= window) break;
        auto it = sent_.find(local);
        if (it == sent_.end() || it->second.purpose != Purpose::chat) continue;
        Entry& e = entries_[it->second.entry];
        if (e.delivery != Delivery::queued) continue;
        e.delivery = Delivery::sent;
        ++e.attempts;
        event_locked({{"event", "sent"}, {"id", e.id}, {"attempt", e.attempts}});
        print_locked("-> [" + e.id + "] sent" + (e.attempts > 1 ? " again (attempt " + std::to_string(e.attempts) + ")"
                                                                 : std::string()));
    }
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

void Chat::add_entry_locked(Entry e) { entries_.push_back(std::move(e)); }

void Chat::event_locked(nlohmann::json ev) {
    if (!transcript_.is_open()) return;
    const auto t = std::chrono::duration_cast<Millis>(SteadyClock::now() - started_).count();
    nlohmann::ordered_json line;
    line["t_ms"] = t;
    line["event"] = ev["event"];
    for (auto& [key, value] : ev.items())
        if (key != "event") line[key] = value;
    transcript_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    transcript_.flush();
}

void Chat::print_locked(const std::string& line) {
    if (!printer_) return;
    const auto t = std::chrono::duration_cast<Millis>(SteadyClock::now() - started_).count();
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%6lld.%03lld ", static_cast<long long>(t / 1000),
                  static_cast<long long>(t % 1000));
    printer_(stamp + line);
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
