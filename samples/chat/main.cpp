// tether-chat: a terminal chat client on tether::Client, for people and for
// scripts. This file parses the command line (`tether-chat --help`) and picks the mode; chat.cpp is
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
#include "cli.hpp"
#include "modes.hpp"

namespace {

using tether::samples::bounded;

constexpr long long kMaxMs = 24LL * 3600 * 1000;

struct Args {
    tchat::ChatOptions chat;
    tchat::RunConfig run;
    std::string script;
    std::string transcript;
    bool plain = false;
};

} // namespace

int main(int argc, char** argv) {
    Args args;
    CLI::App app{"A terminal chat client on tether::Client, for people and for scripts.", "tether-chat"};
    tether::samples::init_cli(app);
    auto& c = args.chat;
    // A duration flag in ms; `field` is a Millis or an optional one (the SDK default unless set).
    auto ms_option = [&app](const std::string& name, auto& field, long long min, const std::string& help) {
        app.add_option_function<long long>(name, [&field](const long long& v) { field = tchat::Millis(v); }, help)
            ->check(bounded(min, kMaxMs));
    };
    app.add_option("--url", c.url, "ws:// or wss:// address of a tether.v1 rooms server (chat-server)")->required();
    app.add_option("--room", c.room, "room to join (default lobby)");
    app.add_option("--nick", c.nick, "your name in the room (at most 64 bytes)")->required();
    app.add_option_function<std::string>("--token", [&c](const std::string& t) { c.token = t; },
                                         "token sent in hello (chat-server --tokens)");
    app.add_option("--script", args.script, "scripted mode: run the commands in FILE, then quit");
    app.add_option("--transcript", args.transcript, "write every event as one JSON object per line (FILE.jsonl)");
    app.add_flag("--plain", args.plain, "line mode even on a terminal (no full-screen UI)");
    ms_option("--heartbeat-ms", c.heartbeat, 10, "ping interval (a server's heartbeat_ms overrides it)");
    ms_option("--connect-timeout-ms", c.connect_timeout, 1, "connect + upgrade, and hello -> welcome, deadlines");
    ms_option("--backoff-base-ms", c.backoff_base, 1, "first reconnect delay (default 250)");
    ms_option("--backoff-max-ms", c.backoff_max, 1, "reconnect delay cap (default 30000)");
    app.add_option("--max-attempts", c.max_attempts, "consecutive failed attempts before giving up (default 0 = never)")
        ->check(bounded<std::uint32_t>(0, 1000000));
    app.add_option("--ca-file", c.ca_file, "PEM CA bundle for wss:// (default: the system store)");
    app.add_flag("--insecure", c.insecure, "skip TLS certificate verification (testing only)");
    app.add_option("--history", c.history, "own messages re-sent when a peer (re)joins (default 1000, 0 = no resync)")
        ->check(bounded<std::size_t>(0, 100000));
    ms_option("--deadline-ms", args.run.deadline, 1, "default timeout of script waits (default 30000)");
    ms_option("--drain-ms", args.run.drain, 0, "at quit, how long to wait for acks (default 5000)");
    app.add_option("--log", c.log_file, "append the SDK's debug log to FILE");
    app.add_flag("--verbose", c.log_stderr, "SDK log (info) to stderr in plain and scripted modes");
    app.footer(R"(Interactive commands: /drop /reconnect /stats /status /nick NEW /quit /help
Script commands: say, wait_ms, wait_acked, wait_for_messages, expect_state, expect_messages,
  expect_failed, drop, reconnect, nick, stats, mark, wait_file, echo, quit (see samples/chat/README.md)
Exit codes: 0 ok; 1 a script step failed; 2 usage/setup error; 3 the connection failed for good
  (bad token, TLS verification, ...); 4 a message we sent failed; 130 interrupted.)");
    if (auto code = tether::samples::parse_cli(app, argc, argv, [&] {
            if (c.nick.size() > 64) throw CLI::ValidationError("--nick", "at most 64 bytes");
            if (c.room.empty()) throw CLI::ValidationError("--room", "must not be empty");
        }))
        return *code;
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
