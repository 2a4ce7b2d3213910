// The WebSocket close codes tether.v1 gives a meaning (docs/protocol.md §8
// has the client's reaction to each; reactions.cpp implements it). The
// client and the reference server name them from here, never as literals.
#pragma once

#include <cstdint>

namespace tether::core::close_code {

inline constexpr std::uint16_t normal = 1000;             // after bye; without it, like going_away
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;     // also: hello.v other than 1 (reference server)
inline constexpr std::uint16_t abnormal = 1006;           // reported locally: no close frame arrived
inline constexpr std::uint16_t invalid_payload = 1007;    // e.g. a text message that is not UTF-8
inline constexpr std::uint16_t message_too_big = 1009;    // a message over the receiver's limit
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;    // server busy
inline constexpr std::uint16_t unauthorized = 4001;
inline constexpr std::uint16_t token_expired = 4002;
inline constexpr std::uint16_t forbidden = 4003;
inline constexpr std::uint16_t bad_frame = 4008;
inline constexpr std::uint16_t session_taken_over = 4009;

} // namespace tether::core::close_code
