// The contract of the encode side of the codec's fast path, as one check for
// its differential test (tests/core/json_encode_test.cpp) and its fuzzer
// (tests/fuzz/json_encode_fuzz.cpp). Each returns "" when the contract holds
// and a description of the breach otherwise:
//   - encode_breach: fast::append_compact_dump accepted and appended exactly
//     nlohmann's dump(-1, ' ', false, strict), or declined (buffer untouched)
//     exactly when the dump throws, a binary is present, or the value nests
//     deeper than `max_depth`; what it accepts passes the depth pre-scan
//     (so PayloadCheck::encoded may skip it);
//   - nesting_breach: fast::nesting_within never passes a text the byte-wise
//     pre-scan (dom::check_nesting) refuses, and refuses one it passes only
//     for a NUL byte outside strings (which check_nesting lets through and
//     validation refuses).
//
// Thread safety: pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "core/json_encode.hpp"

namespace tether::test {

// Nesting of containers, as the pre-scan counts brackets (a scalar is 0).
inline std::size_t depth_of(const nlohmann::json& v) {
    if (!v.is_structured()) return 0;
    std::size_t inner = 0;
    for (const auto& e : v) inner = std::max(inner, depth_of(e));
    return inner + 1;
}

inline bool holds_binary(const nlohmann::json& v) {
    if (v.is_binary()) return true;
    if (!v.is_structured()) return false;
    return std::any_of(v.begin(), v.end(), [](const nlohmann::json& e) { return holds_binary(e); });
}

inline std::string encode_breach(const nlohmann::json& v, std::size_t max_depth) {
    std::string out = "prefix";
    const bool accepted = core::fast::append_compact_dump(out, v, max_depth);
    std::string expected;
    bool dump_throws = false;
    try {
        expected = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::exception&) {
        dump_throws = true;
    }
    const bool must_decline = dump_throws || holds_binary(v) || depth_of(v) > max_depth;
    if (accepted && must_decline) return "accepted a value the fast path must decline";
    if (!accepted && !must_decline) return "declined a plain value: " + expected;
    if (!accepted && out != "prefix") return "a declined call changed the buffer";
    if (accepted && out != "prefix" + expected) return "bytes differ: fast " + out.substr(6) + " dump " + expected;
    // Session::send skips the depth pre-scan for PayloadCheck::encoded text.
    if (accepted && core::check_nesting(expected, max_depth)) return "accepted a text the depth pre-scan refuses";
    return {};
}

inline std::string nesting_breach(std::string_view text, std::size_t max_depth) {
    const bool fast = core::fast::nesting_within(text, max_depth);
    const bool dom = !core::dom::check_nesting(text, max_depth);
    if (fast && !dom) return "nesting_within passed a text the pre-scan refuses";
    if (!fast && dom && text.find('\0') == std::string_view::npos) return "nesting_within refused a plain text";
    if (core::check_nesting(text, max_depth) != core::dom::check_nesting(text, max_depth))
        return "check_nesting differs from the pre-scan";
    return {};
}

} // namespace tether::test
