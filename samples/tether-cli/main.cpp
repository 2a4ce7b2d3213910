// tether-cli: a scripted tether client for QA and automation.
//
// Sends N messages {"n": i, "pad": "..."} and waits until every one is acked
// (and, with --expect-echo, echoed back exactly once), then closes with bye.
// State changes and errors go to stderr; the last stdout line is a JSON
// summary. Exit 0: everything acked and the echo expectations hold;
// 1: timeout; 2: fatal error (auth, bad URL, TLS, bad usage).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tether/client.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Args {
    std::string url;
    std::optional<std::string> token;
    std::uint64_t count = 100;
    std::size_t payload_bytes = 16;
    std::uint64_t interval_ms = 0;
    bool expect_echo = false;
    std::uint64_t timeout_s = 60;
    std::optional<std::uint64_t> heartbeat_ms, heartbeat_timeout_ms, backoff_base_ms, backoff_max_ms;
    std::string ca_file;
    bool insecure = false;
    bool verbose = false;
};

const char* kUsage =
    "usage: tether-cli --url URL [--token T] [--count N] [--payload-bytes B] [--interval-ms I] [--expect-echo]\n"
    "                  [--timeout-s S] [--heartbeat-ms H] [--heartbeat-timeout-ms T] [--backoff-base-ms B]\n"
    "                  [--backoff-max-ms M] [--ca-file F] [--insecure] [--verbose]\n";

[[noreturn]] void usage_error(const std::string& what) {
    std::cerr << "tether-cli: " << what << "\n" << kUsage;
    std::cout << nlohmann::json{{"error", what}, {"final_state", "idle"}}.dump() << std::endl;
    std::exit(2);
}

std::uint64_t parse_u64(const std::string& flag, const std::string& value) {
    try {
        std::size_t used = 0;
        if (value.empty() || value[0] == '-') throw std::invalid_argument(value);
        const unsigned long long v = std::stoull(value, &used, 10);
        if (used != value.size()) throw std::invalid_argument(value);
        return v;
    } catch (const std::exception&) {
        usage_error(flag + " needs a non-negative integer, got '" + value + "'");
    }
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(flag + " needs a value");
            return argv[++i];
        };
        if (flag == "--url") a.url = value();
        else if (flag == "--token") a.token = value();
        else if (flag == "--count") a.count = parse_u64(flag, value());
        else if (flag == "--payload-bytes") a.payload_bytes = parse_u64(flag, value());
        else if (flag == "--interval-ms") a.interval_ms = parse_u64(flag, value());
        else if (flag == "--expect-echo") a.expect_echo = true;
        else if (flag == "--timeout-s") a.timeout_s = parse_u64(flag, value());
        else if (flag == "--heartbeat-ms") a.heartbeat_ms = parse_u64(flag, value());
        else if (flag == "--heartbeat-timeout-ms") a.heartbeat_timeout_ms = parse_u64(flag, value());
        else if (flag == "--backoff-base-ms") a.backoff_base_ms = parse_u64(flag, value());
        else if (flag == "--backoff-max-ms") a.backoff_max_ms = parse_u64(flag, value());
        else if (flag == "--ca-file") a.ca_file = value();
        else if (flag == "--insecure") a.insecure = true;
        else if (flag == "--verbose") a.verbose = true;
        else if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else usage_error("unknown option " + flag);
    }
    if (a.url.empty()) usage_error("--url is required");
    return a;
}

