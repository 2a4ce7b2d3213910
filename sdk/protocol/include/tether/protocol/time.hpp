// The clock types of tether.v1 peers. The core never reads a clock: every
// input carries `now`, and the driver (or a test's fake clock) supplies it.
#pragma once

#include <chrono>

namespace tether::core {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

// Durations from the network or the caller are clamped to this before they are
// added to a TimePoint, so no deadline can overflow.
inline constexpr Duration kMaxDuration = std::chrono::hours(24 * 365);

inline Duration clamp_duration(Duration d) {
    if (d < Duration::zero()) return Duration::zero();
    return d > kMaxDuration ? kMaxDuration : d;
}

} // namespace tether::core
