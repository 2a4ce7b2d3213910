// Regression tests for bugs the libFuzzer targets in tests/fuzz found (see
// docs/reliability.md, "Fuzzing"). Each test says which fuzzer found what,
// and checks the fixed behaviour through the public core API.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "core/codec.hpp"
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

} // namespace