// Everything the callbacks observe, behind one lock.
struct Observed {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t acked = 0;
    std::uint64_t failed = 0;
    std::set<std::uint64_t> echoed;
    std::uint64_t echo_duplicates = 0;
    std::uint64_t echo_out_of_order = 0;
    std::uint64_t last_echo = 0;
    std::set<std::uint64_t> pushes;
    std::uint64_t push_duplicates = 0;
    tether::State state = tether::State::idle;
    std::error_code fatal;
    std::string fatal_detail;
};

} // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::seconds(args.timeout_s);
    Observed obs;

    tether::ClientOptions o;
    o.url = args.url;
    o.token = args.token;
    o.client_name = "tether-cli";
    if (args.heartbeat_ms) o.heartbeat.interval = milliseconds(*args.heartbeat_ms);
    if (args.heartbeat_timeout_ms) o.heartbeat.timeout = milliseconds(*args.heartbeat_timeout_ms);
    if (args.backoff_base_ms) o.backoff.base = milliseconds(*args.backoff_base_ms);
    if (args.backoff_max_ms) o.backoff.max = milliseconds(*args.backoff_max_ms);
    if (o.backoff.max < o.backoff.base) o.backoff.max = o.backoff.base;
    o.tls.ca_file = args.ca_file;
    o.tls.insecure_skip_verify = args.insecure;
    o.outbox.max_message_bytes = std::max<std::size_t>(o.outbox.max_message_bytes, args.payload_bytes + 64);
    o.outbox.max_bytes = std::max(o.outbox.max_bytes, 4 * o.outbox.max_message_bytes);
    o.log_level = args.verbose ? tether::LogLevel::debug : tether::LogLevel::warn;
    o.log = [](tether::LogLevel, std::string_view m) { std::cerr << "tether: " << m << "\n"; };

    o.callbacks.on_state = [&](const tether::StateChange& c) {
        std::cerr << "state " << tether::to_string(c.from) << " -> " << tether::to_string(c.to);
        if (c.reason) std::cerr << " (" << tether::errc_name(static_cast<tether::errc>(c.reason.value())) << ")";
        if (c.to == tether::State::backoff) std::cerr << " retry in " << c.retry_in.count() << " ms";
        std::cerr << "\n";
        std::lock_guard<std::mutex> lock(obs.mu);
        obs.state = c.to;
        if (c.to == tether::State::failed) {
            obs.fatal = c.reason;
            obs.fatal_detail = c.detail;
        }
        obs.cv.notify_all();
    };
    o.callbacks.on_error = [&](std::error_code ec, const std::string& detail) {
        std::cerr << "error " << ec.message() << (detail.empty() ? "" : ": " + detail) << "\n";
    };
    o.callbacks.on_acked = [&](tether::MessageId) {
        std::lock_guard<std::mutex> lock(obs.mu);
        ++obs.acked;
        obs.cv.notify_all();
    };
    o.callbacks.on_failed = [&](tether::MessageId, const std::string& id, std::error_code ec) {
        std::cerr << "message " << id << " failed: " << ec.message() << "\n";
        std::lock_guard<std::mutex> lock(obs.mu);
        ++obs.failed;
        obs.cv.notify_all();
    };
    o.callbacks.on_message = [&](const tether::Message& m) {
        std::lock_guard<std::mutex> lock(obs.mu);
        const auto& d = m.data;
        if (d.is_object() && d.contains("echo") && d["echo"].is_object() && d["echo"].contains("n") &&
            d["echo"]["n"].is_number_unsigned()) {
            const auto n = d["echo"]["n"].get<std::uint64_t>();
            if (!obs.echoed.insert(n).second) ++obs.echo_duplicates;
            else if (n != obs.last_echo + 1) ++obs.echo_out_of_order;
            obs.last_echo = std::max(obs.last_echo, n);
        } else if (d.is_object() && d.contains("push") && d["push"].is_number_unsigned()) {
            if (!obs.pushes.insert(d["push"].get<std::uint64_t>()).second) ++obs.push_duplicates;
        }
        obs.cv.notify_all();
    };
    o.callbacks.on_session_lost = [&](const tether::SessionLostInfo& l) {
        std::cerr << "session lost: " << l.previous_session << " -> " << l.new_session << " (" << l.unacked
                  << " unacked messages re-sent)\n";
    };
    o.callbacks.on_resumed = [&](const std::string& s) { std::cerr << "session resumed: " << s << "\n"; };

    std::error_code ec;
    std::string detail;
    auto client = tether::Client::create(o, ec, &detail);
    if (!client) usage_error(detail);
    client->connect();

    const std::string pad(args.payload_bytes, 'x');
    std::uint64_t sent = 0;
    bool timed_out = false;
    auto fatal = [&] {
        std::lock_guard<std::mutex> lock(obs.mu);
        return tether::is_terminal(obs.state);
    };

    for (std::uint64_t i = 1; i <= args.count && !fatal(); ++i) {
        const nlohmann::json data = {{"n", i}, {"pad", pad}};
        for (;;) {
            auto r = client->send(data);
            if (r) {
                ++sent;
                break;
            }
            if (r.error != tether::errc::outbox_full) {
                std::lock_guard<std::mutex> lock(obs.mu);
                obs.fatal = r.error;
                obs.fatal_detail = r.detail;
                break;
            }
            std::unique_lock<std::mutex> lock(obs.mu); // wait for acks to make room
            const auto acked_before = obs.acked;
            if (!obs.cv.wait_until(lock, deadline, [&] { return obs.acked > acked_before || tether::is_terminal(obs.state); })) {
                timed_out = true;
                break;
            }
            if (tether::is_terminal(obs.state)) break;
        }
        if (timed_out || obs.fatal) break;
        if (args.interval_ms > 0) std::this_thread::sleep_for(milliseconds(args.interval_ms)); // pacing, by request
    }

    {
        std::unique_lock<std::mutex> lock(obs.mu);
        const bool done = obs.cv.wait_until(lock, deadline, [&] {
            if (obs.fatal || tether::is_terminal(obs.state)) return true;
            const bool acked = obs.acked + obs.failed >= sent;
            const bool echoed = !args.expect_echo || obs.echoed.size() >= sent;
            return acked && echoed;
        });
        if (!done) timed_out = true;
    }

    if (!timed_out && !fatal()) {
        client->close(milliseconds(5000));
        client->wait_until_terminal(milliseconds(10000));
    }
    const tether::Stats stats = client->stats();
    const tether::State final_state = client->state();
    client.reset();

    std::lock_guard<std::mutex> lock(obs.mu);
    nlohmann::json error = nullptr;
    if (obs.fatal) {
        error = std::string(tether::errc_name(static_cast<tether::errc>(obs.fatal.value()))) +
                (obs.fatal_detail.empty() ? "" : ": " + obs.fatal_detail);
        std::cerr << "fatal: " << error.get<std::string>() << "\n";
    } else if (timed_out) {
        error = "timeout";
    }
    const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();
    const nlohmann::json summary = {
        {"sent", sent},
        {"acked", obs.acked},
        {"echoes", obs.echoed.size()},
        {"echo_duplicates", obs.echo_duplicates},
        {"echo_out_of_order", obs.echo_out_of_order},
        {"pushes", obs.pushes.size()},
        {"push_duplicates", obs.push_duplicates},
        {"reconnects", stats.reconnects},
        {"resumes", stats.resumes},
        {"sessions_lost", stats.sessions_lost},
        {"final_state", tether::to_string(final_state)},
        {"error", error},
        {"elapsed_ms", elapsed},
    };
    std::cout << summary.dump() << std::endl;

    if (obs.fatal) return 2;
    if (timed_out) return 1;
    const bool all_acked = obs.acked == args.count && obs.failed == 0;
    // Exactly one echo each, in order -- unless a session was lost, where the
    // guarantee is at-least-once and a re-sent message may echo twice.
    const bool echo_ok = !args.expect_echo || (obs.echoed.size() == args.count &&
                                               (stats.sessions_lost > 0 ||
                                                (obs.echo_duplicates == 0 && obs.echo_out_of_order == 0)));
    return all_acked && echo_ok ? 0 : 1;
}
