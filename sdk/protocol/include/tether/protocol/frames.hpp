// tether.v1 frames as plain structs (see docs/protocol.md).
//
// Client message payloads are kept as serialized JSON text (`data_json`): the
// outbox stores exactly the bytes that go on the wire, so a resend never
// re-serializes. Server message payloads are parsed JSON values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "tether/protocol/close_codes.hpp"
#include "tether/protocol/overloaded.hpp" // match(): how the frame variants below are handled

namespace tether::core {

inline constexpr std::uint64_t kMaxSeq = (std::uint64_t{1} << 53) - 1; // seqs are < 2^53
inline constexpr int kProtocolVersion = 1;
inline constexpr const char* kSubprotocol = "tether.v1";

struct ClientInfo {
    std::string name;
    std::string version;
};

struct ResumeRequest {
    std::string session;
    std::string resume_token;
    std::uint64_t last_seq = 0; // highest server seq delivered to the application
    // SDK addition (protocol.md §5): rises with every resume attempt of the
    // session, so a server can tell a stale hello from the live one. 0: absent.
    std::uint64_t attempt = 0;
};

// client -> server
struct Hello {
    std::optional<std::string> token;
    std::optional<ClientInfo> client;
    std::optional<ResumeRequest> resume;
};

// client -> server
struct ClientMsg {
    std::uint64_t seq = 0;
    std::string id;        // idempotency key, stable across resends and lost sessions
    std::string data_json; // serialized JSON value
};

// both directions: cumulative ack
struct Ack {
    std::uint64_t seq = 0;
};

// client -> server
struct Bye {
};

// server -> client
struct Welcome {
    std::string session;
    std::string resume_token;
    bool resumed = false;
    std::uint64_t last_seq = 0; // highest client seq the server has received
    std::optional<std::uint64_t> heartbeat_ms;
    std::optional<std::uint64_t> session_ttl_ms;
};

// server -> client
struct ServerMsg {
    std::uint64_t seq = 0;
    nlohmann::json data;
    std::optional<std::string> id; // optional: the originating client message id (chat relay)
    std::string data_json{};       // instead of `data` when decoded with DecodeLimits::payload_as_text
};

// server -> client; the server closes afterwards
struct ErrorFrame {
    std::string code; // e.g. "unauthorized", "token_expired", "server_busy", "bad_frame"
    std::optional<std::string> message;
    std::optional<std::uint64_t> retry_after_ms;
};

// Any direction: a well-formed frame whose `type` this version does not know.
// Ignored and counted by receivers (forward compatibility).
struct UnknownFrame {
    std::string type;
};

using ClientFrame = std::variant<Hello, ClientMsg, Ack, Bye, UnknownFrame>;
using ServerFrame = std::variant<Welcome, ServerMsg, Ack, ErrorFrame, UnknownFrame>;

} // namespace tether::core
