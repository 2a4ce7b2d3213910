// tether::State's names (tether/events.hpp), defined here because the core
// uses them in its logs and tests.
#include "tether/events.hpp"

namespace tether {

const char* to_string(State s) noexcept {
    switch (s) {
    case State::idle: return "idle";
    case State::connecting: return "connecting";
    case State::authenticating: return "authenticating";
    case State::ready: return "ready";
    case State::backoff: return "backoff";
    case State::closing: return "closing";
    case State::closed: return "closed";
    case State::failed: return "failed";
    }
    return "unknown";
}

} // namespace tether
