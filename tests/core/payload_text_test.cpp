// DecodeLimits::payload_as_text: a server msg's payload handed on as text
// (what the C ABI passes to C, Python and C#) is exactly the compact dump of
// the payload the DOM decode returns, whichever path decoded it, and errors
// are those of the DOM decode.
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "core/codec.hpp"

namespace {

using tether::core::DecodeLimits;
using tether::core::ServerMsg;
namespace core = tether::core;

DecodeLimits as_text() {
    DecodeLimits l;
    l.payload_as_text = true;
    return l;
}

const std::vector<std::string> kFrames = {
    R"({"type":"msg","seq":1,"data":{"a":1,"b":[true,null,"x"]}})",       // canonical: copied from the frame
    R"({"type":"msg","seq":2,"id":"c-1","data":"caf\u00e9"})",             // escaped: dumped as UTF-8
    R"({"type":"msg","seq":3,"data":{ "b" : 2 , "a" : 1 }})",             // whitespace, unsorted keys
    R"({"type":"msg","seq":4,"data":[1.50,2e3,-0,12345678901234567890]})", // numbers nlohmann re-renders
    R"({"data":{"k":{"n":[[[]]]}},"seq":5,"type":"msg"})",                // data before type
    R"({"type":"msg","seq":6,"data":null})",
};

TEST(PayloadAsText, EqualsTheDumpOfTheDomPayloadOnBothPaths) {
    for (const std::string& text : kFrames) {
        SCOPED_TRACE(text);
        auto dom = core::dom::decode_server_frame(text);
        ASSERT_TRUE(dom.ok()) << dom.detail();
        const std::string expected = std::get<ServerMsg>(dom.value()).data.dump();

        for (auto decoded : {core::decode_server_frame(text, as_text()), core::dom::decode_server_frame(text, as_text())}) {
            ASSERT_TRUE(decoded.ok()) << decoded.detail();
            const auto& m = std::get<ServerMsg>(decoded.value());
            EXPECT_EQ(m.data_json, expected);
            EXPECT_TRUE(m.data.is_null()) << "text mode builds no DOM";
            EXPECT_EQ(m.seq, std::get<ServerMsg>(dom.value()).seq);
            EXPECT_EQ(m.id, std::get<ServerMsg>(dom.value()).id);
        }
    }
}

TEST(PayloadAsText, DomModeLeavesTheTextEmpty) {
    auto decoded = core::decode_server_frame(kFrames[0]);
    ASSERT_TRUE(decoded.ok());
    EXPECT_TRUE(std::get<ServerMsg>(decoded.value()).data_json.empty());
}

TEST(PayloadAsText, BadFramesFailAsInDomMode) {
    for (const std::string text : {R"({"type":"msg","seq":1})", R"({"type":"msg","seq":-1,"data":1})",
                                   R"({"type":"msg","seq":1,"data":[1,]})", "{\"type\":\"msg\",\"seq\":1,\"data\":\"\xff\"}"}) {
        SCOPED_TRACE(text);
        auto plain = core::decode_server_frame(text);
        auto textual = core::decode_server_frame(text, as_text());
        ASSERT_FALSE(plain.ok());
        ASSERT_FALSE(textual.ok());
        EXPECT_EQ(textual.error(), plain.error());
        EXPECT_EQ(textual.detail(), plain.detail());
    }
}

} // namespace
