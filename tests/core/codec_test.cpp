// Tests of the tether.v1 frame codec: round trips both directions, exact
// wire output, a table of malformed frames each mapped to its exact errc,
// forward compatibility (unknown types and fields), validate_json_value, and
// a seeded mutation run that must never crash or throw.
#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "core/codec.hpp"
#include "core/utf8.hpp"

namespace {

using namespace std::string_literals;
using nlohmann::json;
using tether::errc;
using tether::core::Ack;
using tether::core::Bye;
using tether::core::ClientFrame;
using tether::core::ClientInfo;
using tether::core::ClientMsg;
using tether::core::DecodeLimits;
using tether::core::ErrorFrame;
using tether::core::Hello;
using tether::core::kMaxSeq;
using tether::core::Result;
using tether::core::ResumeRequest;
using tether::core::ServerFrame;
using tether::core::ServerMsg;
using tether::core::UnknownFrame;
using tether::core::Welcome;
using tether::core::append_client_msg;
using tether::core::decode_client_frame;
using tether::core::decode_server_frame;
using tether::core::encode;
using tether::core::validate_json_value;

// Every escape class at once: JSON specials, all short escapes, other
// control chars (incl. NUL), DEL, 2/3/4-byte UTF-8, U+2028.
const std::string kTricky = "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f nul\0 x01\x01 x1f\x1f del\x7f"s +
                            " \xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 \xE2\x80\xA8 end";

template <class T, class Variant>
T expect_frame(const Result<Variant>& r) {
    if (!r.ok()) {
        ADD_FAILURE() << "decode failed: " << r.error().message() << " (" << r.detail() << ")";
        return T{};
    }
    if (!std::holds_alternative<T>(r.value())) {
        ADD_FAILURE() << "decoded to variant index " << r.value().index();
        return T{};
    }
    return std::get<T>(r.value());
}

void expect_same(const Hello& a, const Hello& b) {
    EXPECT_EQ(a.token, b.token);
    ASSERT_EQ(a.client.has_value(), b.client.has_value());
    if (a.client) {
        EXPECT_EQ(a.client->name, b.client->name);
        EXPECT_EQ(a.client->version, b.client->version);
    }
    ASSERT_EQ(a.resume.has_value(), b.resume.has_value());
    if (a.resume) {
        EXPECT_EQ(a.resume->session, b.resume->session);
        EXPECT_EQ(a.resume->resume_token, b.resume->resume_token);
        EXPECT_EQ(a.resume->last_seq, b.resume->last_seq);
    }
}

void expect_same(const Welcome& a, const Welcome& b) {
    EXPECT_EQ(a.session, b.session);
    EXPECT_EQ(a.resume_token, b.resume_token);
    EXPECT_EQ(a.resumed, b.resumed);
    EXPECT_EQ(a.last_seq, b.last_seq);
    EXPECT_EQ(a.heartbeat_ms, b.heartbeat_ms);
    EXPECT_EQ(a.session_ttl_ms, b.session_ttl_ms);
}

void expect_same(const ErrorFrame& a, const ErrorFrame& b) {
    EXPECT_EQ(a.code, b.code);
    EXPECT_EQ(a.message, b.message);
    EXPECT_EQ(a.retry_after_ms, b.retry_after_ms);
}

void expect_same(const ServerMsg& a, const ServerMsg& b) {
    EXPECT_EQ(a.seq, b.seq);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.data, b.data);
}

void expect_same(const ClientMsg& a, const ClientMsg& b) {
    EXPECT_EQ(a.seq, b.seq);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.data_json, b.data_json);
}

// ---------------------------------------------------------------------------
// Round trips

TEST(CodecRoundTrip, HelloEveryShape) {
    std::vector<Hello> cases;
    cases.push_back(Hello{});
    cases.push_back(Hello{"tok", std::nullopt, std::nullopt});
    cases.push_back(Hello{std::nullopt, ClientInfo{"tether-cpp", "0.1.0"}, std::nullopt});
    cases.push_back(Hello{"jwt.abc.def", ClientInfo{"n", "v"}, ResumeRequest{"sess-1", "rt-1", 42}});
    cases.push_back(Hello{kTricky, ClientInfo{kTricky, kTricky}, ResumeRequest{kTricky, kTricky, kMaxSeq}});
    cases.push_back(Hello{"", ClientInfo{"", ""}, ResumeRequest{"", "", 0}});
    for (const Hello& h : cases) {
        const std::string wire = encode(h);
        SCOPED_TRACE(wire);
        expect_same(expect_frame<Hello>(decode_client_frame(wire)), h);
    }
}

TEST(CodecRoundTrip, ClientMsg) {
    const std::vector<ClientMsg> cases = {
        {1, "id-1", R"({"text":"hi"})"},
        {0, "", "null"},
        {kMaxSeq, kTricky, R"("a\"b\\c\n\u0001 é 😀")"},
        {7, "x", R"([1,2.5,-3,true,false,null,{},[]])"},
        {8, "y", R"({"a":{"b":{"c":[1,{"d":"e"}]}},"z":0})"},
        {9, "z", "12345"},
        {10, "\xE6\x97\xA5", R"("")"},
    };
    for (const ClientMsg& m : cases) {
        const std::string wire = encode(m);
        SCOPED_TRACE(wire);
        expect_same(expect_frame<ClientMsg>(decode_client_frame(wire)), m);
    }
}

TEST(CodecRoundTrip, AckBothDirectionsAndBye) {
    for (const std::uint64_t seq : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4096}, kMaxSeq}) {
        const std::string wire = encode(Ack{seq});
        EXPECT_EQ(expect_frame<Ack>(decode_client_frame(wire)).seq, seq);
        EXPECT_EQ(expect_frame<Ack>(decode_server_frame(wire)).seq, seq);
    }
    const Result<ClientFrame> bye = decode_client_frame(encode(Bye{}));
    ASSERT_TRUE(bye.ok()) << bye.detail();
    EXPECT_TRUE(std::holds_alternative<Bye>(bye.value()));
}

