// Scripted mode: one command per line, run in order; '#' starts a comment.
//
//   say TEXT                      send TEXT to the room
//   wait_ms N                     pause
//   wait_acked [TIMEOUT_MS]       until the outbox is empty and every message we sent is acked or failed
//   wait_for_messages N [TIMEOUT_MS]   until N distinct room messages were shown (ours included)
//   expect_state STATE [TIMEOUT_MS]    until the connection state is STATE (ready, backoff, failed, ...)
//   expect_messages N             exactly N distinct room messages shown so far
//   expect_failed N               exactly N of our messages reported failed so far
//   drop | reconnect              as the /drop and /reconnect commands
//   nick NAME                     as /nick
//   stats                         print the SDK counters
//   mark LABEL                    write {"event":"mark"} to the transcript (a sync point for tools)
//   wait_file PATH [TIMEOUT_MS]   until PATH exists (lets a driver script pace the conversation)
//   echo TEXT                     print TEXT
//   quit [DRAIN_MS]               close gracefully and stop (the end of the script does the same)
//
// Waits without a timeout use --deadline-ms. A wait that can no longer
// succeed because the connection failed for good ends the script with exit 3.
#include <sys/stat.h>

#include <charconv>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "modes.hpp"

namespace tchat {
namespace {

struct Step {
    int line = 0;
    std::string cmd;
    std::string rest; // everything after the command, trimmed
    std::vector<std::string> args;
};

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r");
    return s.substr(b, e - b + 1);
}

std::optional<long long> number(const std::string& s) {
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}

std::optional<tether::State> parse_state(const std::string& s) {
    using tether::State;
    for (State st : {State::idle, State::connecting, State::authenticating, State::ready, State::backoff,
                     State::closing, State::closed, State::failed})
        if (s == tether::to_string(st)) return st;
    return std::nullopt;
}

struct Spec {
    const char* name;
    std::size_t min_args, max_args;
};
constexpr Spec kSpecs[] = {
    {"say", 1, 1000},          {"wait_ms", 1, 1},      {"wait_acked", 0, 1},   {"wait_for_messages", 1, 2},
    {"expect_state", 1, 2},    {"expect_messages", 1, 1}, {"expect_failed", 1, 1}, {"drop", 0, 0},
    {"reconnect", 0, 0},       {"nick", 1, 1},         {"stats", 0, 0},        {"mark", 1, 1000},
    {"wait_file", 1, 2},       {"echo", 0, 1000},      {"quit", 0, 1},
};

bool parse(const std::string& path, std::vector<Step>& steps, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot read " + path;
        return false;
    }
    std::string raw;
    int lineno = 0;
    while (std::getline(in, raw)) {
        ++lineno;
        const std::string line = trim(raw);
        if (line.empty() || line[0] == '#') continue;
        Step s;
        s.line = lineno;
        const auto sp = line.find_first_of(" \t");
        s.cmd = line.substr(0, sp);
        s.rest = sp == std::string::npos ? std::string() : trim(line.substr(sp));
        std::istringstream words(s.rest);
        for (std::string w; words >> w;) s.args.push_back(w);
        const Spec* spec = nullptr;
        for (const Spec& k : kSpecs)
            if (s.cmd == k.name) spec = &k;
        if (!spec) {
            error = path + ":" + std::to_string(lineno) + ": unknown command '" + s.cmd + "'";
            return false;
        }
        if (s.args.size() < spec->min_args || s.args.size() > spec->max_args) {
            error = path + ":" + std::to_string(lineno) + ": wrong number of arguments for " + s.cmd;
            return false;
        }
        // say/echo take free text; these take one word, then numbers.
        const bool all_text = s.cmd == "say" || s.cmd == "echo" || s.cmd == "mark";
        const bool word_arg = s.cmd == "nick" || s.cmd == "wait_file" || s.cmd == "expect_state";
        for (std::size_t i = word_arg ? 1 : 0; !all_text && i < s.args.size(); ++i) {
            if (!number(s.args[i])) {
                error = path + ":" + std::to_string(lineno) + ": '" + s.args[i] + "' is not a number";
                return false;
            }
        }
        if (s.cmd == "expect_state" && !parse_state(s.args[0])) {
            error = path + ":" + std::to_string(lineno) + ": unknown state '" + s.args[0] + "'";
            return false;
        }
        steps.push_back(std::move(s));
    }
    return true;
}

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

} // namespace

