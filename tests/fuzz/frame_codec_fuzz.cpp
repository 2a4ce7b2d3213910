// libFuzzer target: arbitrary bytes into the tether.v1 codec.
//
// The codec has two decoders: an allocation-free fast path (codec_fast.cpp)
// for msg/ack frames and valid payloads, which may only accept or decline,
// and the DOM path (nlohmann, core::dom::*), which decides everything else
// and words every error. For every input, under the default limits and
// under tight limits derived from the input, it checks that
//   - fast path vs DOM path: when fast::decode_server_frame /
//     fast::decode_client_frame return a frame, the DOM path accepts the
//     same text and decodes an identical frame (json `data` compared with
//     its exact types: unsigned/integer/float, -0.0, key order); when
//     fast::is_valid_json_value says true, dom::validate_json_value agrees.
//     (The public functions are "fast path, else DOM path" by construction,
//     so this makes them give exactly the DOM path's result: same success,
//     same errc, same detail text, same values. The checks below call the
//     public functions, so the wiring is exercised too);
//   - the same differential check on the input spliced as the `data` of a
//     server and of a client msg frame (random bytes rarely form a frame, so
//     this aims the fast path's value scanner at every input);
//   - decode_server_frame / decode_client_frame / validate_json_value never
//     crash, never throw, and fail only with the error codes codec.hpp lists;
//   - a decoded frame re-encodes to text that decodes to an equal frame (all
//     fields compared, json types included; only signed vs unsigned integer
//     kinds may differ: `-0` comes back as `0`), and that text is canonical:
//     encoding it again gives the same bytes;
//   - tighter DecodeLimits can only add frame_too_large / frame_too_deep: a
//     frame accepted under tight limits is accepted, equal, under the defaults;
//   - a payload validate_json_value accepts for send() (kMaxPayloadDepth: the
//     payload sits inside the frame object) embeds into
//     a client msg frame that a peer with default limits decodes, with the
//     same JSON value as `data`.
// A violation prints what broke and aborts, so libFuzzer keeps the input.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "core/utf8.hpp"
#include "../support/json_strict_equal.hpp"

namespace {

using namespace tether::core;
using tether::errc;
using nlohmann::json;

std::string_view g_input; // the current input, for the report

[[noreturn]] void violation(const char* what, int line) {
    std::fprintf(stderr, "\nframe_codec_fuzz: invariant violated at line %d: %s\ninput (%zu bytes): ", line, what,
                 g_input.size());
    for (const char c : g_input.substr(0, 512)) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f && b != '\\') std::fputc(b, stderr);
        else std::fprintf(stderr, "\\x%02x", b);
    }
    std::fputc('\n', stderr);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) violation(#cond, __LINE__);                                                                       \
    } while (false)

// ---- field-by-field equality -------------------------------------------------

bool same(const Welcome& a, const Welcome& b) {
    return a.session == b.session && a.resume_token == b.resume_token && a.resumed == b.resumed &&
           a.last_seq == b.last_seq && a.heartbeat_ms == b.heartbeat_ms && a.session_ttl_ms == b.session_ttl_ms;
}
// How integer kinds compare (see json_strict_equal.hpp): exactly for the fast
// path against the DOM path, loosely for a re-encoding.
using tether::test::IntKind;
IntKind g_int_kind = IntKind::exact;

bool strict_equal(const json& a, const json& b) { return tether::test::strict_equal(a, b, g_int_kind); }

