#include "hub.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include "tether/error.hpp"
#include "tether/protocol.hpp"

namespace tether::chat {
namespace {

namespace close_code = core::close_code;

// A virtual-time jump (or a stalled loop) must not make a session emit an
// unbounded burst of pushes in one call.
constexpr int kMaxPushBurst = 1000;

// Resume tokens are secrets: compare without an early exit.
bool constant_time_equal(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    return diff == 0;
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

std::optional<TimePoint> earliest(std::optional<TimePoint> a, std::optional<TimePoint> b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(*a, *b);
}

Millis clamp(Millis d) { return core::clamp_duration(d); }

} // namespace

ProtocolServer::ProtocolServer(ProtocolServerOptions options, std::function<std::string()> make_secret)
    : options_(std::move(options)), make_secret_(std::move(make_secret)) {
    options_.heartbeat = clamp(options_.heartbeat);
    options_.session_ttl = clamp(options_.session_ttl);
    options_.push_interval = clamp(options_.push_interval);
    options_.ack_batch_delay = clamp(options_.ack_batch_delay);
    options_.hello_timeout = clamp(options_.hello_timeout);
    if (options_.ack_batch_count == 0) options_.ack_batch_count = 1;
}

// ---------------------------------------------------------------- inputs

void ProtocolServer::on_open(ConnId conn, TimePoint now) {
    if (conn == 0 || conns_.count(conn) != 0) return;
    Conn& c = conns_[conn];
    c.id = conn;
    c.opened = now;
    c.last_inbound = now;
    if (options_.heartbeat.count() > 0) c.next_ping = now + options_.heartbeat;
    ++stats_.connections_total;
    ++stats_.connections_open;
    if (shutting_down_) {
        close_conn(c, close_code::going_away, "going away", now);
        return;
    }
    rearm(c);
}

void ProtocolServer::on_text(ConnId conn, std::string_view text, TimePoint now) {
    Conn* c = find_conn(conn);
    if (c == nullptr || c->state == ConnState::closing) return;
    c->last_inbound = now;

    core::DecodeLimits limits;
    limits.max_bytes = options_.max_message_bytes;
    auto decoded = core::decode_client_frame(text, limits);
    if (!decoded) {
        if (decoded.error() == make_error_code(errc::protocol_version))
            protocol_error(*c, "protocol_version", close_code::protocol_error, decoded.detail(), now);
        else
            protocol_error(*c, "bad_frame", close_code::bad_frame, decoded.error().message() + ": " + decoded.detail(),
                           now);
        return;
    }
    // Before hello only a hello (or an unknown frame) is legal; after it, a
    // frame needs the connection's session (attached connections have one).
    auto attached = [&]() -> Session* {
        if (c->state != ConnState::awaiting_hello) return session_of(*c);
        protocol_error(*c, "bad_frame", close_code::bad_frame, "a frame before hello", now);
        return nullptr;
    };
    core::match(
        decoded.value(),
        [&](core::UnknownFrame&) { ++stats_.unknown_frames; }, // forward compatibility: ignored, even before hello
        [&](core::Hello& hello) {
            if (c->state == ConnState::awaiting_hello)
                handle_hello(*c, hello, now);
            else if (session_of(*c) != nullptr)
                protocol_error(*c, "bad_frame", close_code::bad_frame, "second hello", now);
        },
        [&](core::ClientMsg& msg) {
            if (Session* s = attached()) handle_msg(*c, *s, msg.seq, msg.id, msg.data_json, now);
        },
        [&](core::Ack& ack) {
            if (Session* s = attached()) handle_ack(*c, *s, ack.seq, now);
        },
        [&](core::Bye&) {
            Session* s = attached();
            if (s == nullptr) return;
            // The client ends the session for good: free it, then close 1000.
            flush_ack(*s);
            c->session = 0;
            s->conn = 0;
            destroy_session(s->key);
            close_conn(*c, close_code::normal, "bye", now);
        });
}

void ProtocolServer::on_binary(ConnId conn, TimePoint now) {
    Conn* c = find_conn(conn);
    if (c == nullptr || c->state == ConnState::closing) return;
    c->last_inbound = now;
    protocol_error(*c, "bad_frame", close_code::bad_frame, "binary frames are not allowed in tether.v1", now);
}

void ProtocolServer::on_activity(ConnId conn, TimePoint now) {
    if (Conn* c = find_conn(conn)) c->last_inbound = now;
}

void ProtocolServer::on_closed(ConnId conn, TimePoint now) {
    Conn* c = find_conn(conn);
    if (c == nullptr) return;
    if (Session* s = session_of(*c)) detach(*s, now);
    held_.erase(conn);
    disarm(c->armed, TimerOwner::conn, c->id);
    conns_.erase(conn);
    --stats_.connections_open;
}

void ProtocolServer::shutdown(TimePoint now) {
    shutting_down_ = true;
    for (auto& [id, c] : conns_) close_conn(c, close_code::going_away, "going away", now);
}

std::vector<Action> ProtocolServer::take_actions() {
    std::vector<Action> out;
    out.swap(actions_);
    return out;
}

// ---------------------------------------------------------------- protocol

void ProtocolServer::handle_hello(Conn& c, const core::Hello& hello, TimePoint now) {
    const bool auth = options_.check_hello_token && (!options_.tokens.empty() || !options_.expired_tokens.empty());
    if (auth) {
        const std::string token = hello.token.value_or(std::string{});
        if (hello.token && contains(options_.expired_tokens, token)) {
            ++stats_.auth_failures;
            const core::ErrorFrame err{"token_expired", std::string("token expired"), std::nullopt};
            close_conn(c, close_code::token_expired, "token_expired", now, &err);
            return;
        }
        if (!options_.tokens.empty() && (!hello.token || !contains(options_.tokens, token))) {
            ++stats_.auth_failures;
            const core::ErrorFrame err{"unauthorized", std::string(hello.token ? "unknown token" : "token required"),
                                       std::nullopt};
            close_conn(c, close_code::unauthorized, "unauthorized", now, &err);
            return;
        }
    }

    if (hello.resume) {
        const core::ResumeRequest& r = *hello.resume;
        auto it = session_ids_.find(r.session);
        Session* s = it == session_ids_.end() ? nullptr : find_session(it->second);
        if (s != nullptr && s->expires && *s->expires <= now) {
            ++stats_.sessions_expired; // its timer has not run yet; the TTL is over all the same
            destroy_session(s->key);
            s = nullptr;
        }
        // A wrong token leaves the session alone: its id alone proves nothing.
        const bool current = s != nullptr && constant_time_equal(s->resume_token, r.resume_token);
        // The client aborted a connection whose resume hello got here first and
        // took the token; this hello, from a later attempt, supersedes it. A
        // stale hello arriving after the live one has a lower attempt: refused.
        const bool supersedes_stale = s != nullptr && !current && r.attempt != 0 && s->attached_attempt != 0 &&
                                      r.attempt > s->attached_attempt && !s->previous_resume_token.empty() &&
                                      constant_time_equal(s->previous_resume_token, r.resume_token);
        if (current || supersedes_stale) {
            if (s->conn != 0) {
                if (Conn* old = find_conn(s->conn)) {
                    ++stats_.takeovers;
                    close_conn(*old, close_code::session_taken_over, "session_taken_over", now);
                }
            }
            // Every msg in (r.last_seq, out_last] must still be in the buffer,
            // which holds the contiguous range ending at out_last.
            const bool replayable = r.last_seq <= s->out_last && s->out_last - r.last_seq <= s->replay.size();
            if (replayable) {
                ++stats_.resumes;
                if (supersedes_stale) ++stats_.stale_resumes_superseded;
                attach(c, *s, true, r.last_seq, r.attempt);
                return;
            }
            destroy_session(s->key); // the owner moves to a new session; this one can never resume
        }
        ++stats_.resume_misses;
    }
    attach(c, create_session(now), false, 0, 0);
}

void ProtocolServer::handle_msg(Conn& c, Session& s, std::uint64_t seq, const std::string& id,
                                const std::string& data_json, TimePoint now) {
    if (seq <= s.in_last) {
        ++stats_.msgs_in_duplicate; // not processed again, but acked again
    } else if (seq == s.in_last + 1) {
        s.in_last = seq;
        ++stats_.msgs_in;
        app_receive(s, id, data_json, now);
    } else {
        protocol_error(c, "bad_frame", close_code::bad_frame,
                       "seq gap: expected " + std::to_string(s.in_last + 1) + ", got " + std::to_string(seq), now);
        return;
    }
    ++s.ack_pending;
    if (s.ack_pending >= options_.ack_batch_count) {
        flush_ack(s);
    } else if (!s.ack_due) {
        s.ack_due = now + options_.ack_batch_delay;
        rearm(s);
    }
}

void ProtocolServer::handle_ack(Conn& c, Session& s, std::uint64_t seq, TimePoint now) {
    if (seq > s.out_last) {
        protocol_error(c, "bad_frame", close_code::bad_frame,
                       "ack " + std::to_string(seq) + " beyond last sent " + std::to_string(s.out_last), now);
        return;
    }
    trim_replay(s, seq);
}

// `data_json` is the codec's ClientMsg::data_json: nlohmann's compact dump of
// the payload (sorted keys, no whitespace). So replies are spliced as text,
// byte-identical to building and dumping a DOM, without parsing the payload
// and serializing it again; and a top-level "room" key, if there is one,
// appears literally as "room".
void ProtocolServer::app_receive(Session& s, const std::string& id, const std::string& data_json, TimePoint now) {
    if (options_.echo) {
        // {"echo": data, "id": id}: keys in dump order.
        std::string reply;
        reply.reserve(data_json.size() + id.size() + 24);
        reply += R"({"echo":)";
        reply += data_json;
        reply += R"(,"id":)";
        core::append_json_quoted(reply, id);
        reply.push_back('}');
        send_server_msg_json(s, reply, id, now);
        return;
    }

    // Rooms: {"room": R} joins R; {"room": R, "text": ...} also relays the
    // whole data to every member, sender included, with the original id.
    if (data_json.empty() || data_json.front() != '{' || data_json.find(R"("room")") == std::string::npos) return;
    nlohmann::json data = nlohmann::json::parse(data_json, nullptr, false);
    if (data.is_discarded() || !data.is_object()) return; // the codec validated it; defensive only
    // Through the object_t map: json::find()'s iterator trips -Wnull-dereference.
    const auto& fields = data.get_ref<const nlohmann::json::object_t&>();
    auto room_it = fields.find("room");
    if (room_it == fields.end() || !room_it->second.is_string()) return;
    const std::string room = room_it->second.get_ref<const std::string&>();
    s.rooms.insert(room);
    std::set<SessionKey>& members = rooms_[room];
    members.insert(s.key);
    if (fields.count("text") == 0) return;
    for (SessionKey key : members)
        if (Session* member = find_session(key)) send_server_msg_json(*member, data_json, id, now);
}

// ---------------------------------------------------------------- sessions

ProtocolServer::Session& ProtocolServer::create_session(TimePoint now) {
    std::string id = make_secret_();
    while (id.empty() || session_ids_.count(id) != 0) id = make_secret_();
    const SessionKey key = next_session_key_++;
    Session& s = sessions_[key];
    s.key = key;
    s.id = std::move(id);
    session_ids_[s.id] = key;
    if (options_.push_interval.count() > 0) s.next_push = now + options_.push_interval;
    ++stats_.sessions_created;
    ++stats_.sessions_open;
    return s;
}

void ProtocolServer::attach(Conn& c, Session& s, bool resumed, std::uint64_t client_last_seq, std::uint64_t attempt) {
    c.state = ConnState::attached;
    c.session = s.key;
    s.conn = c.id;
    s.expires.reset();
    s.previous_resume_token = resumed ? std::move(s.resume_token) : std::string();
    s.attached_attempt = resumed ? attempt : 0;
    s.resume_token = make_secret_(); // rotated on every welcome
    if (resumed) trim_replay(s, client_last_seq); // the client has delivered these

    core::Welcome w;
    w.session = s.id;
    w.resume_token = s.resume_token;
    w.resumed = resumed;
    w.last_seq = resumed ? s.in_last : 0;
    // heartbeat_ms must be > 0 on the wire; with pings off the field is left
    // out and the client keeps its own interval.
    if (options_.heartbeat.count() > 0) w.heartbeat_ms = static_cast<std::uint64_t>(options_.heartbeat.count());
    w.session_ttl_ms = static_cast<std::uint64_t>(options_.session_ttl.count());
    send(c.id, core::encode(w));
    // welcome.last_seq tells the client everything it needs: it is an ack.
    s.in_acked = s.in_last;
    s.ack_pending = 0;
    s.ack_due.reset();

    // Everything the client has not delivered goes out, paced by the window.
    stats_.msgs_replayed += s.replay.size();
    s.sent_upto = s.out_last - s.replay.size();
    c.unsent = 0;
    feed(s);
    rearm(s);
    rearm(c);
}

void ProtocolServer::detach(Session& s, TimePoint now) {
    held_.erase(s.conn);
    s.conn = 0;
    s.expires = now + options_.session_ttl;
    // Unsent acks are moot: the next welcome carries last_seq.
    s.ack_pending = 0;
    s.ack_due.reset();
    rearm(s);
}

void ProtocolServer::destroy_session(SessionKey key) {
    Session* s = find_session(key);
    if (s == nullptr) return;
    for (const std::string& room : s->rooms) {
        auto it = rooms_.find(room);
        if (it == rooms_.end()) continue;
        it->second.erase(key);
        if (it->second.empty()) rooms_.erase(it);
    }
    if (s->conn != 0)
        if (Conn* c = find_conn(s->conn)) c->session = 0;
    disarm(s->armed, TimerOwner::session, key);
    session_ids_.erase(s->id);
    sessions_.erase(key);
    --stats_.sessions_open;
}

void ProtocolServer::send_server_msg(Session& s, const nlohmann::json& data, const std::optional<std::string>& id,
                                     TimePoint now) {
    // As core::encode(ServerMsg): `replace` never throws on ill-formed UTF-8.
    send_server_msg_json(s, data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), id, now);
}

void ProtocolServer::send_server_msg_json(Session& s, std::string_view data_json, const std::optional<std::string>& id,
                                          TimePoint now) {
    const std::uint64_t seq = ++s.out_last;
    std::string text;
    core::append_server_msg(text, seq, id ? std::optional<std::string_view>(*id) : std::nullopt, data_json);
    s.replay.push_back(Replayed{seq, std::move(text)});
    feed(s);
    while (s.replay.size() > options_.replay_buffer) {
        const std::uint64_t evicted = s.replay.front().seq;
        s.replay.pop_front(); // a resume from before this seq will now fail
        ++stats_.replay_dropped;
        if (s.conn != 0 && evicted > s.sent_upto) {
            // The attached connection never got it and now never can.
            ++stats_.window_overruns;
            if (Conn* c = find_conn(s.conn)) terminate_conn(*c, now);
        }
    }
}

void ProtocolServer::feed(Session& s) {
    if (s.conn == 0) return;
    Conn* c = find_conn(s.conn);
    if (c == nullptr || c->state != ConnState::attached) return;
    if (!s.replay.empty() && s.sent_upto < s.out_last) {
        // The replay buffer is contiguous and ends at out_last.
        auto i = static_cast<std::size_t>(s.replay.size() - (s.out_last - s.sent_upto));
        const std::size_t window = options_.send_window_bytes;
        while (i < s.replay.size() && (window == 0 || c->unsent < window)) {
            const Replayed& m = s.replay[i++];
            send(c->id, m.text);
            c->unsent += m.text.size();
            s.sent_upto = m.seq;
            ++stats_.msgs_out;
        }
    }
    if (s.sent_upto < s.out_last) {
        if (held_.insert(c->id).second) ++stats_.sends_held;
    } else {
        held_.erase(c->id);
    }
}

void ProtocolServer::on_unsent(ConnId conn, std::size_t unsent_bytes, TimePoint) {
    Conn* c = find_conn(conn);
    if (c == nullptr || c->state != ConnState::attached) return;
    c->unsent = unsent_bytes;
    if (Session* s = session_of(*c)) feed(*s);
}

void ProtocolServer::flush_ack(Session& s) {
    if (s.ack_pending == 0 || s.conn == 0) return;
    send(s.conn, core::encode(core::Ack{s.in_last}));
    ++stats_.acks_out;
    s.in_acked = s.in_last;
    s.ack_pending = 0;
    if (s.ack_due) {
        s.ack_due.reset();
        rearm(s);
    }
}

void ProtocolServer::trim_replay(Session& s, std::uint64_t upto) {
    while (!s.replay.empty() && s.replay.front().seq <= upto) s.replay.pop_front();
    s.sent_upto = std::max(s.sent_upto, upto); // acked means delivered: nothing left to send there
}

// ---------------------------------------------------------------- connections

void ProtocolServer::close_conn(Conn& c, std::uint16_t code, const std::string& reason, TimePoint now,
                                const core::ErrorFrame* error) {
    if (c.state == ConnState::closing) return;
    if (Session* s = session_of(c)) {
        flush_ack(*s); // acks go out before a close, and before an error frame
        detach(*s, now);
    }
    if (error != nullptr) send(c.id, core::encode(*error));
    end_conn(c, Action::Kind::close, code, reason);
}

void ProtocolServer::end_conn(Conn& c, Action::Kind how, std::uint16_t code, const std::string& reason) {
    c.state = ConnState::closing;
    c.session = 0;
    disarm(c.armed, TimerOwner::conn, c.id);
    Action a;
    a.kind = how;
    a.conn = c.id;
    a.text = reason;
    a.code = code;
    actions_.push_back(std::move(a));
}

void ProtocolServer::protocol_error(Conn& c, const char* code, std::uint16_t close_code, std::string message,
                                    TimePoint now) {
    if (c.state == ConnState::closing) return;
    ++stats_.bad_frames;
    const core::ErrorFrame err{code, std::move(message), std::nullopt};
    close_conn(c, close_code, code, now, &err);
}

void ProtocolServer::send(ConnId conn, std::string text) {
    Action a;
    a.kind = Action::Kind::send_text;
    a.conn = conn;
    a.text = std::move(text);
    actions_.push_back(std::move(a));
}

void ProtocolServer::terminate_conn(Conn& c, TimePoint now) {
    if (c.state == ConnState::closing) return;
    if (Session* s = session_of(c)) detach(*s, now);
    end_conn(c, Action::Kind::terminate, 0, std::string());
}

ProtocolServer::Conn* ProtocolServer::find_conn(ConnId id) {
    auto it = conns_.find(id);
    return it == conns_.end() ? nullptr : &it->second;
}

ProtocolServer::Session* ProtocolServer::find_session(SessionKey key) {
    auto it = sessions_.find(key);
    return it == sessions_.end() ? nullptr : &it->second;
}

ProtocolServer::Session* ProtocolServer::session_of(Conn& c) {
    return c.session == 0 ? nullptr : find_session(c.session);
}

// ---------------------------------------------------------------- timers

std::optional<TimePoint> ProtocolServer::next_timeout() const {
    if (timers_.empty()) return std::nullopt;
    return std::get<0>(*timers_.begin());
}

void ProtocolServer::on_timeout(TimePoint now) {
    while (!timers_.empty() && std::get<0>(*timers_.begin()) <= now) {
        const TimerEntry entry = *timers_.begin();
        timers_.erase(timers_.begin());
        const std::uint64_t key = std::get<2>(entry);
        if (std::get<1>(entry) == TimerOwner::conn) {
            if (Conn* c = find_conn(key)) {
                c->armed.reset();
                fire(*c, now);
            }
        } else if (Session* s = find_session(key)) {
            s->armed.reset();
            fire(*s, now);
        }
    }
}

void ProtocolServer::rearm(Conn& c) {
    std::optional<TimePoint> want;
    if (c.state != ConnState::closing) {
        want = c.next_ping;
        if (options_.heartbeat.count() > 0) want = earliest(want, c.last_inbound + 2 * options_.heartbeat);
        if (c.state == ConnState::awaiting_hello) want = earliest(want, c.opened + options_.hello_timeout);
    }
    arm(c.armed, want, TimerOwner::conn, c.id);
}

void ProtocolServer::rearm(Session& s) {
    arm(s.armed, earliest(earliest(s.expires, s.ack_due), s.next_push), TimerOwner::session, s.key);
}

// An entry that fires earlier than needed is harmless (fire() recomputes), so
// a deadline that moved later keeps its entry: liveness moves on every inbound
// frame and must not cost a set update each time.
void ProtocolServer::arm(std::optional<TimePoint>& armed, std::optional<TimePoint> want, TimerOwner owner,
                         std::uint64_t key) {
    if (!want) {
        disarm(armed, owner, key);
        return;
    }
    if (armed && *armed <= *want) return;
    disarm(armed, owner, key);
    timers_.emplace(*want, owner, key);
    armed = want;
}

void ProtocolServer::disarm(std::optional<TimePoint>& armed, TimerOwner owner, std::uint64_t key) {
    if (!armed) return;
    timers_.erase(TimerEntry{*armed, owner, key});
    armed.reset();
}

void ProtocolServer::fire(Conn& c, TimePoint now) {
    if (c.state == ConnState::closing) return;
    if (c.state == ConnState::awaiting_hello && now >= c.opened + options_.hello_timeout) {
        protocol_error(c, "bad_frame", close_code::bad_frame, "no hello in time", now);
        return;
    }
    if (options_.heartbeat.count() > 0 && now >= c.last_inbound + 2 * options_.heartbeat) {
        // Half-open link: a close handshake would only wait out its timeout.
        ++stats_.liveness_timeouts;
        terminate_conn(c, now);
        return;
    }
    if (c.next_ping && now >= *c.next_ping) {
        Action a;
        a.kind = Action::Kind::ping;
        a.conn = c.id;
        actions_.push_back(std::move(a));
        c.next_ping = now + options_.heartbeat;
    }
    rearm(c);
}

void ProtocolServer::fire(Session& s, TimePoint now) {
    if (s.expires && now >= *s.expires) {
        ++stats_.sessions_expired;
        destroy_session(s.key);
        return;
    }
    if (s.ack_due && now >= *s.ack_due) flush_ack(s);
    if (s.next_push) {
        for (int i = 0; i < kMaxPushBurst && *s.next_push <= now; ++i) {
            ++s.push_count;
            send_server_msg(s, nlohmann::json{{"push", s.push_count}}, std::nullopt, now);
            *s.next_push += options_.push_interval;
        }
        if (*s.next_push <= now) s.next_push = now + options_.push_interval;
    }
    rearm(s);
}

} // namespace tether::chat
