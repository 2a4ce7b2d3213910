// Small helpers shared by the core tests: a scripted Rng and a fake clock.
// Core tests never sleep and never read a real clock; they advance this one.
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>

#include "core/time.hpp"

namespace tether::test {

// Returns the queued values in order, then `fallback` forever.
class ScriptedRng : public tether::core::Rng {
public:
    explicit ScriptedRng(std::uint64_t fallback = 0) : fallback_(fallback) {}
    ScriptedRng(std::initializer_list<std::uint64_t> values, std::uint64_t fallback = 0)
        : values_(values), fallback_(fallback) {}

    void push(std::uint64_t v) { values_.push_back(v); }
    void set_fallback(std::uint64_t v) { fallback_ = v; }
    std::size_t remaining() const { return values_.size(); }
    std::uint64_t calls() const { return calls_; }

    std::uint64_t next_u64() override {
        ++calls_;
        if (values_.empty()) return fallback_;
        const std::uint64_t v = values_.front();
        values_.pop_front();
        return v;
    }

private:
    std::deque<std::uint64_t> values_;
    std::uint64_t fallback_;
    std::uint64_t calls_ = 0;
};

// Virtual time: starts at an arbitrary non-zero epoch so that "time zero"
// bugs (treating a default TimePoint as unset) show up.
struct FakeClock {
    tether::core::TimePoint now = tether::core::TimePoint{} + std::chrono::hours(1);
    void advance(tether::core::Duration d) { now += d; }
};

} // namespace tether::test