TEST(CodecRoundTrip, WelcomeEveryShape) {
    const std::vector<Welcome> cases = {
        {"s", "t", false, 0, std::nullopt, std::nullopt},
        {"sess-9", "rt-9", true, 1234, 15000, std::nullopt},
        {"sess-9", "rt-9", true, 1234, std::nullopt, 60000},
        {kTricky, kTricky, true, kMaxSeq, kMaxSeq, kMaxSeq},
        {"", "", false, 0, 0, 0},
    };
    for (const Welcome& w : cases) {
        const std::string wire = encode(w);
        SCOPED_TRACE(wire);
        expect_same(expect_frame<Welcome>(decode_server_frame(wire)), w);
    }
}

TEST(CodecRoundTrip, ServerMsg) {
    std::vector<ServerMsg> cases;
    cases.push_back({1, json{{"text", "hi"}}, std::nullopt});
    cases.push_back({2, json{{"text", kTricky}, {"n", 1.5}, {"list", {1, -2, true, nullptr}}}, "id-2"});
    cases.push_back({3, json(nullptr), std::nullopt});
    cases.push_back({4, json(kTricky), kTricky});
    cases.push_back({kMaxSeq, json::array(), ""});
    cases.push_back({0, json(-17), std::nullopt});
    for (const ServerMsg& m : cases) {
        const std::string wire = encode(m);
        SCOPED_TRACE(wire);
        expect_same(expect_frame<ServerMsg>(decode_server_frame(wire)), m);
    }
}

TEST(CodecRoundTrip, ErrorFrameEveryShape) {
    const std::vector<ErrorFrame> cases = {
        {"unauthorized", std::nullopt, std::nullopt},
        {"server_busy", "try later", 2500},
        {"rate_limited", std::nullopt, 0},
        {kTricky, kTricky, kMaxSeq},
    };
    for (const ErrorFrame& e : cases) {
        const std::string wire = encode(e);
        SCOPED_TRACE(wire);
        expect_same(expect_frame<ErrorFrame>(decode_server_frame(wire)), e);
    }
}

// Every single byte value that is valid UTF-8 on its own, as an id.
TEST(CodecRoundTrip, EveryAsciiByteInAString) {
    for (int c = 0; c < 0x80; ++c) {
        const ClientMsg m{1, std::string(1, static_cast<char>(c)) + "x", "1"};
        const std::string wire = encode(m);
        SCOPED_TRACE(wire);
        expect_same(expect_frame<ClientMsg>(decode_client_frame(wire)), m);
    }
}


TEST(CodecRoundTrip, RandomUnicodeStrings) {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<std::uint32_t> any_cp(0, 0x10FFFF);
    std::uniform_int_distribution<std::uint32_t> ascii_cp(0, 0x7F);
    std::uniform_int_distribution<int> len(0, 24);
    for (int iter = 0; iter < 500; ++iter) {
        std::string s;
        const int n = len(rng);
        for (int k = 0; k < n; ++k) {
            std::uint32_t cp = (k % 2 == 0) ? ascii_cp(rng) : any_cp(rng);
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; // surrogates are not scalar values
            tether::core::append_utf8(s, cp);
        }
        const Welcome w{s, s, true, 1, std::nullopt, std::nullopt};
        expect_same(expect_frame<Welcome>(decode_server_frame(encode(w))), w);
        const ClientMsg m{2, s, json(s).dump()};
        expect_same(expect_frame<ClientMsg>(decode_client_frame(encode(m))), m);
    }
}

// ---------------------------------------------------------------------------
// Exact wire output

TEST(CodecEncode, ExactCompactOutputTypeFirst) {
    EXPECT_EQ(encode(Ack{7}), R"({"type":"ack","seq":7})");
    EXPECT_EQ(encode(Bye{}), R"({"type":"bye"})");
    EXPECT_EQ(encode(Hello{}), R"({"type":"hello","v":1})");
    EXPECT_EQ(encode(Hello{"t", ClientInfo{"n", "1.0"}, ResumeRequest{"s", "r", 5}}),
              R"({"type":"hello","v":1,"token":"t","client":{"name":"n","version":"1.0"},)"
              R"("resume":{"session":"s","resume_token":"r","last_seq":5}})");
    EXPECT_EQ(encode(ClientMsg{3, "a", R"({"x":1})"}), R"({"type":"msg","seq":3,"id":"a","data":{"x":1}})");
    EXPECT_EQ(encode(Welcome{"s", "t", true, 3, 15000, std::nullopt}),
              R"({"type":"welcome","session":"s","resume_token":"t","resumed":true,"last_seq":3,"heartbeat_ms":15000})");
    EXPECT_EQ(encode(Welcome{"s", "t", false, 0, std::nullopt, 60000}),
              R"({"type":"welcome","session":"s","resume_token":"t","resumed":false,"last_seq":0,"session_ttl_ms":60000})");
    EXPECT_EQ(encode(ServerMsg{4, json{{"a", 1}}, "c-1"}), R"({"type":"msg","seq":4,"id":"c-1","data":{"a":1}})");
    EXPECT_EQ(encode(ServerMsg{5, json(nullptr), std::nullopt}), R"({"type":"msg","seq":5,"data":null})");
    EXPECT_EQ(encode(ErrorFrame{"server_busy", "later", 2500}),
              R"({"type":"error","code":"server_busy","message":"later","retry_after_ms":2500})");
    EXPECT_EQ(encode(ErrorFrame{"bad_frame", std::nullopt, std::nullopt}), R"({"type":"error","code":"bad_frame"})");
    EXPECT_EQ(encode(Ack{kMaxSeq}), R"({"type":"ack","seq":9007199254740991})");
}

TEST(CodecEncode, StringEscapes) {
    EXPECT_EQ(encode(ClientMsg{1, "q\"b\\s/", "0"}), R"({"type":"msg","seq":1,"id":"q\"b\\s/","data":0})");
    EXPECT_EQ(encode(ClientMsg{1, "\b\f\n\r\t", "0"}), R"({"type":"msg","seq":1,"id":"\b\f\n\r\t","data":0})");
    EXPECT_EQ(encode(ClientMsg{1, "\x01\x1f\x7f"s + '\0', "0"}),
              "{\"type\":\"msg\",\"seq\":1,\"id\":\"\\u0001\\u001f\x7f\\u0000\",\"data\":0}");
    // Well-formed UTF-8 passes through unescaped.
    EXPECT_EQ(encode(ClientMsg{1, "\xC3\xA9\xF0\x9F\x98\x80", "0"}),
              "{\"type\":\"msg\",\"seq\":1,\"id\":\"\xC3\xA9\xF0\x9F\x98\x80\",\"data\":0}");
}

