// Differential tests of the encode side of the codec's fast path:
//   - fast::append_compact_dump against nlohmann's dump(-1, ' ', false,
//     strict): byte for byte equal when it accepts; it declines exactly when
//     the dump throws (ill-formed UTF-8), the value holds a binary, or it
//     nests deeper than the limit; a declined call leaves the buffer as it
//     was;
//   - fast::nesting_within against the DOM path's byte-wise pre-scan
//     (dom::check_nesting): the same verdict on every text.
// Fixed cases for the corners, then seeded random values (tests/support/
// json_value_gen.hpp); tests/fuzz/json_encode_fuzz.cpp runs the same checks
// on fuzzer-chosen bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "core/json_encode.hpp"
#include "../support/json_encode_check.hpp"
#include "../support/json_value_gen.hpp"

namespace {

using nlohmann::json;
using tether::core::kMaxPayloadDepth;
namespace core = tether::core;

std::string check_encode(const json& v, std::size_t max_depth = kMaxPayloadDepth) {
    return tether::test::encode_breach(v, max_depth);
}

TEST(JsonEncode, ScalarsMatchDump) {
    const json cases[] = {nullptr,
                          true,
                          false,
                          0,
                          -1,
                          std::numeric_limits<std::int64_t>::min(),
                          std::numeric_limits<std::int64_t>::max(),
                          std::numeric_limits<std::uint64_t>::max(),
                          0.0,
                          -0.0,
                          1.5,
                          1e300,
                          5e-324,
                          0.1,
                          1.0,
                          100.0,
                          std::numeric_limits<double>::infinity(),
                          std::numeric_limits<double>::quiet_NaN(),
                          "",
                          "plain",
                          "exactly8",
                          "seventeen chars!!"};
    for (const json& v : cases) EXPECT_EQ(check_encode(v), "") << v.dump();
}

TEST(JsonEncode, EscapesMatchDump) {
    for (int c = 0; c < 0x80; ++c) {
        // One special byte at every offset around the 8-byte steps.
        for (std::size_t at = 0; at < 18; ++at) {
            std::string s(20, 'a');
            s[at] = static_cast<char>(c);
            EXPECT_EQ(check_encode(json(s)), "") << "byte " << c << " at " << at;
        }
    }
    EXPECT_EQ(check_encode(json("\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80 \x7F")), "");
}

TEST(JsonEncode, IllFormedUtf8Declines) {
    for (const char* bad : {"\x80", "\xFF", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "abcdefgh\xE6\x97"}) {
        std::string out;
        EXPECT_FALSE(core::fast::append_compact_dump(out, json(bad), kMaxPayloadDepth)) << bad;
        EXPECT_FALSE(core::fast::append_compact_dump(out, json{{bad, 1}}, kMaxPayloadDepth)) << "key " << bad;
        EXPECT_TRUE(out.empty());
    }
}

TEST(JsonEncode, ContainersMatchDump) {
    const json v = {{"z", {1, 2, {{"b", nullptr}, {"a", "x\"y"}}}}, {"a", json::object()}, {"m", json::array()}};
    EXPECT_EQ(check_encode(v), "");
    EXPECT_EQ(check_encode(json::binary({1, 2, 3})), "");
    EXPECT_EQ(check_encode(json{{"k", json::binary({1})}}), "");
}

TEST(JsonEncode, DeclinesDeeperThanTheLimit) {
    json v = 1;
    for (std::size_t d = 1; d <= kMaxPayloadDepth + 1; ++d) {
        v = json::array({v});
        EXPECT_EQ(check_encode(v), "") << "depth " << d;
        std::string out;
        EXPECT_EQ(core::fast::append_compact_dump(out, v, kMaxPayloadDepth), d <= kMaxPayloadDepth) << d;
    }
}

TEST(JsonEncode, RandomValuesMatchDump) {
    std::mt19937_64 rng(20261207);
    std::uniform_int_distribution<int> byte(0, 255);
    tether::test::JsonValueGen gen([&] { return static_cast<char>(byte(rng)); });
    int declined = 0;
    for (int i = 0; i < 100000; ++i) {
        const json v = gen.value();
        const std::size_t limit = (i % 10 == 0) ? static_cast<std::size_t>(i % 7) : kMaxPayloadDepth;
        const std::string breach = check_encode(v, limit);
        ASSERT_EQ(breach, "") << "value #" << i;
        std::string probe;
        if (!core::fast::append_compact_dump(probe, v, limit)) ++declined;
    }
    // Both sides of the contract were exercised, not just one.
    EXPECT_GT(declined, 1000);
    EXPECT_LT(declined, 90000);
}

std::string check_nesting_agrees(const std::string& text, std::size_t max_depth) {
    return tether::test::nesting_breach(text, max_depth);
}

TEST(NestingWithin, AgreesWithPrescan) {
    const char* const cases[] = {"",        "[]",          "[[[]]]",      "{\"a\":[1,{\"b\":[]}]}", "\"[[[[\"",
                                 "\"\\\"[[\"", "\"\\\\\"[[[", "[\"abc",      "\"abcdefgh\\",           "]]]][[",
                                 "[\"a\\\"bcdefghij[\"]"};
    for (const char* c : cases)
        for (std::size_t d = 0; d < 5; ++d) EXPECT_EQ(check_nesting_agrees(c, d), "") << c << " depth " << d;
    EXPECT_EQ(check_nesting_agrees(std::string("[\0]", 3), 5), "");
    EXPECT_EQ(check_nesting_agrees(std::string("\"a\0b\"", 5), 5), "");
}

TEST(NestingWithin, RandomTextsAgreeWithPrescan) {
    std::mt19937_64 rng(20261208);
    static const char kAlphabet[] = "[]{}\"\\\\aaaaaaaaaaaaaaaaaaa,:";
    for (int i = 0; i < 50000; ++i) {
        std::string text(rng() % 64, ' ');
        for (char& c : text) c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
        if (rng() % 50 == 0 && !text.empty()) text[rng() % text.size()] = '\0';
        ASSERT_EQ(check_nesting_agrees(text, rng() % 6), "") << text;
    }
}

} // namespace
