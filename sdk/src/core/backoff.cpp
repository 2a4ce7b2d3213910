#include "core/backoff.hpp"

#include <algorithm>

namespace tether::core {

Duration Backoff::ceiling(std::uint32_t n) const {
    const auto base = config_.base.count();
    const auto max = config_.max.count();
    if (base <= 0 || max <= 0) return Duration::zero();
    // base * 2^n >= max as soon as 2^n >= max / base; stop doubling there.
    auto value = base;
    for (std::uint32_t i = 0; i < n && value < max; ++i) value = value > max / 2 ? max : value * 2;
    return Duration(std::min(value, max));
}

Duration Backoff::next_delay(Rng& rng, std::optional<Duration> retry_after) {
    last_stable_ = false;
    const Duration cap = ceiling(failures_);
    if (failures_ != UINT32_MAX) ++failures_;
    const auto jitter = static_cast<Duration::rep>(uniform_inclusive(rng, static_cast<std::uint64_t>(cap.count())));
    Duration delay(jitter);
    if (retry_after) delay += clamp_duration(*retry_after);
    return clamp_duration(delay);
}

Duration Backoff::short_delay(Rng& rng) {
    last_stable_ = false;
    const auto base = std::max<Duration::rep>(0, config_.base.count());
    return Duration(static_cast<Duration::rep>(uniform_inclusive(rng, static_cast<std::uint64_t>(base))));
}

void Backoff::on_ready_ended(TimePoint now) {
    last_stable_ = ready_since_ && now - *ready_since_ >= config_.stable_after;
    if (last_stable_) failures_ = 0;
    ready_since_.reset();
}

} // namespace tether::core
