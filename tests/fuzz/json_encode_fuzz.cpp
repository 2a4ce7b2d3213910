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
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "core/json_encode.hpp"
#include "../support/json_encode_check.hpp"
#include "../support/json_value_gen.hpp"

namespace {

using nlohmann::json;
namespace core = tether::core;

[[noreturn]] void violation(const char* what) {
    std::fprintf(stderr, "\njson_encode_fuzz: invariant violated: %s\n", what);
    std::abort();
}

void check_encode(const json& v, std::size_t max_depth) {
    const std::string breach = tether::test::encode_breach(v, max_depth);
    if (!breach.empty()) violation(breach.c_str());
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

    const std::string breach = tether::test::nesting_breach(text, depth);
    if (!breach.empty()) violation(breach.c_str());
    return 0;
}
