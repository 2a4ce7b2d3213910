// ChatEvent: one thing that happened in the chat, said once. The Chat model
// turns SDK callbacks and commands into ChatEvents; three renderers turn each
// event into what its audience sees:
//   transcript_line  the JSON line of --transcript (tools and tests read it)
//   printed_line     the human line of plain and scripted modes
//   screen_row       a new row of the interactive conversation
// Each renderer is a std::visit over every alternative, with no catch-all, so
// a new event does not compile until all three say what it looks like (or
// list it among the events they do not show).
//
// Rows of our own messages are created by Queued and then updated in place by
// the model (delivery state, echo); Sent/Acked/Failed add no row.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <variant>

#include "format.hpp"
#include "tether/client.hpp"

namespace tchat {

enum class Delivery { queued, sent, acked, failed };
const char* to_string(Delivery d);

// One row of the conversation, as the UI shows it.
struct Entry {
    enum class Kind { own, peer, info, warn, error };
    Kind kind = Kind::info;
    std::chrono::system_clock::time_point when;
    std::string nick;
    std::string text;
    std::string id;                      // own/peer: the message id
    Delivery delivery = Delivery::queued; // own only
    std::string reason;                  // own, failed: why
    bool echoed = false;                 // own: the room relayed it back to us
    unsigned attempts = 0;               // own: ready sessions it went out on
};

namespace event {

// The chat started (transcript header).
struct Start {
    std::string nick, room, url, id_prefix;
    bool resync = false;
};
// Our chat message, handed to the SDK.
struct Queued {
    std::string id, nick, text;
};
// Our chat message's frame went to the socket (attempt: how many times so far).
struct Sent {
    std::string id;
    unsigned attempt = 1;
};
struct Acked {
    std::string id;
};
struct Failed {
    std::string id, reason;
};
// A presence, resync or join message could not be sent, or the SDK gave up on it.
struct ControlFailed {
    std::string id, reason;
};
// A user or script command that acts on the client (drop, reconnect, close).
struct Command {
    std::string command, result;
    std::optional<long long> drain_ms; // close only
};
struct NickChanged {
    std::string from, to;
};
// A script's sync point.
struct Mark {
    std::string label;
    std::uint64_t received = 0;
};
// Text for the screen only (help, command replies).
struct Note {
    Entry::Kind kind = Entry::Kind::info;
    std::string text;
};
struct StateChanged {
    tether::StateChange change;
    std::string session; // to == ready: the session id
};
// A room message for another room.
struct Ignored {
    std::uint64_t seq = 0;
    std::string why;
};
// A peer's join or here line (see chat.hpp, room resync).
struct Presence {
    std::string kind, nick, id, room;
};
// A copy of a room message already shown, dropped by id.
struct Duplicate {
    std::string id, nick;
    std::uint64_t seq = 0;
};
// A room message shown for the first time (ours included, when the room relays it).
struct Received {
    std::string id, nick, text;
    std::uint64_t seq = 0;
    bool own = false;
    bool via_resync = false;
};
struct Resumed {
    std::string session;
    std::size_t unacked = 0; // our messages the SDK had not reported acked or failed
};
struct SessionLost {
    tether::SessionLostInfo info;
    std::string room;
};
struct SdkError {
    std::error_code code;
    std::string detail;
};
// We re-sent our last `count` messages for a peer who (re)joined.
struct Resync {
    std::string peer, trigger;
    std::size_t count = 0;
};
// The counters at the end (SDK and chat).
struct FinalStats {
    tether::Stats sdk;
    std::uint64_t shown = 0, copies_dropped = 0, resyncs = 0, own_failed = 0, own_pending = 0;
};
struct Exit {
    int code = 0;
};

} // namespace event

using ChatEvent =
    std::variant<event::Start, event::Queued, event::Sent, event::Acked, event::Failed, event::ControlFailed,
                 event::Command, event::NickChanged, event::Mark, event::Note, event::StateChanged, event::Ignored,
                 event::Presence, event::Duplicate, event::Received, event::Resumed, event::SessionLost,
                 event::SdkError, event::Resync, event::FinalStats, event::Exit>;

// One JSON object: "t_ms", "event", then the event's fields. Empty for screen-only events.
std::optional<std::string> transcript_line(const ChatEvent& e, Millis since_start);
// Stamped with the time since start. Empty for events plain mode does not print.
std::optional<std::string> printed_line(const ChatEvent& e, Millis since_start);
// A new conversation row, stamped `when`. Empty for events that add no row.
std::optional<Entry> screen_row(const ChatEvent& e, std::chrono::system_clock::time_point when);

} // namespace tchat