TEST(CodecEncode, IllFormedUtf8BecomesReplacementCharacter) {
    // Encoding cannot fail; the output must still be valid JSON.
    const std::string bad = "a\xFF" "b\xC0\xAF" "c\xED\xA0\x80" "d\xE6\x97"; // stray, overlong, surrogate, truncated
    const std::string wire = encode(ClientMsg{1, bad, "0"});
    EXPECT_FALSE(validate_json_value(wire, DecodeLimits{}));
    const ClientMsg back = expect_frame<ClientMsg>(decode_client_frame(wire));
    EXPECT_EQ(back.id.find('\xFF'), std::string::npos);
    EXPECT_NE(back.id.find("\xEF\xBF\xBD"), std::string::npos);
    // One U+FFFD per ill-formed byte.
    const std::string R = "\xEF\xBF\xBD";
    EXPECT_EQ(back.id, "a" + R + "b" + R + R + "c" + R + R + R + "d" + R + R);

    ServerMsg m{1, json(bad), bad};
    const std::string server_wire = encode(m);
    EXPECT_FALSE(validate_json_value(server_wire, DecodeLimits{}));
    EXPECT_TRUE(decode_server_frame(server_wire).ok());
}

TEST(CodecEncode, AppendClientMsgAppendsAndMatchesEncode) {
    std::string out = "prefix|";
    append_client_msg(out, 1, "a\"b", R"({"k":[1,2]})");
    append_client_msg(out, 2, "", "null");
    EXPECT_EQ(out, R"(prefix|{"type":"msg","seq":1,"id":"a\"b","data":{"k":[1,2]}})"
                   R"({"type":"msg","seq":2,"id":"","data":null})");

    const ClientMsg m{77, kTricky, R"({"nested":{"x":"y"}})"};
    std::string fast;
    append_client_msg(fast, m.seq, m.id, m.data_json);
    EXPECT_EQ(fast, encode(m));
}

TEST(CodecEncode, AppendClientMsgInsertsDataVerbatim) {
    std::string out;
    append_client_msg(out, 1, "i", R"({ "b" : 1 , "a" : 2 })");
    EXPECT_EQ(out, R"({"type":"msg","seq":1,"id":"i","data":{ "b" : 1 , "a" : 2 }})");
}

TEST(CodecEncode, EmptyDataJsonStillYieldsValidJson) {
    std::string out;
    append_client_msg(out, 1, "i", "");
    EXPECT_EQ(out, R"({"type":"msg","seq":1,"id":"i","data":null})");
}

// ---------------------------------------------------------------------------
// Malformed frames: each maps to one exact errc, with a detail.

enum class Dir { server, client };

struct BadCase {
    std::string name;
    Dir dir;
    std::string input;
    errc expected;
    std::string detail_has; // a substring the detail must contain ("" = any non-empty)
    DecodeLimits limits{};
};

// Keeps gtest from printing 100 KB inputs.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

std::string msg_with_seq(const std::string& seq) { return R"({"type":"msg","seq":)" + seq + R"(,"data":1})"; }

std::string welcome_with(const std::string& fields) { return R"({"type":"welcome",)" + fields + "}"; }

constexpr const char* kWelcomeOk = R"("session":"s","resume_token":"t","resumed":true,"last_seq":0)";

