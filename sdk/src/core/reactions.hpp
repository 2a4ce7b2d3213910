// The reaction table: how the end of a connection (a close code, an HTTP
// status at the upgrade, a transport error, or a server error frame) maps to
// what the session does next. docs/protocol.md has the same table for
// humans; keep the two in step.
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <system_error>

#include "core/close_info.hpp"
#include "core/frames.hpp"
#include "tether/error.hpp"

namespace tether::core {

struct Reaction {
    enum class Kind {
        retry,      // backoff, counted as a failed attempt; honours retry_after
        retry_soon, // short jittered delay, not a failed attempt (server going away)
        refresh,    // token expired: fetch a fresh token, reconnect at once (once)
        fail,       // state failed: retrying cannot help
        closed,     // state closed: the session ended for this client
    };
    Kind kind = Kind::retry;
    std::error_code reason;
    std::string detail;
    std::optional<Duration> retry_after;
    bool protocol_error = false; // counts as a protocol error
    bool report = true;          // worth an error event
};

const char* to_string(Reaction::Kind k) noexcept;

Reaction classify_close(const CloseInfo& info);
Reaction classify_error_frame(const ErrorFrame& frame);

} // namespace tether::core
