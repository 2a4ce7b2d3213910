// Small, pure helpers of the websocketpp transport, kept out of the websocketpp
// translation unit so they compile fast and can be tested alone.
//
// Thread safety: everything here is pure except BufferedCsprng, which locks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace tether::transport::detail {

struct WsUrl {
    bool secure = false;
    std::string host; // without IPv6 brackets
    std::uint16_t port = 0;
    std::string normalized; // lower-case scheme, otherwise as given
};

// Accepts ws:// and wss:// URLs (scheme case-insensitive) that websocketpp can
// parse. Rejects user info, fragments (RFC 6455 §3), empty hosts, bad ports,
// whitespace and control characters. On failure returns nullopt and sets `why`.
std::optional<WsUrl> parse_ws_url(std::string_view url, std::string& why);

// http://host[:port][/] of an HTTP CONNECT proxy (https proxies are not
// supported). Returns the URL with a lower-case scheme, as websocketpp needs.
std::optional<std::string> normalize_proxy_url(std::string_view url, std::string& why);

// RFC 7230 token (header names, subprotocols).
bool is_http_token(std::string_view s);
// A header value that cannot split the request: no CR, LF, NUL or other
// control characters except HTAB.
bool is_safe_header_value(std::string_view s);

// Retry-After: delay-seconds or an IMF-fixdate HTTP-date (RFC 9110 §10.2.3).
// A date in the past gives zero. Unparseable: nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

// Truncates to at most `max_bytes` without splitting a UTF-8 sequence (close
// reasons are limited to 123 bytes and must stay valid UTF-8).
std::string truncate_utf8(std::string_view s, std::size_t max_bytes);

// base64(SHA-256(DER SubjectPublicKeyInfo)) as used by SPKI pins.
std::string base64(const unsigned char* data, std::size_t len);

// Masking keys and Sec-WebSocket-Key bytes for websocketpp (its `rng_type`),
// and for the frames the transport masks itself (mask_in_place).
// RFC 6455 §5.3 requires unpredictable masking keys, so the source is OpenSSL's
// CSPRNG; it is drawn in 4 KiB blocks because a syscall or RDSEED per frame
// (the stock std::random_device) dominated CPU. If OpenSSL ever fails, it
// falls back to std::random_device (the stock behaviour), never to a weak PRNG.
// Every instance draws from one process-wide pool (a lock per word): two
// endpoints per client each holding 4 KiB was a third of an idle client's
// memory. A forked child never reuses the parent's buffered bytes.
class BufferedCsprng {
public:
    BufferedCsprng() = default;
    BufferedCsprng(const BufferedCsprng&) = delete;
    BufferedCsprng& operator=(const BufferedCsprng&) = delete;

    std::uint32_t operator()();
};

// XORs `data` with the 4-byte masking key `key` (its bytes in memory order, as
// websocketpp writes them into the frame header), 8 bytes at a time.
void mask_in_place(char* data, std::size_t size, std::uint32_t key) noexcept;

// Appends one complete client text frame (RFC 6455 §5.2: FIN, opcode text,
// the shortest length encoding, masked with `key`) carrying `text` to `wire`.
// The key's bytes go into the header in memory order, as mask_in_place uses them.
void append_masked_text_frame(std::string& wire, std::string_view text, std::uint32_t key);

// is_valid_utf8 with a fast path for runs of ASCII (8 bytes at a time).
bool is_valid_utf8_fast(std::string_view s) noexcept;

} // namespace tether::transport::detail
