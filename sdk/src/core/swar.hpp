// Byte tests on 8 bytes at once (SWAR), for the codec's string scans.
// Each term is the classic exact "has a byte less than n" / "has a zero
// byte" test, so no byte is ever missed or invented.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>

namespace tether::core::swar {

inline constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
inline constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

inline std::uint64_t load8(const char* p) noexcept {
    std::uint64_t w = 0;
    std::memcpy(&w, p, sizeof w);
    return w;
}

// The high bit of each byte of `w` that equals `c`.
inline std::uint64_t bytes_equal(std::uint64_t w, unsigned char c) noexcept {
    const std::uint64_t x = w ^ (kOnes * c);
    return (x - kOnes) & ~x & kHighs;
}

// Whether any byte of `w` is a quote or a backslash.
inline bool has_quote_or_backslash(std::uint64_t w) noexcept {
    return (bytes_equal(w, '"') | bytes_equal(w, '\\')) != 0;
}

// Whether any byte of `w` is a quote, a backslash, a control character or
// non-ASCII: the bytes a JSON string scan (or escape) must look at.
inline bool has_special_byte(std::uint64_t w) noexcept {
    const std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
    return (below_space | bytes_equal(w, '"') | bytes_equal(w, '\\') | (w & kHighs)) != 0;
}

} // namespace tether::core::swar
