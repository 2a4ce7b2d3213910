// chat-server: the reference tether.v1 server (rooms or echo), used by the
// SDK's integration tests and by tether-cli QA. This file only parses the
// command line (`chat-server --help`); server.cpp runs the sockets, hub.cpp
// (ProtocolServer) decides.
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "cli.hpp"
#include "server.hpp"

namespace {

using tether::chat::ServerOptions;
using tether::samples::bounded;

// Up to a year: the protocol server clamps durations there anyway.
constexpr std::int64_t kMaxMs = 365LL * 24 * 3600 * 1000;

std::vector<std::string> non_empty(std::vector<std::string> items) {
    std::vector<std::string> out;
    for (auto& item : items)
        if (!item.empty()) out.push_back(std::move(item));
    return out;
}

} // namespace

int main(int argc, char** argv) {
    ServerOptions o;
    CLI::App app{"The reference tether.v1 server: rooms, or echo with --echo.\n"
                 "The first stdout line is always \"listening on <host>:<port>\".",
                 "chat-server"};
    tether::samples::init_cli(app);
    std::vector<std::string> tokens, expired_tokens;
    std::int64_t heartbeat_ms = o.protocol.heartbeat.count(), session_ttl_ms = o.protocol.session_ttl.count(), push_interval_ms = 0;
    unsigned retry_after_s = 0;
    const auto max_size = std::numeric_limits<std::size_t>::max();

    app.add_option("--host", o.host, "listen address (default 127.0.0.1)");
    app.add_option("--port", o.port, "listen port, 0 = ephemeral (default 8080)")->check(bounded<std::uint16_t>(0, 65535));
    app.add_option("--path", o.path, "WebSocket path (default /ws; other paths answer 404)");
    app.add_option("--tokens", tokens, "hello.token must be one of these, comma-separated (default: no auth)")
        ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--expired-tokens", expired_tokens, "tokens answered with token_expired (close 4002)")
        ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_flag("--upgrade-auth", o.upgrade_auth,
                 "check \"Authorization: Bearer <token>\" at the upgrade against --tokens (HTTP 401) instead of hello.token");
    app.add_flag("--echo", o.protocol.echo,
                 "echo mode: reply {\"echo\": data, \"id\": id} to every msg (default: rooms, {\"room\": R[, \"text\": T]})");
    app.add_option("--heartbeat-ms", heartbeat_ms, "ping interval; silent for 2N -> dropped (default 15000, 0 = off)")
        ->check(bounded(std::int64_t{0}, kMaxMs));
    app.add_option("--session-ttl-ms", session_ttl_ms, "how long a disconnected session can resume (default 60000)")
        ->check(bounded(std::int64_t{0}, kMaxMs));
    app.add_option("--replay-buffer", o.protocol.replay_buffer, "server msgs kept per session for resume (default 10000)")
        ->check(bounded(std::size_t{0}, max_size));
    app.add_option("--push-interval-ms", push_interval_ms, "send {\"push\": k} to every session every N ms (default off)")
        ->check(bounded(std::int64_t{0}, kMaxMs));
    app.add_option("--tls-cert", o.tls_cert, "serve wss:// with this PEM certificate chain (with --tls-key)");
    app.add_option("--tls-key", o.tls_key, "the PEM private key for --tls-cert");
    app.add_option("--reject-upgrades", o.reject_upgrades, "answer the first N upgrades with --reject-status")
        ->check(bounded(0u, 1000000u));
    // websocketpp's status enum tops out at 511.
    app.add_option("--reject-status", o.reject_status, "HTTP status for those (default 503)")->check(bounded<int>(300, 511));
    auto* retry_after = app.add_option("--retry-after-s", retry_after_s, "add \"Retry-After: R\" to those")
                            ->check(bounded(0u, 86400u));
    app.add_option("--max-message-bytes", o.max_message_bytes, "inbound message limit, larger -> close 1009 (default 16 MiB)")
        ->check(bounded(std::size_t{1}, std::size_t{1} << 31));
    app.add_option("--send-window-bytes", o.protocol.send_window_bytes,
                   "msg bytes a connection's transport may hold unsent; more wait in the replay buffer "
                   "(default 4 MiB, 0 = no limit)")
        ->check(bounded(std::size_t{0}, max_size));
    app.add_flag("--verbose", o.verbose, "log connections and closes to stderr, stats on exit");

    if (auto code = tether::samples::parse_cli(app, argc, argv, [&] {
            if (o.path.empty() || o.path[0] != '/') throw CLI::ValidationError("--path", "must start with /");
            if (o.tls_cert.empty() != o.tls_key.empty())
                throw CLI::ValidationError("--tls-cert", "--tls-cert and --tls-key go together");
            if (o.upgrade_auth && non_empty(tokens).empty())
                throw CLI::ValidationError("--upgrade-auth", "needs --tokens");
        }))
        return *code;
    o.protocol.tokens = non_empty(tokens);
    o.protocol.expired_tokens = non_empty(expired_tokens);
    o.protocol.heartbeat = std::chrono::milliseconds(heartbeat_ms);
    o.protocol.session_ttl = std::chrono::milliseconds(session_ttl_ms);
    o.protocol.push_interval = std::chrono::milliseconds(push_interval_ms);
    if (retry_after->count() > 0) o.retry_after_s = retry_after_s;
    return tether::chat::run_server(o);
}
