// Text helpers for tether-chat: the status snapshot and its phrases, safe
// terminal text, short names for SDK codes, and the small field readers the
// model uses on room messages. No state; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "tether/client.hpp"

namespace tchat {

using Millis = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// What the status line and /status show: the connection, the SDK's counters
// and the chat's own.
struct Status {
    tether::State state = tether::State::idle;
    std::string reason;                 // short name of the last state change's reason, if any
    std::string detail;
    SteadyClock::time_point retry_at{}; // state backoff: when the next attempt starts
    std::uint32_t attempt = 0;          // consecutive failed attempts
    std::string session;
    std::string nick;
    tether::Stats stats;
    std::uint64_t received = 0;   // distinct room messages shown (ours included)
    std::uint64_t duplicates = 0; // copies dropped by id
    std::uint64_t resyncs = 0;    // times we re-sent our history for a peer
    std::uint64_t failed = 0;     // own messages reported failed
    std::uint64_t pending = 0;    // own chat messages neither acked nor failed
};

// "ready", "backoff — retry in 3.2 s (attempt 4) · connect_failed", ... and the counters.
std::string state_phrase(const Status& s, SteadyClock::time_point now);
std::string counters_phrase(const Status& s);
// The short stable name of an SDK error code ("heartbeat_timeout"), or its message.
std::string code_name(const std::error_code& ec);
// Replaces control characters (C0, DEL, C1) and invalid UTF-8, so text from
// the network cannot drive the terminal.
std::string sanitize(const std::string& text);
// "  12.345 ": seconds.milliseconds since start, the printer's line stamp.
std::string elapsed_stamp(Millis since_start);
// The nick, reduced to what is safe inside a message id ("chat" when nothing is left).
std::string id_safe(const std::string& nick);
std::string hex32(std::uint32_t v);
const char* level_name(tether::LogLevel level);
// obj[name] when obj is an object with a string there, else "".
std::string string_field(const nlohmann::json& obj, const char* name);
// obj[name] when obj is an object with `true` there.
bool true_field(const nlohmann::json& obj, const char* name);

} // namespace tchat
