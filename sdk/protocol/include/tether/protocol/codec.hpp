// tether.v1 frame codec: JSON text <-> frame structs.
//
// Decoding never throws and never trusts its input: invalid JSON or UTF-8, a
// non-object, a missing or mistyped field, a seq outside [0, 2^53), input over
// `max_bytes` or nested deeper than `max_depth` each return a specific errc
// (frame_*), with a detail naming the field. A frame with an unknown `type`
// decodes to UnknownFrame (not an error). Unknown fields are ignored.
//
// Encoding produces compact JSON with `type` first. Encoding cannot fail: the
// structs hold valid values by construction (data_json must be valid JSON;
// the session validates it at send()).
//
// Thread safety: all functions are pure; safe from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tether/protocol/frames.hpp"
#include "tether/protocol/result.hpp"

namespace tether::core {

// A payload sits one level below the frame object, so payloads nested deeper
// than this would make a frame the peer (default depth 64) must refuse, and
// the message would be re-sent forever. send() enforces it.
inline constexpr std::size_t kMaxPayloadDepth = 63;

struct DecodeLimits {
    std::size_t max_bytes = 16 * 1024 * 1024;
    std::size_t max_depth = 64; // of the whole frame, the frame object itself is depth 1
    // ServerMsg: hand the payload on as text (data_json, in nlohmann's compact
    // dump form; `data` stays null) instead of as a DOM, for receivers that
    // pass it on as text (the C ABI). A payload already in that form is
    // copied from the frame; any other is parsed and dumped.
    bool payload_as_text = false;
};

Result<ServerFrame> decode_server_frame(std::string_view text, const DecodeLimits& limits = {});
Result<ClientFrame> decode_client_frame(std::string_view text, const DecodeLimits& limits = {});

std::string encode(const Hello& f);
std::string encode(const ClientMsg& f);
std::string encode(const Ack& f);
std::string encode(const Bye& f);
std::string encode(const Welcome& f);
std::string encode(const ServerMsg& f);
std::string encode(const ErrorFrame& f);

// Fast path for the hot loop: appends {"type":"msg","seq":S,"id":"I","data":D}
// to `out` without building a ClientMsg. `data_json` must be valid JSON.
void append_client_msg(std::string& out, std::uint64_t seq, std::string_view id, std::string_view data_json);

// The server's counterpart (what encode(ServerMsg) produces):
// {"type":"msg","seq":S[,"id":"I"],"data":D}, with `data_json` spliced in
// verbatim. Give it nlohmann's compact dump of the value (as
// ClientMsg::data_json is) and the bytes equal encode(ServerMsg).
void append_server_msg(std::string& out, std::uint64_t seq, const std::optional<std::string_view>& id,
                       std::string_view data_json);

// Appends `s` as a quoted JSON string, escaped exactly as nlohmann's compact
// dump escapes valid UTF-8 (ill-formed bytes become U+FFFD).
void append_json_quoted(std::string& out, std::string_view s);

// The DOM path of the decoders and of validate_json_value alone, without the
// allocation-free fast path (codec_fast.hpp) in front: for differential
// tests, which check that the fast path agrees with it.
namespace dom {
Result<ServerFrame> decode_server_frame(std::string_view text, const DecodeLimits& limits = {});
Result<ClientFrame> decode_client_frame(std::string_view text, const DecodeLimits& limits = {});
std::error_code validate_json_value(std::string_view text, const DecodeLimits& limits, std::string* detail = nullptr);
std::error_code check_nesting(std::string_view text, std::size_t max_depth);
} // namespace dom

// Only the cheap nesting check of validate_json_value (for payloads the SDK
// serialized itself): errc::frame_too_deep when deeper than `max_depth`.
std::error_code check_nesting(std::string_view text, std::size_t max_depth);

// Validates that `text` is exactly one JSON value (any type) of at most
// `limits`; used to check payloads given to send(). Returns the error code
// invalid_json / invalid_utf8 / message_too_large / frame_too_deep.
std::error_code validate_json_value(std::string_view text, const DecodeLimits& limits, std::string* detail = nullptr);

} // namespace tether::core
