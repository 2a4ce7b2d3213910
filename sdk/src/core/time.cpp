#include "core/time.hpp"

#include <limits>

namespace tether::core {

std::uint64_t uniform_inclusive(Rng& rng, std::uint64_t bound) {
    if (bound == std::numeric_limits<std::uint64_t>::max()) return rng.next_u64();
    const std::uint64_t range = bound + 1;
    // Rejection sampling: discard the top sliver that would bias the modulo.
    const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - (std::numeric_limits<std::uint64_t>::max() % range);
    // Bounded, so a degenerate Rng (a constant, in tests) cannot spin us;
    // after 64 rejections the modulo bias is irrelevant anyway.
    std::uint64_t x = rng.next_u64();
    for (int tries = 0; x >= limit && tries < 64; ++tries) x = rng.next_u64();
    return x % range;
}

std::uint64_t SplitMix64::next_u64() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

} // namespace tether::core
