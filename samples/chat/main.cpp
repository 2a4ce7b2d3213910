// tether-chat: a terminal chat client on tether::Client, for people and for
// scripts. This file parses the command line and picks the mode; chat.cpp is
// the model, chat_event.cpp renders what happened (transcript, printed lines,
// screen rows), format.cpp holds the text helpers, terminal.cpp the
// interactive and plain modes, script.cpp the scripted mode.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "chat.hpp"
#include "sample_args.hpp"
#include "modes.hpp"

namespace {

using tether::samples::ArgReader;
using tether::samples::parse_number;
using tether::samples::UsageError;

constexpr const char* kUsage = R"(usage: tether-chat --url ws://HOST:PORT/ws --nick NAME [options]
  --url URL                ws:// or wss:// address of a tether.v1 rooms server (chat-server)
  --room R                 room to join (default lobby)
  --nick N                 your name in the room
  --token T                token sent in hello (chat-server --tokens)
  --script FILE            scripted mode: run the commands in FILE, then quit
  --transcript FILE.jsonl  write every event as one JSON object per line
  --plain                  line mode even on a terminal (no full-screen UI)
  --heartbeat-ms N         ping interval (a server's heartbeat_ms overrides it)
  --connect-timeout-ms N   connect + upgrade, and hello -> welcome, deadlines
  --backoff-base-ms N      first reconnect delay (default 250)
  --backoff-max-ms N       reconnect delay cap (default 30000)
  --max-attempts N         consecutive failed attempts before giving up (default 0 = never)
  --ca-file F              PEM CA bundle for wss:// (default: the system store)
  --insecure               skip TLS certificate verification (testing only)
  --history N              own messages re-sent when a peer (re)joins (default 1000, 0 = no resync)
  --deadline-ms N          default timeout of script waits (default 30000)
  --drain-ms N             at quit, how long to wait for acks (default 5000)
  --log FILE               append the SDK's debug log to FILE
  --verbose                SDK log (info) to stderr in plain and scripted modes
Interactive commands: /drop /reconnect /stats /status /nick NEW /quit /help
Script commands: say, wait_ms, wait_acked, wait_for_messages, expect_state, expect_messages,
  expect_failed, drop, reconnect, nick, stats, mark, wait_file, echo, quit (see samples/chat/README.md)
Exit codes: 0 ok; 1 a script step failed; 2 usage/setup error; 3 the connection failed for good
  (bad token, TLS verification, ...); 4 a message we sent failed; 130 interrupted.
)";

std::chrono::milliseconds parse_ms(const std::string& flag, const std::string& text, long long min) {
    return std::chrono::milliseconds(parse_number<long long>(flag, text, min, 24LL * 3600 * 1000));
}

std::uint64_t parse_count(const std::string& flag, const std::string& text, std::uint64_t max) {
    return parse_number<std::uint64_t>(flag, text, 0, max);
}

struct Args {
    tchat::ChatOptions chat;
    tchat::RunConfig run;
    std::string script;
    std::string transcript;
    bool plain = false;
};

Args parse_args(int argc, char** argv) {
    Args a;
    ArgReader args(argc, argv);
    while (args.next()) {
        const std::string& flag = args.flag();
        auto value = [&args] { return args.value(); };
        if (flag == "--url") a.chat.url = value();
        else if (flag == "--room") a.chat.room = value();
        else if (flag == "--nick") a.chat.nick = value();
        else if (flag == "--token") a.chat.token = value();
        else if (flag == "--script") a.script = value();
        else if (flag == "--transcript") a.transcript = value();
        else if (flag == "--plain") a.plain = true;
        else if (flag == "--heartbeat-ms") a.chat.heartbeat = parse_ms(flag, value(), 10);
        else if (flag == "--connect-timeout-ms") a.chat.connect_timeout = parse_ms(flag, value(), 1);
        else if (flag == "--backoff-base-ms") a.chat.backoff_base = parse_ms(flag, value(), 1);
        else if (flag == "--backoff-max-ms") a.chat.backoff_max = parse_ms(flag, value(), 1);
        else if (flag == "--max-attempts")
            a.chat.max_attempts = static_cast<std::uint32_t>(parse_count(flag, value(), 1000000));
        else if (flag == "--ca-file") a.chat.ca_file = value();
        else if (flag == "--insecure") a.chat.insecure = true;
        else if (flag == "--history") a.chat.history = static_cast<std::size_t>(parse_count(flag, value(), 100000));
        else if (flag == "--deadline-ms") a.run.deadline = parse_ms(flag, value(), 1);
        else if (flag == "--drain-ms") a.run.drain = parse_ms(flag, value(), 0);
        else if (flag == "--log") a.chat.log_file = value();
        else if (flag == "--verbose") a.chat.log_stderr = true;
        else if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else throw UsageError{"unknown option " + flag};
    }
    if (a.chat.url.empty()) throw UsageError{"--url is required"};
    if (a.chat.nick.empty()) throw UsageError{"--nick is required"};
    if (a.chat.nick.size() > 64) throw UsageError{"--nick: at most 64 bytes"};
    if (a.chat.room.empty()) throw UsageError{"--room must not be empty"};
    return a;
}

} // namespace

int main(int argc, char** argv) {
    Args args;
    try {
        args = parse_args(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "tether-chat: " << e.message << "\n" << kUsage;
        return 2;
    }
    tchat::install_signal_handlers();

    const bool interactive = args.script.empty() && !args.plain && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
    if (interactive) args.chat.log_stderr = false; // the screen is ours
    tchat::Chat chat(args.chat);
    if (!interactive) chat.set_printer([](const std::string& line) { tchat::print_line(line); });

    std::string error;
    if (!chat.start(args.transcript, error)) {
        std::cerr << "tether-chat: " << error << "\n";
        return 2;
    }
    int code = 0;
    if (!args.script.empty()) code = tchat::run_script(chat, args.script, args.run);
    else if (interactive) code = tchat::run_interactive(chat, args.run, args.chat);
    else code = tchat::run_plain(chat, args.run);
    chat.finish(code);
    if (!interactive || code != 0) {
        const tchat::Status s = chat.status();
        std::cerr << "tether-chat: exit " << code << " (" << tether::to_string(s.state) << "; shown " << s.received
                  << " messages, " << s.failed << " of ours failed, " << s.stats.reconnects << " reconnects, "
                  << s.stats.resumes << " resumes, " << s.stats.sessions_lost << " sessions lost)\n";
    }
    return code;
}
