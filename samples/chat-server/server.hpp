// The chat-server's I/O side: options and the entry point that runs a
// websocketpp server around a ProtocolServer. Only server.cpp includes websocketpp/Asio.
//
// Thread safety: run_server() blocks the calling thread, which runs the single
// io loop; everything (protocol server, handlers, timer) runs on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hub.hpp"

namespace tether::chat {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080; // 0: ephemeral; the bound port is printed
    std::string path = "/ws";  // other paths answer HTTP 404
    ProtocolServerOptions protocol;
    bool upgrade_auth = false;     // check `Authorization: Bearer <token>` at the upgrade (HTTP 401)
    unsigned reject_upgrades = 0;  // answer the first N upgrades with reject_status
    int reject_status = 503;
    std::optional<unsigned> retry_after_s; // Retry-After on those rejections
    std::string tls_cert;          // both set: wss
    std::string tls_key;
    std::size_t max_message_bytes = 16 * 1024 * 1024;
    bool verbose = false;
};

// Runs until SIGINT/SIGTERM; returns the process exit code (0 after a clean
// shutdown, 1 if it could not start).
int run_server(const ServerOptions& options);

} // namespace tether::chat
