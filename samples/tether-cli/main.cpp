// tether-cli: a scripted tether client for QA and automation.
//
// Sends N messages {"n": i, "pad": "..."} and waits until every one is acked
// (and, with --expect-echo, echoed back exactly once), then closes with bye.
// State changes and errors go to stderr; the last stdout line is a JSON
// summary. Exit 0: everything acked and the echo expectations hold;
// 1: timeout; 2: fatal error (auth, bad URL, TLS, bad usage).
//
// With --store PATH the client is durable and the run survives kill -9:
//   message i carries data {"n": i} and the message id "n-<i>"; started on an
//   existing store it continues, queueing from the first i never queued (the
//   store counts every message ever queued, acked ones too); with
//   --expect-echo it appends "SERVER_SEQ <seq> <n>" to PATH.echoes for every
//   echo it delivers (a line per delivery: at-least-once across a crash);
//   the summary covers every run on the store.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli.hpp"
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
    std::string store;
    std::string durability = "normal";
};

[[noreturn]] void fatal_setup(const std::string& what) {
    std::cerr << "tether-cli: " << what << "\n";
    std::cout << nlohmann::json{{"error", what}, {"final_state", "idle"}}.dump() << std::endl;
    std::exit(2);
}

// Parses the command line (`tether-cli --help`); exits on --help, --version
// and bad usage (code 2, with the JSON summary line naming the error).
Args parse(int argc, char** argv) {
    using tether::samples::bounded;
    Args a;
    CLI::App app{"A scripted tether client for QA: sends N messages, waits for their acks (and echoes),\n"
                 "closes, and prints a JSON summary as its last stdout line.",
                 "tether-cli"};
    tether::samples::init_cli(app);
    const auto u64 = bounded<std::uint64_t>(0, std::numeric_limits<std::uint64_t>::max());
    // An optional number: the SDK default unless given.
    auto optional_u64 = [&](const std::string& name, std::optional<std::uint64_t>& field, const std::string& help) {
        app.add_option_function<std::uint64_t>(name, [&field](const std::uint64_t& v) { field = v; }, help)->check(u64);
    };
    app.add_option("--url", a.url, "ws:// or wss:// address of a tether.v1 server")->required();
    app.add_option_function<std::string>("--token", [&a](const std::string& t) { a.token = t; }, "token sent in hello");
    app.add_option("--count", a.count, "messages to send (default 100)")->check(u64);
    app.add_option("--payload-bytes", a.payload_bytes, "size of each message's padding (default 16)")
        ->check(bounded<std::size_t>(0, std::numeric_limits<std::size_t>::max()));
    app.add_option("--interval-ms", a.interval_ms, "pause between sends (default 0)")->check(u64);
    app.add_flag("--expect-echo", a.expect_echo, "require exactly one echo of each message (chat-server --echo)");
    app.add_option("--timeout-s", a.timeout_s, "give up after this long (default 60; exit 1)")->check(u64);
    optional_u64("--heartbeat-ms", a.heartbeat_ms, "ping interval");
    optional_u64("--heartbeat-timeout-ms", a.heartbeat_timeout_ms, "liveness deadline");
    optional_u64("--backoff-base-ms", a.backoff_base_ms, "first reconnect delay");
    optional_u64("--backoff-max-ms", a.backoff_max_ms, "reconnect delay cap");
    app.add_option("--ca-file", a.ca_file, "PEM CA bundle for wss://");
    app.add_flag("--insecure", a.insecure, "skip TLS certificate verification (testing only)");
    app.add_flag("--verbose", a.verbose, "SDK debug log to stderr");
    app.add_option("--store", a.store, "persist the session and the outbox in this file; a rerun continues");
    app.add_option("--durability", a.durability, "with --store: off, normal (default) or full")
        ->check(CLI::IsMember({"off", "normal", "full"}));
    app.footer("Exit codes: 0 everything acked (and echoed); 1 timeout; 2 fatal error (auth, bad URL, TLS, bad usage).");
    std::string error;
    if (auto code = tether::samples::parse_cli(app, argc, argv, [] {}, &error)) {
        if (*code == 2) std::cout << nlohmann::json{{"error", error}, {"final_state", "idle"}}.dump() << std::endl;
        std::exit(*code);
    }
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
    int echo_log = -1; // --store with --expect-echo: PATH.echoes
    std::set<std::uint64_t> echo_seqs; // server seqs of the echoes, every run on the store
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
            obs.echo_seqs.insert(m.seq);
            if (obs.echo_log >= 0) {
                const std::string line = "SERVER_SEQ " + std::to_string(m.seq) + " " + std::to_string(n) + "\n";
                if (::write(obs.echo_log, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
                    std::cerr << "tether-cli: cannot append to the echo log\n";
            }
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

    const bool durable = !args.store.empty();
    if (durable) {
        o.persistence.path = args.store;
        o.persistence.durability = args.durability == "off"    ? tether::Durability::off
                                   : args.durability == "full" ? tether::Durability::full
                                                               : tether::Durability::normal;
        if (args.expect_echo) {
            std::ifstream earlier(args.store + ".echoes");
            std::string tag;
            std::uint64_t seq = 0, n = 0;
            while (earlier >> tag >> seq >> n) {
                obs.echo_seqs.insert(seq);
                obs.echoed.insert(n);
            }
            obs.echo_log = ::open((args.store + ".echoes").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (obs.echo_log < 0) fatal_setup("cannot open " + args.store + ".echoes");
        }
    }

    std::error_code ec;
    std::string detail;
    auto client = tether::Client::create(o, ec, &detail);
    if (!client) fatal_setup(detail);
    // On a store: messages 1..queued_total were queued by earlier runs; the
    // ones not recovered were acked.
    const tether::Recovered recovered = client->recovered(); // a copy: used after the client is gone
    const std::uint64_t first = durable ? recovered.queued_total + 1 : 1;
    const std::uint64_t acked_earlier = durable ? recovered.queued_total - recovered.messages : 0;
    if (durable)
        std::cerr << "store " << args.store << ": " << (recovered.created ? "new" : "recovered ")
                  << (recovered.created ? "" : std::to_string(recovered.messages) + " unacked messages") << "; "
                  << recovered.queued_total << " queued before\n";
    client->connect();

    const std::string pad(args.payload_bytes, 'x');
    std::uint64_t sent = durable ? recovered.messages : 0; // to be acked in this run
    bool timed_out = false;
    auto fatal = [&] {
        std::lock_guard<std::mutex> lock(obs.mu);
        return tether::is_terminal(obs.state);
    };

    for (std::uint64_t i = first; i <= args.count && !fatal(); ++i) {
        const nlohmann::json data = durable ? nlohmann::json{{"n", i}} : nlohmann::json{{"n", i}, {"pad", pad}};
        const std::string id = durable ? "n-" + std::to_string(i) : std::string();
        for (;;) {
            auto r = client->send(data, id);
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
            const bool echoed = !args.expect_echo || obs.echoed.size() >= (durable ? args.count : sent);
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
    // Durable: every run on the store. Echo seqs have no gap when they are 1..max.
    const std::uint64_t total_sent = durable ? first - 1 + (sent - recovered.messages) : sent;
    const std::uint64_t total_acked = acked_earlier + obs.acked;
    const bool echo_gap = !obs.echo_seqs.empty() && *obs.echo_seqs.rbegin() != obs.echo_seqs.size();
    nlohmann::json summary = {
        {"sent", total_sent},
        {"acked", total_acked},
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
    if (durable) {
        summary["recovered"] = recovered.messages;
        summary["echo_gap"] = echo_gap;
    }
    std::cout << summary.dump() << std::endl;

    if (obs.fatal) return 2;
    if (timed_out) return 1;
    const bool all_acked = total_acked == args.count && obs.failed == 0;
    if (durable) // at-least-once across a crash: duplicates allowed, gaps not
        return all_acked && (!args.expect_echo || (obs.echoed.size() == args.count && !echo_gap)) ? 0 : 1;
    // Exactly one echo each, in order -- unless a session was lost, where the
    // guarantee is at-least-once and a re-sent message may echo twice.
    const bool echo_ok = !args.expect_echo || (obs.echoed.size() == args.count &&
                                               (stats.sessions_lost > 0 ||
                                                (obs.echo_duplicates == 0 && obs.echo_out_of_order == 0)));
    return all_acked && echo_ok ? 0 : 1;
}