bool same(const ServerMsg& a, const ServerMsg& b) {
    return a.seq == b.seq && a.id == b.id && strict_equal(a.data, b.data);
}
bool same(const Ack& a, const Ack& b) { return a.seq == b.seq; }
bool same(const ErrorFrame& a, const ErrorFrame& b) {
    return a.code == b.code && a.message == b.message && a.retry_after_ms == b.retry_after_ms;
}
bool same(const UnknownFrame& a, const UnknownFrame& b) { return a.type == b.type; }
bool same(const Bye&, const Bye&) { return true; }
bool same(const ClientMsg& a, const ClientMsg& b) {
    return a.seq == b.seq && a.id == b.id && a.data_json == b.data_json;
}
bool same(const Hello& a, const Hello& b) {
    if (a.token != b.token || a.client.has_value() != b.client.has_value() ||
        a.resume.has_value() != b.resume.has_value())
        return false;
    if (a.client && (a.client->name != b.client->name || a.client->version != b.client->version)) return false;
    if (a.resume && (a.resume->session != b.resume->session || a.resume->resume_token != b.resume->resume_token ||
                     a.resume->last_seq != b.resume->last_seq || a.resume->attempt != b.resume->attempt))
        return false;
    return true;
}

template <class Variant>
bool same_frame(const Variant& a, const Variant& b) {
    if (a.index() != b.index()) return false;
    return std::visit(
        [&b](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            return same(x, std::get<T>(b));
        },
        a);
}

// Strings the decoder hands out must be valid UTF-8 (the parser guarantees
// it; a violation would mean ill-formed text reaches the application).
bool utf8_fields(const ServerFrame& f) {
    return match(
        f, [](const Welcome& w) { return is_valid_utf8(w.session) && is_valid_utf8(w.resume_token); },
        [](const ServerMsg& m) { return !m.id || is_valid_utf8(*m.id); },
        [](const Ack&) { return true; },
        [](const ErrorFrame& e) { return is_valid_utf8(e.code) && (!e.message || is_valid_utf8(*e.message)); },
        [](const UnknownFrame& u) { return is_valid_utf8(u.type); });
}

bool frame_error(std::error_code ec) {
    static const errc allowed[] = {errc::frame_invalid_json, errc::frame_not_object, errc::frame_missing_field,
                                   errc::frame_wrong_type,   errc::frame_seq_out_of_range, errc::frame_too_large,
                                   errc::frame_too_deep,     errc::unexpected_frame, errc::protocol_version};
    for (const errc e : allowed)
        if (ec == e) return true;
    return false;
}

bool limit_error(std::error_code ec) { return ec == errc::frame_too_large || ec == errc::frame_too_deep; }

template <class Frame>
std::string encode_frame(const Frame& f) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, UnknownFrame>) return {};
            else return encode(x);
        },
        f);
}

// ---- checks ---------------------------------------------------------------------

// Fast path vs DOM path on one text and one set of limits. Where the fast
// path declines, the public function runs the DOM path itself, so only an
// acceptance by the fast path needs comparing.
void check_value_paths(std::string_view text, const DecodeLimits& limits) {
    if (fast::is_valid_json_value(text, limits)) FUZZ_CHECK(!dom::validate_json_value(text, limits));
}

void check_both_paths(std::string_view text, const DecodeLimits& limits) {
    if (const auto fast = fast::decode_server_frame(text, limits)) {
        const auto dom = dom::decode_server_frame(text, limits);
        FUZZ_CHECK(dom.ok());
        FUZZ_CHECK(same_frame(*fast, dom.value()));
    }
    if (const auto fast = fast::decode_client_frame(text, limits)) {
        const auto dom = dom::decode_client_frame(text, limits);
        FUZZ_CHECK(dom.ok());
        FUZZ_CHECK(same_frame(*fast, dom.value()));
    }
    check_value_paths(text, limits);
}

