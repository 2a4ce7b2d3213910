// chat-server: the reference tether.v1 server (rooms or echo), used by the
// SDK's integration tests and by tether-cli QA. This file only parses the
// command line; server.cpp runs the sockets, hub.cpp (ProtocolServer) decides.
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sample_args.hpp"
#include "server.hpp"

namespace {

using tether::chat::ServerOptions;
using tether::samples::ArgReader;
using tether::samples::parse_number;
using tether::samples::split_list;
using tether::samples::UsageError;

constexpr const char* kUsage =
    R"(usage: chat-server [options]
  --host H                 listen address (default 127.0.0.1)
  --port P                 listen port, 0 = ephemeral (default 8080)
  --path P                 WebSocket path (default /ws; other paths answer 404)
  --tokens a,b,c           hello.token must be one of these (default: no auth)
  --expired-tokens x,y     tokens answered with token_expired (close 4002)
  --upgrade-auth           check "Authorization: Bearer <token>" at the upgrade
                           against --tokens (HTTP 401) instead of hello.token
  --echo                   echo mode: reply {"echo": data, "id": id} to every msg
                           (default: rooms, {"room": R[, "text": T]})
  --heartbeat-ms N         ping interval; silent for 2N -> dropped (default 15000, 0 = off)
  --session-ttl-ms N       how long a disconnected session can resume (default 60000)
  --replay-buffer N        server msgs kept per session for resume (default 10000)
  --push-interval-ms N     send {"push": k} to every session every N ms (default off)
  --tls-cert F --tls-key F serve wss:// with this PEM certificate chain and key
  --reject-upgrades N      answer the first N upgrades with --reject-status
  --reject-status S        HTTP status for those (default 503)
  --retry-after-s R        add "Retry-After: R" to those
  --max-message-bytes B    inbound message limit, larger -> close 1009 (default 16 MiB)
  --send-window-bytes B    msg bytes a connection's transport may hold unsent; more wait in
                           the replay buffer (default 4 MiB, 0 = no limit)
  --verbose                log connections and closes to stderr, stats on exit
The first stdout line is always "listening on <host>:<port>".
)";

std::chrono::milliseconds parse_ms(const std::string& flag, const std::string& text) {
    // Up to a year: the protocol server clamps durations there anyway.
    return std::chrono::milliseconds(parse_number<std::int64_t>(flag, text, 0, 365LL * 24 * 3600 * 1000));
}

ServerOptions parse_args(int argc, char** argv) {
    ServerOptions o;
    ArgReader args(argc, argv);
    while (args.next()) {
        const std::string& flag = args.flag();
        auto value = [&args] { return args.value(); };

        if (flag == "--host") o.host = value();
        else if (flag == "--port") o.port = parse_number<std::uint16_t>(flag, value(), 0, 65535);
        else if (flag == "--path") {
            o.path = value();
            if (o.path.empty() || o.path[0] != '/') throw UsageError{"--path must start with /"};
        } else if (flag == "--tokens") o.protocol.tokens = split_list(value());
        else if (flag == "--expired-tokens") o.protocol.expired_tokens = split_list(value());
        else if (flag == "--upgrade-auth") o.upgrade_auth = true;
        else if (flag == "--echo") o.protocol.echo = true;
        else if (flag == "--heartbeat-ms") o.protocol.heartbeat = parse_ms(flag, value());
        else if (flag == "--session-ttl-ms") o.protocol.session_ttl = parse_ms(flag, value());
        else if (flag == "--replay-buffer")
            o.protocol.replay_buffer =
                parse_number<std::size_t>(flag, value(), 0, std::numeric_limits<std::size_t>::max());
        else if (flag == "--push-interval-ms") o.protocol.push_interval = parse_ms(flag, value());
        else if (flag == "--tls-cert") o.tls_cert = value();
        else if (flag == "--tls-key") o.tls_key = value();
        else if (flag == "--reject-upgrades") o.reject_upgrades = parse_number<unsigned>(flag, value(), 0, 1000000);
        // websocketpp's status enum tops out at 511.
        else if (flag == "--reject-status") o.reject_status = parse_number<int>(flag, value(), 300, 511);
        else if (flag == "--retry-after-s") o.retry_after_s = parse_number<unsigned>(flag, value(), 0, 86400);
        else if (flag == "--max-message-bytes")
            o.max_message_bytes = parse_number<std::size_t>(flag, value(), 1, std::size_t{1} << 31);
        else if (flag == "--send-window-bytes")
            o.protocol.send_window_bytes = parse_number<std::size_t>(flag, value(), 0, std::numeric_limits<std::size_t>::max());
        else if (flag == "--verbose") o.verbose = true;
        else if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else throw UsageError{"unknown option " + flag};
    }
    if (o.tls_cert.empty() != o.tls_key.empty()) throw UsageError{"--tls-cert and --tls-key go together"};
    if (o.upgrade_auth && o.protocol.tokens.empty()) throw UsageError{"--upgrade-auth needs --tokens"};
    return o;
}

} // namespace

int main(int argc, char** argv) {
    ServerOptions options;
    try {
        options = parse_args(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "chat-server: " << e.message << "\n" << kUsage;
        return 2;
    }
    return tether::chat::run_server(options);
}
