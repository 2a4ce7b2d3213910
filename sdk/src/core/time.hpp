// Virtual time for the sans-I/O core. The core never reads a clock: every
// input carries `now`, and the driver (or a test's fake clock) supplies it.
#pragma once

#include <cstdint>

#include "tether/protocol/time.hpp" // Clock, TimePoint, Duration, clamp_duration

namespace tether::core {

// Randomness is injected so tests can script it. Implementations: a seeded
// PRNG in the driver, a scripted sequence in tests.
class Rng {
public:
    virtual ~Rng() = default;
    virtual std::uint64_t next_u64() = 0;
};

// Uniform integer in [0, bound] (inclusive), unbiased.
std::uint64_t uniform_inclusive(Rng& rng, std::uint64_t bound);

// SplitMix64: small, fast, good enough for jitter and id prefixes (never for
// security; masking keys come from OpenSSL in the transport).
class SplitMix64 final : public Rng {
public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next_u64() override;

private:
    std::uint64_t state_;
};

} // namespace tether::core
