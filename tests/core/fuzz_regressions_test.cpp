// Regression tests for bugs the libFuzzer targets in tests/fuzz found (see
// docs/reliability.md, "Fuzzing"). Each test says which fuzzer found what,
// and checks the fixed behaviour through the public core API.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <variant>

#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "session_harness.hpp"

namespace {

using tether::errc;
using namespace tether::core;
using tether::core::testing::Harness;

// frame_codec_fuzz, payload invariant: validate_json_value accepted a payload
// starting with a UTF-8 byte order mark, because nlohmann's parser skips a BOM
// at the start of its input. send() splices the payload into the middle of a
// msg frame, where those bytes are not JSON: a conforming peer refuses the
// frame (bad_frame, close 4008) and the client re-sends it after every
// reconnect, forever.
TEST(FuzzRegressions, PayloadWithLeadingByteOrderMarkIsRefused) {
    const std::string payload = "\xEF\xBB\xBF{\"a\":1}";

    // Why it must be refused: the frame it would make does not decode.
    std::string frame;
    append_client_msg(frame, 1, "id-1", payload);
    EXPECT_EQ(decode_client_frame(frame).error(), make_error_code(errc::frame_invalid_json));

    std::string detail;
    EXPECT_EQ(validate_json_value(payload, DecodeLimits{}, &detail), make_error_code(errc::invalid_json));
    EXPECT_NE(detail.find("byte order mark"), std::string::npos) << detail;
    EXPECT_EQ(validate_json_value("\xEF\xBB\xBF", DecodeLimits{}), make_error_code(errc::invalid_json));

    // The same bytes inside a string are ordinary text.
    EXPECT_FALSE(validate_json_value("\"\xEF\xBB\xBF\"", DecodeLimits{}));
    EXPECT_FALSE(validate_json_value("[\"\xEF\xBB\xBF\",1]", DecodeLimits{}));

    // send() refuses it as a local error: nothing queued, nothing sent.
    Harness h;
    h.start_ready();
    h.take<SendText>();
    auto r = h.session.send(h.now, payload);
    EXPECT_EQ(r.error(), make_error_code(errc::invalid_json));
    EXPECT_EQ(h.session.outbox_size(), 0u);
    h.drain();
    EXPECT_TRUE(h.take<SendText>().empty());
}

// frame_codec_fuzz, round-trip invariant (a harness false positive, kept as
// a pin on the behaviour): `-0` in a payload. nlohmann parses the integer
// `-0` as a signed 0 and dumps it as `0`, which parses back as an unsigned 0:
// the same number, a different json kind (is_number_unsigned() changes). The
// SDK does not alter that; what must hold is that the fast path gives
// exactly what the DOM path gives, and that the client side sends `0`.
TEST(FuzzRegressions, NegativeZeroIntegerDecodesAlikeInBothPathsAndReencodesAsZero) {
    const std::string text = R"({"type":"msg","seq":1,"data":[-0]})";

    const auto fast_frame = fast::decode_server_frame(text, DecodeLimits{});
    ASSERT_TRUE(fast_frame.has_value()); // the fast path takes it...
    const auto dom_frame = dom::decode_server_frame(text);
    ASSERT_TRUE(dom_frame.ok());
    const nlohmann::json& fast_zero = std::get<ServerMsg>(*fast_frame).data.at(0);
    const nlohmann::json& dom_zero = std::get<ServerMsg>(dom_frame.value()).data.at(0);
    // ...and builds the same kind as nlohmann's parser: signed 0.
    EXPECT_TRUE(dom_zero.is_number_integer() && !dom_zero.is_number_unsigned());
    EXPECT_TRUE(fast_zero.is_number_integer() && !fast_zero.is_number_unsigned());
    EXPECT_EQ(fast_zero.get<std::int64_t>(), 0);

    // Re-encoded it is `0`: equal as a number, unsigned as a kind.
    const std::string encoded = encode(std::get<ServerMsg>(dom_frame.value()));
    EXPECT_EQ(encoded, R"({"type":"msg","seq":1,"data":[0]})");
    const auto again = decode_server_frame(encoded);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(std::get<ServerMsg>(again.value()).data.at(0).is_number_unsigned());
    EXPECT_EQ(std::get<ServerMsg>(again.value()).data, std::get<ServerMsg>(dom_frame.value()).data);

    // A client frame carrying -0 is not in dump form: the fast path declines
    // and the DOM path hands on the canonical `0`.
    const std::string client = R"({"type":"msg","seq":1,"id":"a","data":-0})";
    EXPECT_FALSE(fast::decode_client_frame(client, DecodeLimits{}).has_value());
    const auto decoded = decode_client_frame(client);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(std::get<ClientMsg>(decoded.value()).data_json, "0");
}

} // namespace
