// The codec's fast path: a single-pass, allocation-free JSON scanner that
// decodes the hot frames (msg and ack, both directions) and validates send()
// payloads without building an nlohmann DOM. Private to codec.cpp.
//
// Contract: the fast path is an accelerator, never a second opinion. Each
// function either returns the exact result the DOM path (codec.cpp) would
// return, or declines (nullopt / false), and the caller then runs the DOM
// path, which also produces every error and its detail. So the scanner may
// be stricter than nlohmann's parser (declining costs only time) but must
// never accept what nlohmann rejects, and it declines on anything it does
// not decide cheaply: escaped keys, duplicate fields, welcome/error/hello/
// bye frames, nesting deeper than 128, a client payload that is not already
// in nlohmann's compact dump form (sorted keys, no whitespace, no floats),
// and every malformed frame.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "core/codec.hpp"
#include "core/frames.hpp"

namespace tether::core::fast {

std::optional<ServerFrame> decode_server_frame(std::string_view text, const DecodeLimits& limits);
std::optional<ClientFrame> decode_client_frame(std::string_view text, const DecodeLimits& limits);

// True only if `text` is exactly one valid JSON value (whitespace around it
// allowed) within `max_bytes` and `max_depth`, as nlohmann's strict parse
// would accept it. False means "not known valid": ask the slow path.
bool is_valid_json_value(std::string_view text, const DecodeLimits& limits);

// True only if check_nesting(text, max_depth) passes: brackets outside
// strings nest at most `max_depth` deep and no NUL byte is outside a string,
// counted exactly as the DOM path's byte-wise pre-scan counts (a backslash
// in a string skips the next byte; an unterminated string runs to the end).
// String contents are skipped 8 bytes at a time. False: ask the slow path.
bool nesting_within(std::string_view text, std::size_t max_depth) noexcept;

} // namespace tether::core::fast