int run_script(Chat& chat, const std::string& script_path, const RunConfig& config) {
    std::vector<Step> steps;
    std::string error;
    if (!parse(script_path, steps, error)) {
        std::cerr << "tether-chat: " << error << "\n";
        return 2;
    }
    auto out = [](const std::string& line) { print_line(line); };

    using tether::State;
    Millis drain = config.drain;
    int code = 0;
    for (const Step& s : steps) {
        if (g_interrupted.load()) break;
        const std::string where = script_path + ":" + std::to_string(s.line) + ": " + s.cmd;
        auto timeout_arg = [&](std::size_t index) {
            return s.args.size() > index ? Millis(*number(s.args[index])) : config.deadline;
        };
        // A wait: true when `pred` held in time. Gives up early (exit 3) when
        // the connection failed for good and `pred` cannot become true.
        auto wait = [&](const std::function<bool()>& pred, Millis timeout, bool may_end_terminal) {
            const auto deadline = SteadyClock::now() + timeout;
            bool terminal = false;
            const bool ok = chat.wait_until(
                [&] {
                    if (pred()) return true;
                    const State st = chat.state_locked();
                    terminal = !may_end_terminal && (st == State::failed || st == State::closed);
                    return terminal;
                },
                deadline, &g_interrupted);
            if (ok && terminal) return 3;
            return ok ? 0 : 1;
        };
        auto fail = [&](int c, const std::string& why) {
            out("script: " + where + " FAILED: " + why);
            chat.mark("script failed at line " + std::to_string(s.line) + ": " + s.cmd + ": " + why);
            code = c;
        };

        bool ok = true;
        if (s.cmd == "say") {
            const std::string r = chat.say(s.rest, ok);
            if (!ok) fail(1, r);
        } else if (s.cmd == "wait_ms") {
            const auto until = SteadyClock::now() + Millis(*number(s.args[0]));
            chat.wait_until([] { return false; }, until, &g_interrupted);
        } else if (s.cmd == "wait_acked") {
            const int r = wait([&] { return chat.settled_locked(); }, timeout_arg(0), false);
            if (r) fail(r, r == 3 ? "the connection failed for good" : "messages still unacknowledged at the deadline");
        } else if (s.cmd == "wait_for_messages") {
            const auto want = static_cast<std::uint64_t>(*number(s.args[0]));
            const int r = wait([&] { return chat.received_locked() >= want; }, timeout_arg(1), false);
            if (r) {
                fail(r, r == 3 ? "the connection failed for good"
                               : "saw " + std::to_string(chat.status().received) + " of " + std::to_string(want) +
                                     " messages by the deadline");
            }
        } else if (s.cmd == "expect_state") {
            const State want = *parse_state(s.args[0]);
            const bool wants_terminal = want == State::failed || want == State::closed;
            const int r = wait([&] { return chat.state_locked() == want; }, timeout_arg(1), wants_terminal);
            if (r) {
                const Status st = chat.status();
                fail(r, std::string("state is ") + state_phrase(st, SteadyClock::now()) + ", wanted " +
                            tether::to_string(want));
            }
        } else if (s.cmd == "expect_messages") {
            const auto want = static_cast<std::uint64_t>(*number(s.args[0]));
            const auto got = chat.status().received;
            if (got != want) fail(1, "saw " + std::to_string(got) + " messages, expected " + std::to_string(want));
        } else if (s.cmd == "expect_failed") {
            const auto want = static_cast<std::uint64_t>(*number(s.args[0]));
            const auto got = chat.status().failed;
            if (got != want) fail(1, std::to_string(got) + " failed messages, expected " + std::to_string(want));
        } else if (s.cmd == "drop") {
            out("script: " + chat.drop(ok));
        } else if (s.cmd == "reconnect") {
            out("script: " + chat.reconnect(ok));
        } else if (s.cmd == "nick") {
            const std::string r = chat.set_nick(s.args[0], ok);
            if (!ok) fail(1, r);
            else out("script: " + r);
        } else if (s.cmd == "stats") {
            out("script: " + chat.stats_text());
        } else if (s.cmd == "mark") {
            chat.mark(s.rest);
        } else if (s.cmd == "wait_file") {
            const std::string path = s.args[0];
            const auto deadline = SteadyClock::now() + timeout_arg(1);
            while (!file_exists(path) && SteadyClock::now() < deadline && !g_interrupted.load())
                std::this_thread::sleep_for(Millis(20));
            if (!file_exists(path)) fail(1, path + " did not appear by the deadline");
        } else if (s.cmd == "echo") {
            out(s.rest);
        } else if (s.cmd == "quit") {
            if (!s.args.empty()) drain = Millis(*number(s.args[0]));
            break;
        }
        if (code != 0) break;
    }

    const State st = chat.state();
    if (st != State::closed && st != State::failed) {
        // After a failed step there is nothing to wait for: close at once.
        chat.begin_close(code == 0 && !g_interrupted.load() ? drain : Millis(0));
        chat.wait_terminal(drain + Millis(3000));
    }
    const int end = outcome(chat);
    if (g_interrupted.load()) return 130;
    if (code != 0) return code;
    return end;
}

} // namespace tchat
