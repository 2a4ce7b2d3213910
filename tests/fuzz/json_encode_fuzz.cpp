// libFuzzer target: the encode side of the codec's fast path.
//
// For every input it checks, and aborts (so libFuzzer keeps the input) when
//   - fast::append_compact_dump vs nlohmann's dump(-1, ' ', false, strict),
//     on two values: the input parsed as JSON text (when it parses) and a
//     value built from the input's bytes (tests/support/json_value_gen.hpp:
//     ill-formed UTF-8, NaN, binary and deep nesting reach the encoder this
//     way, which parsed text never gives). Accepted: byte for byte equal.
//     Declined: only when the dump throws, the value holds a binary, or it
//     nests deeper than the limit; the buffer is left as it was;
//   - fast::nesting_within vs the DOM path's byte-wise pre-scan
//     (dom::check_nesting) on the raw input, at a depth from its first byte:
//     the fast path never passes a text the pre-scan refuses, and refuses
//     one the pre-scan passes only for a NUL byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "core/json_encode.hpp"
#include "../support/json_value_gen.hpp"

namespace {

using nlohmann::json;
namespace core = tether::core;

[[noreturn]] void violation(const char* what) {
    std::fprintf(stderr, "\njson_encode_fuzz: invariant violated: %s\n", what);
    std::abort();
}

std::size_t depth_of(const json& v) {
    if (!v.is_structured()) return 0;
    std::size_t inner = 0;
    for (const auto& e : v) inner = std::max(inner, depth_of(e));
    return inner + 1;
}

bool holds_binary(const json& v) {
    if (v.is_binary()) return true;
    if (!v.is_structured()) return false;
    return std::any_of(v.begin(), v.end(), [](const json& e) { return holds_binary(e); });
}

void check_encode(const json& v, std::size_t max_depth) {
    std::string out = "prefix";
    const bool accepted = core::fast::append_compact_dump(out, v, max_depth);
    std::string expected;
    bool dump_throws = false;
    try {
        expected = v.dump(-1, ' ', false, json::error_handler_t::strict);
    } catch (const json::exception&) {
        dump_throws = true;
    }
    const bool must_decline = dump_throws || holds_binary(v) || depth_of(v) > max_depth;
    if (accepted && must_decline) violation("accepted a value that must be declined");
    if (!accepted && !must_decline) violation("declined a plain value");
    if (!accepted && out != "prefix") violation("a declined call changed the buffer");
    if (accepted && std::string_view(out).substr(6) != expected) violation("bytes differ from nlohmann's dump");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::size_t depth = size == 0 ? 0 : data[0] % 80;

    const json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) {
        check_encode(parsed, core::kMaxPayloadDepth);
        check_encode(parsed, depth);
    }

    std::size_t at = 0;
    tether::test::JsonValueGen gen([&]() -> char { return at < size ? static_cast<char>(data[at++]) : '\0'; });
    check_encode(gen.value(), depth < 10 ? depth : core::kMaxPayloadDepth);

    const bool fast = core::fast::nesting_within(text, depth);
    const bool dom = !core::dom::check_nesting(text, depth);
    if (fast && !dom) violation("nesting_within passed a text the pre-scan refuses");
    if (!fast && dom && text.find('\0') == std::string_view::npos) violation("nesting_within refused a plain text");
    return 0;
}
