// Reconnect backoff: "full jitter" delay(n) = uniform(0, min(max, base * 2^n))
// where n counts consecutive failed attempts. n resets once a connection has
// stayed ready for `stable_after` (checked lazily when it drops, so an idle
// ready client needs no timer for it).
//
// Thread safety: none; owned by one Session.
#pragma once

#include <cstdint>
#include <optional>

#include "core/time.hpp"

namespace tether::core {

struct BackoffConfig {
    Duration base{250};
    Duration max{30000};
    Duration stable_after{10000};
    std::uint32_t max_attempts = 0; // 0 = unlimited
};

class Backoff {
public:
    explicit Backoff(BackoffConfig config) : config_(config) {}

    // The cap for attempt n: min(max, base * 2^n), without overflow for any n.
    Duration ceiling(std::uint32_t n) const;

    // Delay after a failed attempt: jitter over the current ceiling, plus the
    // server's retry_after (a floor with jitter above it, so clients told the
    // same Retry-After do not come back in lockstep). Counts the failure.
    Duration next_delay(Rng& rng, std::optional<Duration> retry_after = std::nullopt);

    // Delay for a drop that is not a failure (server going away / restart):
    // uniform(0, base), the counter is unchanged.
    Duration short_delay(Rng& rng);

    // Max attempts reached: the next failure must not be retried.
    bool exhausted() const { return config_.max_attempts != 0 && failures_ >= config_.max_attempts; }

    void on_ready(TimePoint now) { ready_since_ = now; }
    // A connection that was ready ended at `now`; resets n if it was stable.
    void on_ready_ended(TimePoint now);
    // The connection that just ended had been ready for stable_after. Each
    // delay consumes it, so only one quick return follows one stable connection.
    bool last_ready_was_stable() const { return last_stable_; }
    void reset() { failures_ = 0; }

    std::uint32_t failures() const { return failures_; }
    const BackoffConfig& config() const { return config_; }

private:
    BackoffConfig config_;
    std::uint32_t failures_ = 0;
    std::optional<TimePoint> ready_since_;
    bool last_stable_ = false;
};

} // namespace tether::core