template <class Frame, class Decode>
void check_direction(std::string_view text, const DecodeLimits& tight, Decode decode) {
    auto r = decode(text, DecodeLimits{});
    if (!r.ok()) {
        FUZZ_CHECK(frame_error(r.error()));
        FUZZ_CHECK(!r.detail().empty());
    }

    // Tighter limits only add limit errors.
    auto t = decode(text, tight);
    if (t.ok()) {
        FUZZ_CHECK(r.ok());
        FUZZ_CHECK(same_frame(t.value(), r.value()));
    } else if (r.ok()) {
        FUZZ_CHECK(limit_error(t.error()));
    }

    if (!r.ok()) return;
    const Frame& frame = r.value();
    if (std::holds_alternative<UnknownFrame>(frame)) {
        const std::string& type = std::get<UnknownFrame>(frame).type;
        FUZZ_CHECK(type != "msg" && type != "ack" && type != "hello" && type != "bye" && type != "welcome" &&
                   type != "error");
        return;
    }

    // Round trip: encode(decode(x)) decodes to an equal frame (integer kinds
    // aside, see strict_equal), canonically.
    const std::string encoded = encode_frame(frame);
    auto again = decode(encoded, DecodeLimits{});
    FUZZ_CHECK(again.ok());
    g_int_kind = IntKind::any;
    const bool round_trip_equal = same_frame(frame, again.value());
    g_int_kind = IntKind::exact;
    FUZZ_CHECK(round_trip_equal);
    FUZZ_CHECK(encode_frame(again.value()) == encoded);
}

void check_payload(std::string_view text) {
    // send() checks payloads against kMaxPayloadDepth: the frame depth limit
    // minus the frame object itself; see Session::send.
    DecodeLimits payload_limits;
    payload_limits.max_depth = kMaxPayloadDepth;
    std::string detail;
    const std::error_code ec = validate_json_value(text, payload_limits, &detail);
    if (ec) {
        FUZZ_CHECK(ec == errc::invalid_json || ec == errc::invalid_utf8 || ec == errc::message_too_large ||
                   ec == errc::frame_too_deep);
        FUZZ_CHECK(!detail.empty());
        return;
    }
    // Accepted: the client frame carrying it must be acceptable to a peer
    // that uses the default limits, and carry the same value.
    std::string frame;
    append_client_msg(frame, 1, "fuzz-id", text);
    auto decoded = decode_client_frame(frame);
    FUZZ_CHECK(decoded.ok());
    const auto* msg = std::get_if<ClientMsg>(&decoded.value());
    FUZZ_CHECK(msg != nullptr);
    FUZZ_CHECK(msg->seq == 1 && msg->id == "fuzz-id");
    const json standalone = json::parse(text.data(), text.data() + text.size(), nullptr, false);
    FUZZ_CHECK(!standalone.is_discarded());
    FUZZ_CHECK(json::parse(msg->data_json, nullptr, false) == standalone);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    g_input = text;
    // Tight limits derived from the input, so both paths get exercised.
    DecodeLimits tight;
    tight.max_depth = 1 + size % 6;
    tight.max_bytes = size == 0 ? 0 : size - (size % 3 == 0 ? 1 : 0);
    // Send-side payload limits (what Session::send() uses, max_bytes aside).
    DecodeLimits payload_limits;
    payload_limits.max_depth = kMaxPayloadDepth;
    try {
        check_both_paths(text, DecodeLimits{});
        check_both_paths(text, tight);
        check_value_paths(text, payload_limits);
        {
            // The input as the data of a msg frame, in both directions.
            std::string frame = R"({"type":"msg","seq":7,"id":"m-7","data":)";
            frame.append(text).push_back('}');
            check_both_paths(frame, DecodeLimits{});
            DecodeLimits frame_tight = tight;
            frame_tight.max_bytes = tight.max_bytes + (frame.size() - text.size());
            frame_tight.max_depth = tight.max_depth + 1;
            check_both_paths(frame, frame_tight);
        }
        check_direction<ServerFrame>(text, tight, [](std::string_view s, const DecodeLimits& l) {
            auto r = decode_server_frame(s, l);
            if (r.ok()) FUZZ_CHECK(utf8_fields(r.value()));
            return r;
        });
        check_direction<ClientFrame>(text, tight, [](std::string_view s, const DecodeLimits& l) {
            return decode_client_frame(s, l);
        });
        check_payload(text);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        violation("an exception escaped the codec", __LINE__);
    } catch (...) {
        violation("an exception escaped the codec", __LINE__);
    }
    return 0;
}
