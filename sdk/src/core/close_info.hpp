// What the transport reports when a connection ends or fails to open.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "core/time.hpp"

namespace tether::core {

using ConnectionId = std::uint64_t; // 0 is never a valid connection

struct CloseInfo {
    // Why, as the transport classified it: e.g. connect_failed, dns_failed,
    // tls_verify_failed, http_status, transport_closed, message_too_big.
    // Empty for a clean close handshake (then close_code says why).
    std::error_code error;
    std::uint16_t close_code = 0;  // WebSocket close code received (0: none)
    std::string reason;            // close reason or transport error text
    int http_status = 0;           // upgrade refused with this status (0: none)
    std::optional<Duration> retry_after; // Retry-After header at the upgrade
    bool opened = false;           // the WebSocket handshake had completed
};

} // namespace tether::core
