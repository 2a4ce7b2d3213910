// TimerTable: one optional deadline per timer of an enum, and the earliest.
//
// Model: `Timer` is an enum class whose last enumerator is `count`. Each
// timer is either stopped or armed at one TimePoint; arming again moves it.
// next() is the earliest armed deadline, so a new timer is one enumerator
// plus the code that arms it and the code that handles it expiring.
//
// Thread safety: none (a plain value).
#pragma once

#include <array>
#include <cstddef>
#include <optional>

#include "core/time.hpp"

namespace tether::core {

template <class Timer>
class TimerTable {
public:
    void set(Timer t, TimePoint at) { slots_[index(t)] = at; }
    void stop(Timer t) { slots_[index(t)].reset(); }
    std::optional<TimePoint> get(Timer t) const { return slots_[index(t)]; }
    // Stops every timer `t` for which pred(t) holds.
    template <class Pred>
    void stop_if(Pred pred) {
        for (std::size_t i = 0; i < slots_.size(); ++i)
            if (pred(static_cast<Timer>(i))) slots_[i].reset();
    }
    bool is_expired(Timer t, TimePoint now) const {
        const auto& slot = slots_[index(t)];
        return slot && *slot <= now;
    }
    std::optional<TimePoint> next() const {
        std::optional<TimePoint> earliest;
        for (const auto& slot : slots_)
            if (slot && (!earliest || *slot < *earliest)) earliest = slot;
        return earliest;
    }

private:
    static constexpr std::size_t index(Timer t) { return static_cast<std::size_t>(t); }
    std::array<std::optional<TimePoint>, static_cast<std::size_t>(Timer::count)> slots_{};
};

} // namespace tether::core