std::vector<BadCase> bad_cases() {
    const Dir S = Dir::server;
    const Dir C = Dir::client;
    std::vector<BadCase> v = {
        // --- not JSON at all
        {"not_json", S, "hello", errc::frame_invalid_json, "frame"},
        {"empty", S, "", errc::frame_invalid_json, "frame"},
        {"whitespace_only", S, " \n\t ", errc::frame_invalid_json, ""},
        {"truncated_object", S, R"({"type":"msg","seq":1)", errc::frame_invalid_json, ""},
        {"truncated_in_string", S, R"({"type":"ms)", errc::frame_invalid_json, ""},
        {"truncated_after_colon", S, R"({"type":)", errc::frame_invalid_json, ""},
        {"trailing_garbage", S, R"({"type":"ack","seq":1} x)", errc::frame_invalid_json, ""},
        {"two_objects", S, R"({"type":"ack","seq":1}{"type":"ack","seq":2})", errc::frame_invalid_json, ""},
        {"trailing_comma", S, R"({"type":"ack","seq":1,})", errc::frame_invalid_json, ""},
        {"single_quotes", S, R"({'type':'ack','seq':1})", errc::frame_invalid_json, ""},
        {"unquoted_key", S, R"({type:"ack","seq":1})", errc::frame_invalid_json, ""},
        {"comment", S, R"(/*c*/{"type":"ack","seq":1})", errc::frame_invalid_json, ""},
        {"nan_literal", S, R"({"type":"msg","seq":1,"data":NaN})", errc::frame_invalid_json, ""},
        {"seq_leading_zero", S, msg_with_seq("01"), errc::frame_invalid_json, ""},
        {"seq_plus_sign", S, msg_with_seq("+1"), errc::frame_invalid_json, ""},
        {"seq_overflows_double", S, msg_with_seq("1e999"), errc::frame_invalid_json, ""},
        {"mismatched_bracket", S, R"({"type":"ack","seq":1])", errc::frame_invalid_json, ""},
        {"only_closing_brackets", S, "]]]]}}}}", errc::frame_invalid_json, ""},
        // nlohmann's lexer takes NUL for end of input; the prescan must not.
        {"nul_after_object", S, "{\"type\":\"ack\",\"seq\":1}\0"s, errc::frame_invalid_json, "NUL"},
        {"nul_then_garbage", S, "{\"type\":\"ack\",\"seq\":1}\0{{{garbage"s, errc::frame_invalid_json, "NUL"},
        {"nul_only", S, "\0"s, errc::frame_invalid_json, ""},
        {"raw_nul_in_string", S, "{\"type\":\"msg\",\"seq\":1,\"data\":\"a\0b\"}"s, errc::frame_invalid_json, ""},
        {"raw_newline_in_string", S, "{\"type\":\"ack\n\",\"seq\":1}", errc::frame_invalid_json, ""},
        {"lone_surrogate_escape", S, R"({"type":"msg","seq":1,"data":"\ud800"})", errc::frame_invalid_json, ""},
        {"bad_escape", S, R"({"type":"msg","seq":1,"data":"\x"})", errc::frame_invalid_json, ""},
        // --- ill-formed UTF-8 (nlohmann's lexer rejects it)
        {"utf8_stray_byte", S, "{\"type\":\"msg\",\"seq\":1,\"data\":\"\xFF\"}", errc::frame_invalid_json, ""},
        {"utf8_overlong", S, "{\"type\":\"msg\",\"seq\":1,\"data\":\"\xC0\xAF\"}", errc::frame_invalid_json, ""},
        {"utf8_surrogate", S, "{\"type\":\"msg\",\"seq\":1,\"data\":\"\xED\xA0\x80\"}", errc::frame_invalid_json, ""},
        {"utf8_truncated", S, "{\"type\":\"msg\",\"seq\":1,\"data\":\"\xE6\x97\"}", errc::frame_invalid_json, ""},
        {"utf8_above_u10ffff", S, "{\"type\":\"msg\",\"seq\":1,\"data\":\"\xF4\x90\x80\x80\"}", errc::frame_invalid_json,
         ""},
        {"utf8_in_key", S, "{\"type\":\"ack\",\"seq\":1,\"\xFE\":0}", errc::frame_invalid_json, ""},
        // --- JSON, but not an object
        {"array", S, "[]", errc::frame_not_object, "array"},
        {"array_of_frame", S, R"([{"type":"ack","seq":1}])", errc::frame_not_object, ""},
        {"string", S, R"("str")", errc::frame_not_object, "string"},
        {"null", S, "null", errc::frame_not_object, "null"},
        {"number", S, "42", errc::frame_not_object, ""},
        {"boolean", S, "true", errc::frame_not_object, ""},
        // --- type
        {"missing_type", S, "{}", errc::frame_missing_field, "type"},
        {"missing_type_with_fields", S, R"({"seq":1,"data":2})", errc::frame_missing_field, "type"},
        {"type_number", S, R"({"type":5})", errc::frame_wrong_type, "type"},
        {"type_null", S, R"({"type":null})", errc::frame_wrong_type, "type"},
        {"type_array", S, R"({"type":["msg"]})", errc::frame_wrong_type, "type"},
        {"type_object", S, R"({"type":{"msg":1}})", errc::frame_wrong_type, "type"},
        // --- msg
        {"msg_missing_seq", S, R"({"type":"msg","data":1})", errc::frame_missing_field, "msg.seq"},
        {"msg_missing_data", S, R"({"type":"msg","seq":1})", errc::frame_missing_field, "msg.data"},
        {"msg_seq_string", S, msg_with_seq(R"("7")"), errc::frame_wrong_type, "msg.seq"},
        {"msg_seq_null", S, msg_with_seq("null"), errc::frame_wrong_type, "msg.seq"},
        {"msg_seq_bool", S, msg_with_seq("true"), errc::frame_wrong_type, "msg.seq"},
        {"msg_seq_array", S, msg_with_seq("[1]"), errc::frame_wrong_type, "msg.seq"},
        {"msg_seq_negative", S, msg_with_seq("-1"), errc::frame_seq_out_of_range,
         "msg.seq: expected unsigned integer < 2^53"},
        {"msg_seq_int64_min", S, msg_with_seq("-9223372036854775808"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_seq_fraction", S, msg_with_seq("1.5"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_seq_one_point_zero", S, msg_with_seq("1.0"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_seq_exponent", S, msg_with_seq("1e3"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_seq_negative_zero_float", S, msg_with_seq("-0.0"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_seq_2pow53", S, msg_with_seq("9007199254740992"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_seq_uint64_max", S, msg_with_seq("18446744073709551615"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_seq_2pow64", S, msg_with_seq("18446744073709551616"), errc::frame_seq_out_of_range, "msg.seq"},
        {"msg_id_number", S, R"({"type":"msg","seq":1,"data":1,"id":12})", errc::frame_wrong_type, "msg.id"},
        {"msg_id_object", S, R"({"type":"msg","seq":1,"data":1,"id":{}})", errc::frame_wrong_type, "msg.id"},
        // --- welcome
        {"welcome_missing_session", S, welcome_with(R"("resume_token":"t","resumed":true,"last_seq":0)"),
         errc::frame_missing_field, "welcome.session"},
        {"welcome_session_number", S, welcome_with(R"("session":1,"resume_token":"t","resumed":true,"last_seq":0)"),
         errc::frame_wrong_type, "welcome.session"},
        {"welcome_missing_resume_token", S, welcome_with(R"("session":"s","resumed":true,"last_seq":0)"),
         errc::frame_missing_field, "welcome.resume_token"},
        {"welcome_missing_resumed", S, welcome_with(R"("session":"s","resume_token":"t","last_seq":0)"),
         errc::frame_missing_field, "welcome.resumed"},
        {"welcome_resumed_string", S, welcome_with(R"("session":"s","resume_token":"t","resumed":"yes","last_seq":0)"),
         errc::frame_wrong_type, "welcome.resumed"},
        {"welcome_resumed_number", S, welcome_with(R"("session":"s","resume_token":"t","resumed":1,"last_seq":0)"),
         errc::frame_wrong_type, "welcome.resumed"},
        {"welcome_missing_last_seq", S, welcome_with(R"("session":"s","resume_token":"t","resumed":false)"),
         errc::frame_missing_field, "welcome.last_seq"},
        {"welcome_last_seq_negative", S, welcome_with(R"("session":"s","resume_token":"t","resumed":true,"last_seq":-1)"),
         errc::frame_seq_out_of_range, "welcome.last_seq"},
        {"welcome_heartbeat_string", S, welcome_with(std::string(kWelcomeOk) + R"(,"heartbeat_ms":"15000")"),
         errc::frame_wrong_type, "welcome.heartbeat_ms"},
        {"welcome_heartbeat_negative", S, welcome_with(std::string(kWelcomeOk) + R"(,"heartbeat_ms":-5)"),
         errc::frame_seq_out_of_range, "welcome.heartbeat_ms"},
        {"welcome_ttl_fraction", S, welcome_with(std::string(kWelcomeOk) + R"(,"session_ttl_ms":1.5)"),
         errc::frame_seq_out_of_range, "welcome.session_ttl_ms"},
        {"welcome_ttl_too_big", S, welcome_with(std::string(kWelcomeOk) + R"(,"session_ttl_ms":9007199254740992)"),
         errc::frame_seq_out_of_range, "welcome.session_ttl_ms"},
        // --- error
        {"error_missing_code", S, R"({"type":"error","message":"x"})", errc::frame_missing_field, "error.code"},
        {"error_code_number", S, R"({"type":"error","code":401})", errc::frame_wrong_type, "error.code"},
        {"error_code_null", S, R"({"type":"error","code":null})", errc::frame_wrong_type, "error.code"},
        {"error_message_number", S, R"({"type":"error","code":"x","message":5})", errc::frame_wrong_type,
         "error.message"},
        {"error_retry_after_negative", S, R"({"type":"error","code":"x","retry_after_ms":-1})",
         errc::frame_seq_out_of_range, "error.retry_after_ms"},
        {"error_retry_after_string", S, R"({"type":"error","code":"x","retry_after_ms":"1000"})",
         errc::frame_wrong_type, "error.retry_after_ms"},
        // --- ack
        {"ack_missing_seq", S, R"({"type":"ack"})", errc::frame_missing_field, "ack.seq"},
        {"ack_seq_bool", S, R"({"type":"ack","seq":false})", errc::frame_wrong_type, "ack.seq"},
        {"ack_seq_2pow53", S, R"({"type":"ack","seq":9007199254740992})", errc::frame_seq_out_of_range, "ack.seq"},
        // --- a client-only frame from the server
        {"hello_from_server", S, R"({"type":"hello","v":1})", errc::unexpected_frame, "hello"},
        {"bye_from_server", S, R"({"type":"bye"})", errc::unexpected_frame, "bye"},
        // --- size and depth
        {"deep_100000_arrays", S, std::string(100000, '['), errc::frame_too_deep, "deeper than 64"},
        {"deep_100000_balanced", S, std::string(100000, '[') + std::string(100000, ']'), errc::frame_too_deep, ""},
        {"deep_in_data_65", S,
         R"({"type":"msg","seq":1,"data":)" + std::string(64, '[') + std::string(64, ']') + "}",
         errc::frame_too_deep, ""},
        // A prescan that took `\\"` for an escaped quote would miss this depth.
        {"escaped_backslash_then_deep", S,
         R"({"type":"msg","seq":1,"data":["\\",)" + std::string(70, '[') + std::string(70, ']') + "]}",
         errc::frame_too_deep, ""},
        // Brackets inside an unterminated string are not depth: the parser
        // reports the real problem.
        {"unterminated_string_of_brackets", S, R"({"type":"msg","seq":1,"data":")" + std::string(100000, '['),
         errc::frame_invalid_json, ""},
        {"oversized_small_limit", S, R"({"type":"ack","seq":1,"pad":"xxxxxxxxxxxxxxxx"})", errc::frame_too_large,
         "limit of 32", DecodeLimits{32, 64}},
        {"too_deep_custom_limit", S, R"({"type":"msg","seq":1,"data":[[1]]})", errc::frame_too_deep, "",
         DecodeLimits{1024, 2}},
    };

    // 100,000 nested objects: {"a":{"a":...
    std::string deep_objects;
    for (int i = 0; i < 100000; ++i) deep_objects += R"({"a":)";
    v.push_back({"deep_100000_objects", S, deep_objects, errc::frame_too_deep, ""});

    const std::vector<BadCase> client = {
        {"c_not_object", C, "[1]", errc::frame_not_object, ""},
        {"c_invalid_json", C, "{", errc::frame_invalid_json, ""},
        {"c_deep", C, std::string(100000, '{'), errc::frame_too_deep, ""},
        {"c_hello_missing_v", C, R"({"type":"hello"})", errc::frame_missing_field, "hello.v"},
        {"c_hello_v_2", C, R"({"type":"hello","v":2})", errc::protocol_version, "hello.v"},
        {"c_hello_v_0", C, R"({"type":"hello","v":0})", errc::protocol_version, "hello.v"},
        {"c_hello_v_negative", C, R"({"type":"hello","v":-1})", errc::protocol_version, "hello.v"},
        {"c_hello_v_float", C, R"({"type":"hello","v":1.0})", errc::protocol_version, "hello.v"},
        {"c_hello_v_string", C, R"({"type":"hello","v":"1"})", errc::frame_wrong_type, "hello.v"},
        {"c_hello_v_null", C, R"({"type":"hello","v":null})", errc::frame_wrong_type, "hello.v"},
        {"c_hello_token_number", C, R"({"type":"hello","v":1,"token":5})", errc::frame_wrong_type, "hello.token"},
        {"c_hello_client_string", C, R"({"type":"hello","v":1,"client":"me"})", errc::frame_wrong_type,
         "hello.client"},
        {"c_hello_client_missing_version", C, R"({"type":"hello","v":1,"client":{"name":"n"}})",
         errc::frame_missing_field, "hello.client.version"},
        {"c_hello_client_name_number", C, R"({"type":"hello","v":1,"client":{"name":1,"version":"v"}})",
         errc::frame_wrong_type, "hello.client.name"},
        {"c_hello_resume_array", C, R"({"type":"hello","v":1,"resume":[]})", errc::frame_wrong_type, "hello.resume"},
        {"c_hello_resume_missing_last_seq", C, R"({"type":"hello","v":1,"resume":{"session":"s","resume_token":"r"}})",
         errc::frame_missing_field, "hello.resume.last_seq"},
        {"c_hello_resume_missing_token", C, R"({"type":"hello","v":1,"resume":{"session":"s","last_seq":1}})",
         errc::frame_missing_field, "hello.resume.resume_token"},
        {"c_hello_resume_last_seq_negative", C,
         R"({"type":"hello","v":1,"resume":{"session":"s","resume_token":"r","last_seq":-1}})",
         errc::frame_seq_out_of_range, "hello.resume.last_seq"},
        {"c_hello_resume_session_number", C,
         R"({"type":"hello","v":1,"resume":{"session":7,"resume_token":"r","last_seq":1}})", errc::frame_wrong_type,
         "hello.resume.session"},
        {"c_msg_missing_id", C, R"({"type":"msg","seq":1,"data":1})", errc::frame_missing_field, "msg.id"},
        {"c_msg_id_number", C, R"({"type":"msg","seq":1,"id":12,"data":1})", errc::frame_wrong_type, "msg.id"},
        {"c_msg_id_null", C, R"({"type":"msg","seq":1,"id":null,"data":1})", errc::frame_wrong_type, "msg.id"},
        {"c_msg_missing_data", C, R"({"type":"msg","seq":1,"id":"a"})", errc::frame_missing_field, "msg.data"},
        {"c_msg_seq_fraction", C, R"({"type":"msg","seq":0.5,"id":"a","data":1})", errc::frame_seq_out_of_range,
         "msg.seq"},
        {"c_msg_seq_string", C, R"({"type":"msg","seq":"1","id":"a","data":1})", errc::frame_wrong_type, "msg.seq"},
        {"c_ack_seq_string", C, R"({"type":"ack","seq":"3"})", errc::frame_wrong_type, "ack.seq"},
        {"c_ack_seq_negative", C, R"({"type":"ack","seq":-3})", errc::frame_seq_out_of_range, "ack.seq"},
        {"c_welcome_from_client", C, welcome_with(kWelcomeOk), errc::unexpected_frame, "welcome"},
        {"c_error_from_client", C, R"({"type":"error","code":"x"})", errc::unexpected_frame, "error"},
    };
    v.insert(v.end(), client.begin(), client.end());
    return v;
}

class CodecMalformed : public ::testing::TestWithParam<BadCase> {};

TEST_P(CodecMalformed, MapsToExactError) {
    const BadCase& c = GetParam();
    std::error_code got;
    std::string detail;
    if (c.dir == Dir::server) {
        const Result<ServerFrame> r = decode_server_frame(c.input, c.limits);
        ASSERT_FALSE(r.ok()) << "decoded to variant index " << r.value().index();
        got = r.error();
        detail = r.detail();
    } else {
        const Result<ClientFrame> r = decode_client_frame(c.input, c.limits);
        ASSERT_FALSE(r.ok()) << "decoded to variant index " << r.value().index();
        got = r.error();
        detail = r.detail();
    }
    EXPECT_EQ(got, make_error_code(c.expected))
        << "got " << tether::errc_name(static_cast<errc>(got.value())) << " / want " << tether::errc_name(c.expected)
        << "; detail: " << detail;
    EXPECT_FALSE(detail.empty());
    if (!c.detail_has.empty()) {
        EXPECT_NE(detail.find(c.detail_has), std::string::npos) << "detail: " << detail;
    }
}

INSTANTIATE_TEST_SUITE_P(Frames, CodecMalformed, ::testing::ValuesIn(bad_cases()),
                         [](const ::testing::TestParamInfo<BadCase>& p) { return p.param.name; });

TEST(CodecMalformedTable, HasAtLeastFortyServerCases) {
    std::size_t server = 0;
    for (const BadCase& c : bad_cases()) server += c.dir == Dir::server ? 1 : 0;
    EXPECT_GE(server, 40u);
}

// ---------------------------------------------------------------------------
// Limits and boundaries that must be accepted

TEST(CodecDecode, SeqBoundariesAccepted) {
    EXPECT_EQ(expect_frame<Ack>(decode_server_frame(R"({"type":"ack","seq":0})")).seq, 0u);
    EXPECT_EQ(expect_frame<Ack>(decode_server_frame(R"({"type":"ack","seq":9007199254740991})")).seq, kMaxSeq);
    // "-0" is the JSON integer zero.
    EXPECT_EQ(expect_frame<Ack>(decode_server_frame(R"({"type":"ack","seq":-0})")).seq, 0u);
}

TEST(CodecDecode, DepthExactlyAtLimitAccepted) {
    // The frame object is depth 1, so data may nest 63 more levels by default.
    const std::string ok =
        R"({"type":"msg","seq":1,"data":)" + std::string(63, '[') + std::string(63, ']') + "}";
    EXPECT_TRUE(decode_server_frame(ok).ok());
    const DecodeLimits two{1024, 2};
    EXPECT_TRUE(decode_server_frame(R"({"type":"msg","seq":1,"data":[1]})", two).ok());
}

TEST(CodecDecode, SizeExactlyAtLimitAccepted) {
    const std::string frame = R"({"type":"ack","seq":1})";
    EXPECT_TRUE(decode_server_frame(frame, DecodeLimits{frame.size(), 64}).ok());
    const Result<ServerFrame> r = decode_server_frame(frame, DecodeLimits{frame.size() - 1, 64});
    EXPECT_EQ(r.error(), make_error_code(errc::frame_too_large));
}

TEST(CodecDecode, OversizedWithDefaultLimitRejectedBeforeParsing) {
    // 16 MiB + 1 of whitespace: valid JSON padding, refused on size alone.
    std::string big = R"({"type":"ack","seq":1})";
    big.append(DecodeLimits{}.max_bytes + 1 - big.size(), ' ');
    EXPECT_EQ(decode_server_frame(big).error(), make_error_code(errc::frame_too_large));
    EXPECT_EQ(decode_client_frame(big).error(), make_error_code(errc::frame_too_large));
}

TEST(CodecDecode, BracketsInsideStringsAreNotDepth) {
    const std::string deep_text = std::string(100000, '[') + std::string(50000, '{');
    const ServerMsg m = expect_frame<ServerMsg>(
        decode_server_frame(R"({"type":"msg","seq":1,"data":")" + deep_text + R"("})"));
    EXPECT_EQ(m.data, json(deep_text));

    // An escaped quote does not end the string.
    const ServerMsg q = expect_frame<ServerMsg>(
        decode_server_frame(R"({"type":"msg","seq":2,"data":"\")" + std::string(1000, '[') + R"("})"));
    EXPECT_EQ(q.data, json("\"" + std::string(1000, '[')));

    // Same for keys and for ids.
    const ClientMsg c = expect_frame<ClientMsg>(decode_client_frame(
        R"({"type":"msg","seq":3,"id":")" + std::string(5000, '{') + R"(","data":{"[[[[":1}})"));
    EXPECT_EQ(c.id, std::string(5000, '{'));
    EXPECT_EQ(c.data_json, R"({"[[[[":1})");
}

TEST(CodecDecode, NullOptionalFieldsCountAsAbsent) {
    const Welcome w = expect_frame<Welcome>(decode_server_frame(
        R"({"type":"welcome","session":"s","resume_token":"t","resumed":false,"last_seq":0,)"
        R"("heartbeat_ms":null,"session_ttl_ms":null})"));
    EXPECT_FALSE(w.heartbeat_ms.has_value());
    EXPECT_FALSE(w.session_ttl_ms.has_value());

    const ErrorFrame e = expect_frame<ErrorFrame>(
        decode_server_frame(R"({"type":"error","code":"server_busy","message":null,"retry_after_ms":null})"));
    EXPECT_EQ(e.code, "server_busy");
    EXPECT_FALSE(e.message.has_value());
    EXPECT_FALSE(e.retry_after_ms.has_value());

    const ServerMsg m = expect_frame<ServerMsg>(decode_server_frame(R"({"type":"msg","seq":1,"data":null,"id":null})"));
    EXPECT_TRUE(m.data.is_null());
    EXPECT_FALSE(m.id.has_value());

    const Hello h = expect_frame<Hello>(
        decode_client_frame(R"({"type":"hello","v":1,"token":null,"client":null,"resume":null})"));
    EXPECT_FALSE(h.token || h.client || h.resume);
}

TEST(CodecDecode, ClientMsgDataIsStoredCompact) {
    const ClientMsg m = expect_frame<ClientMsg>(
        decode_client_frame(R"({ "type" : "msg", "seq" : 5, "id" : "a", "data" : { "k" : [ 1 , 2 ] , "s" : "x" } })"));
    EXPECT_EQ(m.seq, 5u);
    EXPECT_EQ(m.data_json, R"({"k":[1,2],"s":"x"})");
}

TEST(CodecDecode, WhitespaceAroundFrameAccepted) {
    EXPECT_EQ(expect_frame<Ack>(decode_server_frame(" \r\n\t{\"type\":\"ack\",\"seq\":4} \n")).seq, 4u);
}

TEST(CodecDecode, DuplicateKeysLastOneWins) {
    EXPECT_EQ(expect_frame<Ack>(decode_server_frame(R"({"type":"ack","seq":1,"seq":2})")).seq, 2u);
}

// ---------------------------------------------------------------------------
// Forward compatibility

TEST(CodecForwardCompat, UnknownTypeIsUnknownFrameBothDirections) {
    const std::string frame = R"({"type":"presence","who":"x","seq":"not checked","data":[1,{"a":null}]})";
    EXPECT_EQ(expect_frame<UnknownFrame>(decode_server_frame(frame)).type, "presence");
    EXPECT_EQ(expect_frame<UnknownFrame>(decode_client_frame(frame)).type, "presence");
    EXPECT_EQ(expect_frame<UnknownFrame>(decode_server_frame(R"({"type":""})")).type, "");
    // Case matters: "ACK" is not "ack".
    EXPECT_EQ(expect_frame<UnknownFrame>(decode_server_frame(R"({"type":"ACK","seq":"x"})")).type, "ACK");
}

TEST(CodecForwardCompat, UnknownFieldsIgnoredAnyOrder) {
    EXPECT_EQ(expect_frame<Ack>(decode_server_frame(R"({"seq":3,"extra":{"deep":[1,2]},"z":null,"type":"ack"})")).seq,
              3u);
    const Welcome w = expect_frame<Welcome>(decode_server_frame(
        R"({"type":"welcome","v2_feature":true,"session":"s","resume_token":"t","resumed":true,"last_seq":9,"x":[]})"));
    EXPECT_EQ(w.session, "s");
    EXPECT_EQ(w.last_seq, 9u);
    const ServerMsg m =
        expect_frame<ServerMsg>(decode_server_frame(R"({"type":"msg","seq":1,"data":"d","ts":12345,"meta":{}})"));
    EXPECT_EQ(m.data, json("d"));
    const Hello h = expect_frame<Hello>(decode_client_frame(
        R"({"type":"hello","v":1,"caps":["x"],"client":{"name":"n","version":"v","os":"linux"}})"));
    ASSERT_TRUE(h.client.has_value());
    EXPECT_EQ(h.client->name, "n");
    EXPECT_EQ(expect_frame<ClientMsg>(decode_client_frame(R"({"type":"msg","seq":1,"id":"i","data":0,"x":1})")).id,
              "i");
    const Result<ClientFrame> bye = decode_client_frame(R"({"type":"bye","reason":"done"})");
    ASSERT_TRUE(bye.ok());
    EXPECT_TRUE(std::holds_alternative<Bye>(bye.value()));
}

// ---------------------------------------------------------------------------
// validate_json_value

TEST(CodecValidate, AcceptsExactlyOneValueOfAnyType) {
    for (const char* ok : {"0", "-1.5e3", "\"s\"", "\"\"", "null", "true", "false", "[]", "{}",
                           " {\"a\":[1,{\"b\":null}]} ", "\"\xE6\x97\xA5\"", "\"\\u00e9\\ud83d\\ude00\"", "\n[1]\n"}) {
        std::string detail = "untouched";
        EXPECT_FALSE(validate_json_value(ok, DecodeLimits{}, &detail)) << ok;
        EXPECT_EQ(detail, "untouched");
    }
}

TEST(CodecValidate, RejectsInvalidJson) {
    const std::vector<std::string> cases = {"", " ", "1 2", "{} x", "{", "tru", "'a'", "NaN", "[1,]", "/*x*/1",
                                            "\"\\ud800\"", "01", "\"a\nb\"", "{\"a\"}", "1e999",
                                            // NUL ends nlohmann's input; it must not end ours
                                            "1\0garbage"s, "\"a\0b\""s, "\0"s};
    for (const std::string& bad : cases) {
        std::string detail;
        EXPECT_EQ(validate_json_value(bad, DecodeLimits{}, &detail), make_error_code(errc::invalid_json)) << bad;
        EXPECT_FALSE(detail.empty()) << bad;
    }
    // The detail pointer is optional.
    EXPECT_EQ(validate_json_value("{", DecodeLimits{}), make_error_code(errc::invalid_json));
}

TEST(CodecValidate, RejectsIllFormedUtf8AsInvalidUtf8) {
    const std::vector<std::string> cases = {"\"\xFF\"",         "\"\xC0\xAF\"", "\"\xED\xA0\x80\"",
                                            "\"\xE6\x97\"",     "\xFF",        "[\"ok\",\"\xF4\x90\x80\x80\"]"};
    for (const std::string& bad : cases) {
        std::string detail;
        EXPECT_EQ(validate_json_value(bad, DecodeLimits{}, &detail), make_error_code(errc::invalid_utf8)) << bad;
        EXPECT_FALSE(detail.empty());
    }
}

TEST(CodecValidate, SizeLimit) {
    const DecodeLimits four{4, 64};
    EXPECT_FALSE(validate_json_value("1234", four));
    std::string detail;
    EXPECT_EQ(validate_json_value("12345", four, &detail), make_error_code(errc::message_too_large));
    EXPECT_NE(detail.find("limit"), std::string::npos);
}

TEST(CodecValidate, DepthLimit) {
    const DecodeLimits two{1024, 2};
    EXPECT_FALSE(validate_json_value("[[1]]", two));
    EXPECT_FALSE(validate_json_value("{\"a\":[1],\"b\":{}}", two));
    EXPECT_EQ(validate_json_value("[[[1]]]", two), make_error_code(errc::frame_too_deep));
    EXPECT_EQ(validate_json_value(std::string(100000, '['), DecodeLimits{}), make_error_code(errc::frame_too_deep));
    // Brackets inside strings do not count.
    EXPECT_FALSE(validate_json_value("\"" + std::string(100000, '[') + "\"", DecodeLimits{}));
    EXPECT_FALSE(validate_json_value(R"(["\\",[1]])", two));
    EXPECT_EQ(validate_json_value(R"(["\\",[[1]]])", two), make_error_code(errc::frame_too_deep));
}

// ---------------------------------------------------------------------------
// Hostile input: seeded mutations of valid frames never crash or throw, and
// every failure is one of the decoder's codes with a detail.

bool is_decoder_error(const std::error_code& ec) {
    if (ec.category() != tether::error_category()) return false;
    switch (static_cast<errc>(ec.value())) {
    case errc::frame_invalid_json:
    case errc::frame_not_object:
    case errc::frame_missing_field:
    case errc::frame_wrong_type:
    case errc::frame_seq_out_of_range:
    case errc::frame_too_large:
    case errc::frame_too_deep:
    case errc::protocol_version:
    case errc::unexpected_frame:
        return true;
    default:
        return false;
    }
}

TEST(CodecFuzz, MutatedFramesNeverCrash) {
    const std::vector<std::string> seeds = {
        encode(Hello{"tok", ClientInfo{"n", "v"}, ResumeRequest{"s", "r", 3}}),
        encode(ClientMsg{1, "id\"\\", R"({"a":[1,"x",{"b":null}]})"}),
        encode(Ack{5}),
        encode(Bye{}),
        encode(Welcome{"s", "t", true, 2, 15000, 60000}),
        encode(ServerMsg{9, json{{"k", {1, 2, 3}}, {"u", "\xC3\xA9"}}, "c"}),
        encode(ErrorFrame{"server_busy", "m", 100}),
    };
    const std::string alphabet = "[]{}\",:\\ 0123456789-+.eEtrufalsn\x00\x7f\x80\xbf\xc3\xed\xff"s;
    std::mt19937 rng(20240601);
    const DecodeLimits small{256, 8};
    std::size_t ok_count = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        std::string s = seeds[rng() % seeds.size()];
        const auto edits = static_cast<unsigned>(1 + rng() % 4);
        for (unsigned e = 0; e < edits && !s.empty(); ++e) {
            const std::size_t pos = rng() % s.size();
            const char ch = alphabet[rng() % alphabet.size()];
            switch (rng() % 4) {
            case 0: s[pos] = ch; break;
            case 1: s.erase(pos, 1); break;
            case 2: s.insert(pos, 1, ch); break;
            default: s.resize(pos); break;
            }
        }
        const DecodeLimits& limits = iter % 2 == 0 ? DecodeLimits{} : small;
        const Result<ServerFrame> rs = decode_server_frame(s, limits);
        const Result<ClientFrame> rc = decode_client_frame(s, limits);
        for (const auto& [ok, ec, detail] : {std::tuple{rs.ok(), rs.error(), rs.ok() ? std::string() : rs.detail()},
                                             std::tuple{rc.ok(), rc.error(), rc.ok() ? std::string() : rc.detail()}}) {
            if (ok) {
                ++ok_count;
                continue;
            }
            ASSERT_TRUE(is_decoder_error(ec)) << ec.message() << " for input: " << s;
            ASSERT_FALSE(detail.empty()) << s;
        }
        (void)validate_json_value(s, limits);
    }
    EXPECT_GT(ok_count, 0u); // some mutations stay valid (e.g. edits inside strings)
}

} // namespace
