/// @file
/// tether error codes: one std::error_code category for the whole SDK.
///
/// Values are stable and only ever appended: the C ABI exposes them as
/// negative ints (TETHER_E_* == -value). Every code belongs to one kind:
///   - local:   the caller misused the API (nothing was sent, state unchanged);
///   - remote:  the peer or the network misbehaved (counted, reported, and the
///              session reacts as the close-code table in docs/protocol.md says);
///   - storage: the persistence file (ClientOptions::persistence) cannot be
///              opened or written; docs/persistence.md says what each means.
/// Test the kind with `ec == tether::error_kind::local`.
///
/// Three codes say "too big"; they differ in direction and in who noticed:
///   - message_too_large: an outgoing payload over outbox.max_message_bytes,
///     refused by send() (local: nothing was queued);
///   - message_too_big:   an inbound WebSocket message over
///     max_inbound_message_bytes (the SDK closes 1009), or the peer closed
///     1009 because of one of ours; the session backs off and resumes, and
///     fails after kOversizedRepeatsBeforeFail such closes without progress;
///   - frame_too_large:   a frame the codec refused, over its own
///     DecodeLimits::max_bytes or too big to decode in memory. The client sets
///     that limit equal to the WebSocket one, so it is a second line; a server
///     using the codec (the reference chat-server) sees it as a bad frame.
///
/// Thread safety: everything here is immutable or pure; safe from any thread.
#pragma once

#include <string>
#include <system_error>

namespace tether {

/// Every error the SDK reports; `std::error_code ec = errc::closed` works.
enum class errc : int {
    // -- local: caller misuse ------------------------------------------------
    invalid_argument = 1,    ///< a bad parameter or option value
    invalid_state = 2,       ///< the call is not legal in the current state
    outbox_full = 3,         ///< the outbox count or byte bound would be exceeded
    message_too_large = 4,   ///< one outgoing message exceeds outbox.max_message_bytes
    invalid_json = 5,        ///< payload given to send() is not valid JSON
    closed = 6,              ///< the client/session is closed
    in_callback = 7,         ///< refused because it was called from an SDK callback
    invalid_utf8 = 8,        ///< payload or string is not valid UTF-8

    // -- remote: network and transport ---------------------------------------
    connect_failed = 100,    ///< TCP connect refused/unreachable
    connect_timeout = 101,   ///< DNS + TCP + TLS + upgrade took too long
    dns_failed = 102,
    tls_error = 103,         ///< TLS handshake failed
    tls_verify_failed = 104, ///< certificate or hostname verification failed
    handshake_failed = 105,  ///< the HTTP upgrade response was not a valid 101
    http_status = 106,       ///< the upgrade was refused with an HTTP status
    not_found = 107,         ///< HTTP 404 at the upgrade (wrong URL)
    transport_closed = 108,  ///< the connection dropped
    heartbeat_timeout = 109, ///< nothing arrived within the liveness deadline
    auth_timeout = 110,      ///< no welcome within the hello timeout
    proxy_error = 111,       ///< the HTTP CONNECT proxy refused or failed
    message_too_big = 112,   ///< a WebSocket message over a size limit: close 1009, either side
    bad_url = 113,           ///< the URL cannot be parsed or has a bad scheme

    // -- remote: protocol violations by the peer ------------------------------
    bad_frame = 200,          ///< generic protocol violation (close 4008/1002/1007)
    protocol_version = 201,   ///< the server selected another subprotocol / version
    unexpected_frame = 202,   ///< a frame that is illegal in this state
    seq_gap = 203,            ///< msg seq > last + 1
    ack_out_of_range = 204,   ///< ack of a seq never sent
    binary_frame = 205,       ///< binary frames are illegal in tether.v1
    frame_invalid_json = 206, ///< not parseable JSON (incl. invalid UTF-8)
    frame_not_object = 207,   ///< JSON but not an object
    frame_missing_field = 208,
    frame_wrong_type = 209,   ///< a field has the wrong JSON type
    frame_seq_out_of_range = 210, ///< seq negative, fractional or >= 2^53
    frame_too_large = 211,    ///< the frame codec's size limit (or its memory) ran out
    frame_too_deep = 212,     ///< nesting deeper than the decoder allows

    // -- remote: signalled by the server ---------------------------------------
    unauthorized = 300,       ///< error `unauthorized`, close 4001, HTTP 401
    forbidden = 301,          ///< error `forbidden`, close 4003, HTTP 403
    token_expired = 302,      ///< error `token_expired`, close 4002
    server_busy = 303,        ///< error `server_busy`, close 1013, HTTP 503
    rate_limited = 304,       ///< error `rate_limited`, HTTP 429
    session_taken_over = 305, ///< close 4009
    going_away = 306,         ///< close 1001 / 1012
    server_error = 307,       ///< an unknown error code, 5xx, or an abnormal close

    // -- remote: session outcomes ----------------------------------------------
    session_lost = 400,          ///< resume refused: a gap in delivery is possible
    max_attempts_exceeded = 401, ///< reconnect attempts exhausted
    no_token = 402,              ///< the token provider had no token to give

    // -- storage: the persistence file (ClientOptions::persistence) ------------
    store_locked = 500,       ///< another Client or process has the store open
    store_corrupt = 501,      ///< the store file is truncated or damaged (left as it is)
    store_foreign = 502,      ///< the file is not a tether store (left as it is)
    store_newer_schema = 503, ///< written by a newer tether; left untouched
    store_read_only = 504,    ///< the file or its file system cannot be written
    store_disk_full = 505,    ///< no space: the commit was rolled back, the stored state is intact
    store_io = 506,           ///< any other I/O failure on the store
};

/// The kinds of errc, as error conditions: `ec == error_kind::local`.
enum class error_kind : int {
    local = 1,   ///< the caller misused the API
    remote = 2,  ///< the peer or the network misbehaved
    storage = 3, ///< the persistence store: the application decides (free space, delete the file, ...)
};

/// @return the category of every tether::errc ("tether")
const std::error_category& error_category() noexcept;
/// @param e a code
/// @return `e` as a std::error_code in error_category()
std::error_code make_error_code(errc e) noexcept;
/// @param k a kind
/// @return `k` as a std::error_condition
std::error_condition make_error_condition(error_kind k) noexcept;

/// The short stable name of a code, e.g. "outbox_full" (also used on the wire
/// for error frames where the protocol defines one).
/// @param e a code
/// @return its name; "unknown" for a value outside the enum
const char* errc_name(errc e) noexcept;
/// @param e a code
/// @return true when `e` is a local error (caller misuse)
bool is_local(errc e) noexcept;

} // namespace tether

namespace std {
template <> struct is_error_code_enum<tether::errc> : true_type {};
template <> struct is_error_condition_enum<tether::error_kind> : true_type {};
} // namespace std
