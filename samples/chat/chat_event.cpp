#include "chat_event.hpp"

#include <type_traits>

namespace tchat {

const char* to_string(Delivery d) {
    switch (d) {
    case Delivery::queued: return "queued";
    case Delivery::sent: return "sent";
    case Delivery::acked: return "acked";
    case Delivery::failed: return "failed";
    }
    return "?";
}

namespace {

using tether::State;
using nlohmann::json;
namespace ev = event;

// A renderer's explicit list of the events it does not show.
template <class E, class... Silent>
constexpr bool is_one_of = (std::is_same_v<E, Silent> || ...);

// ---- transcript -----------------------------------------------------------------------

struct TranscriptBody {
    using R = std::optional<json>;
    R operator()(const ev::Start& e) const {
        return json{{"event", "start"}, {"nick", e.nick},           {"room", e.room},
                    {"url", e.url},     {"id_prefix", e.id_prefix}, {"resync", e.resync}};
    }
    R operator()(const ev::Queued& e) const {
        return json{{"event", "queued"}, {"id", e.id}, {"nick", e.nick}, {"text", e.text}};
    }
    R operator()(const ev::Sent& e) const { return json{{"event", "sent"}, {"id", e.id}, {"attempt", e.attempt}}; }
    R operator()(const ev::Acked& e) const { return json{{"event", "acked"}, {"id", e.id}}; }
    R operator()(const ev::Failed& e) const { return json{{"event", "failed"}, {"id", e.id}, {"reason", e.reason}}; }
    R operator()(const ev::ControlFailed& e) const {
        return json{{"event", "control_failed"}, {"id", e.id}, {"reason", e.reason}};
    }
    R operator()(const ev::Command& e) const {
        json j = {{"event", "command"}, {"command", e.command}, {"result", e.result}};
        if (e.drain_ms) j["drain_ms"] = *e.drain_ms;
        return j;
    }
    R operator()(const ev::NickChanged& e) const { return json{{"event", "nick"}, {"from", e.from}, {"to", e.to}}; }
    R operator()(const ev::Mark& e) const {
        return json{{"event", "mark"}, {"label", e.label}, {"received", e.received}};
    }
    R operator()(const ev::StateChanged& e) const {
        const tether::StateChange& c = e.change;
        json j = {{"event", "state"}, {"from", tether::to_string(c.from)}, {"to", tether::to_string(c.to)}};
        if (c.reason) j["reason"] = code_name(c.reason);
        if (!c.detail.empty()) j["detail"] = c.detail;
        if (c.to == State::backoff) j["retry_in_ms"] = c.retry_in.count();
        if (c.attempt) j["attempt"] = c.attempt;
        if (c.to == State::ready) j["session"] = e.session;
        return j;
    }
    R operator()(const ev::Ignored& e) const { return json{{"event", "ignored"}, {"seq", e.seq}, {"why", e.why}}; }
    R operator()(const ev::Presence& e) const {
        return json{{"event", "presence"}, {"kind", e.kind}, {"nick", e.nick}, {"id", e.id}};
    }
    R operator()(const ev::Duplicate& e) const {
        return json{{"event", "duplicate"}, {"id", e.id}, {"nick", e.nick}, {"seq", e.seq}};
    }
    R operator()(const ev::Received& e) const {
        json j = {{"event", "received"}, {"id", e.id}, {"nick", e.nick}, {"text", e.text},
                  {"seq", e.seq},        {"own", e.own}};
        if (e.via_resync) j["via"] = "resync";
        if (e.id.empty()) j["warning"] = "no message id: cannot deduplicate";
        return j;
    }
    R operator()(const ev::Resumed& e) const {
        return json{{"event", "resumed"}, {"session", e.session}, {"unacked", e.unacked}};
    }
    R operator()(const ev::SessionLost& e) const {
        return json{{"event", "session_lost"},
                    {"previous", e.info.previous_session},
                    {"new", e.info.new_session},
                    {"unacked", e.info.unacked}};
    }
    R operator()(const ev::SdkError& e) const {
        return json{{"event", "error"}, {"code", code_name(e.code)}, {"detail", e.detail}};
    }
    R operator()(const ev::Resync& e) const {
        return json{{"event", "resync"}, {"for", e.peer}, {"trigger", e.trigger}, {"count", e.count}};
    }
    R operator()(const ev::FinalStats& e) const {
        const tether::Stats& s = e.sdk;
        return json{{"event", "stats"},
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
                    {"shown", e.shown},
                    {"copies_dropped", e.copies_dropped},
                    {"resyncs", e.resyncs},
                    {"own_failed", e.own_failed},
                    {"own_pending", e.own_pending}};
    }
    R operator()(const ev::Exit& e) const { return json{{"event", "exit"}, {"code", e.code}}; }
    template <class E, std::enable_if_t<is_one_of<E, ev::Note>, int> = 0>
    R operator()(const E&) const {
        return std::nullopt;
    }
};

// ---- printer --------------------------------------------------------------------------

std::string unacked_phrase(std::size_t n) { return std::to_string(n) + " unacknowledged message(s) go out again"; }

struct Printed {
    using R = std::optional<std::string>;
    R operator()(const ev::Queued& e) const {
        return "-> " + e.nick + ": " + sanitize(e.text) + "  [" + e.id + "] queued";
    }
    R operator()(const ev::Sent& e) const {
        return "-> [" + e.id + "] sent" +
               (e.attempt > 1 ? " again (attempt " + std::to_string(e.attempt) + ")" : std::string());
    }
    R operator()(const ev::Acked& e) const { return "\u2713 [" + e.id + "] acked"; }
    R operator()(const ev::Failed& e) const { return "\u2717 [" + e.id + "] failed: " + e.reason; }
    R operator()(const ev::Mark& e) const { return "mark " + e.label; }
    R operator()(const ev::StateChanged& e) const {
        const tether::StateChange& c = e.change;
        std::string line = std::string("state ") + tether::to_string(c.from) + " -> " + tether::to_string(c.to);
        if (c.to == State::backoff)
            line += " (retry in " + std::to_string(c.retry_in.count()) + " ms, attempt " + std::to_string(c.attempt) +
                    ")";
        if (c.reason) line += " because " + code_name(c.reason) + (c.detail.empty() ? "" : ": " + sanitize(c.detail));
        return line;
    }
    R operator()(const ev::Presence& e) const {
        if (e.kind != "join") return std::nullopt;
        return "* " + sanitize(e.nick) + " joined";
    }
    R operator()(const ev::Duplicate& e) const { return "(copy of [" + e.id + "] dropped)"; }
    R operator()(const ev::Received& e) const {
        return "<" + sanitize(e.nick) + "> " + sanitize(e.text) + "  [" + e.id + "]" +
               (e.own ? " (ours, relayed)" : "");
    }
    R operator()(const ev::Resumed& e) const {
        return "session resumed (" + std::to_string(e.unacked) + " unacked re-sent)";
    }
    R operator()(const ev::SessionLost& e) const {
        return "session lost: " + unacked_phrase(e.info.unacked) + " in the new session; rejoining #" +
               sanitize(e.room);
    }
    R operator()(const ev::SdkError& e) const {
        return "error " + code_name(e.code) + (e.detail.empty() ? "" : ": " + sanitize(e.detail));
    }
    R operator()(const ev::Resync& e) const {
        return "resync for " + sanitize(e.peer) + " (" + e.trigger + "): re-sent " + std::to_string(e.count) +
               " of my messages";
    }
    template <class E, std::enable_if_t<is_one_of<E, ev::Start, ev::ControlFailed, ev::Command, ev::NickChanged,
                                                  ev::Note, ev::Ignored, ev::FinalStats, ev::Exit>,
                                        int> = 0>
    R operator()(const E&) const {
        return std::nullopt;
    }
};

// ---- screen rows ----------------------------------------------------------------------

Entry row(Entry::Kind kind, std::string text) {
    Entry e;
    e.kind = kind;
    e.text = std::move(text);
    return e;
}

struct Row {
    using R = std::optional<Entry>;
    R operator()(const ev::Queued& e) const {
        Entry r = row(Entry::Kind::own, e.text);
        r.nick = e.nick;
        r.id = e.id;
        return r;
    }
    R operator()(const ev::Note& e) const { return row(e.kind, e.text); }
    R operator()(const ev::StateChanged& e) const {
        const tether::StateChange& c = e.change;
        if (c.to != State::failed) return std::nullopt;
        return row(Entry::Kind::error, "connection failed for good: " + code_name(c.reason) +
                                           (c.detail.empty() ? "" : " (" + sanitize(c.detail) + ")") +
                                           " \u2014 /quit to leave");
    }
    R operator()(const ev::Presence& e) const {
        if (e.kind != "join") return std::nullopt;
        return row(Entry::Kind::info, sanitize(e.nick) + " joined #" + sanitize(e.room));
    }
    R operator()(const ev::Received& e) const {
        if (e.own) return std::nullopt; // our row exists since Queued; the model marks it echoed
        Entry r = row(Entry::Kind::peer, e.text);
        r.nick = e.nick;
        r.id = e.id;
        return r;
    }
    R operator()(const ev::Resumed& e) const {
        return row(Entry::Kind::info, "session resumed: the server kept it; " + unacked_phrase(e.unacked) +
                                          ", nothing lost");
    }
    R operator()(const ev::SessionLost& e) const {
        return row(Entry::Kind::warn, "session lost (the server forgot it): " + unacked_phrase(e.info.unacked) +
                                          " in a new session; rejoining #" + sanitize(e.room));
    }
    R operator()(const ev::Resync& e) const {
        if (e.count == 0) return std::nullopt;
        return row(Entry::Kind::info, "resync: re-sent my last " + std::to_string(e.count) + " message(s) for " +
                                          sanitize(e.peer) + " (copies are dropped by id)");
    }
    template <class E, std::enable_if_t<is_one_of<E, ev::Start, ev::Sent, ev::Acked, ev::Failed, ev::ControlFailed,
                                                  ev::Command, ev::NickChanged, ev::Mark, ev::Ignored,
                                                  ev::Duplicate, ev::SdkError, ev::FinalStats, ev::Exit>,
                                        int> = 0>
    R operator()(const E&) const {
        return std::nullopt;
    }
};

} // namespace

std::optional<std::string> transcript_line(const ChatEvent& e, Millis since_start) {
    const std::optional<json> body = std::visit(TranscriptBody{}, e);
    if (!body) return std::nullopt;
    nlohmann::ordered_json line;
    line["t_ms"] = since_start.count();
    line["event"] = body->at("event");
    for (const auto& [key, value] : body->items())
        if (key != "event") line[key] = value;
    return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<std::string> printed_line(const ChatEvent& e, Millis since_start) {
    std::optional<std::string> line = std::visit(Printed{}, e);
    if (line) line->insert(0, elapsed_stamp(since_start));
    return line;
}

std::optional<Entry> screen_row(const ChatEvent& e, std::chrono::system_clock::time_point when) {
    std::optional<Entry> r = std::visit(Row{}, e);
    if (r) r->when = when;
    return r;
}

} // namespace tchat
