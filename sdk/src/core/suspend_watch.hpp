// SuspendWatch: how long the process or the machine was away, from a check
// made once a second while a connection exists or is awaited.
//
// Two signs, the larger wins: the check ran late (the process was stopped,
// SIGSTOP or a debugger), or time since boot including suspend
// (CLOCK_BOOTTIME) ran ahead of steady time (the machine slept, and the
// steady clock stood still meanwhile). Pure arithmetic: the caller reads the
// clocks, so it is tested with a fake one. Not thread-safe; the client uses
// it on its strand.
#pragma once

#include <algorithm>
#include <optional>

#include "core/time.hpp"

namespace tether::core {

class SuspendWatch {
public:
    static constexpr Duration kEvery{1000};

    // `boot`: time since boot including suspend, where the OS has it.
    void start(TimePoint now, std::optional<Duration> boot) {
        last_check_ = now;
        last_boot_ = boot;
        due_ = now + kEvery;
    }
    void stop() { due_.reset(); }
    bool watching() const { return due_.has_value(); }
    std::optional<TimePoint> due() const { return due_; }
    bool is_due(TimePoint now) const { return due_ && *due_ <= now; }

    // The gap since the last check, and the next check armed. Call when due.
    Duration check(TimePoint now, std::optional<Duration> boot) {
        Duration gap = due_ ? std::chrono::duration_cast<Duration>(now - *due_) : Duration::zero();
        if (boot && last_boot_)
            gap = std::max(gap, (*boot - *last_boot_) - std::chrono::duration_cast<Duration>(now - last_check_));
        start(now, boot);
        return std::max(gap, Duration::zero());
    }

private:
    std::optional<TimePoint> due_; // empty: not watching
    TimePoint last_check_{};
    std::optional<Duration> last_boot_;
};

} // namespace tether::core
