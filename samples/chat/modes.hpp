// The three ways tether-chat runs: the interactive terminal (raw mode + ANSI,
// no curses), plain line mode (stdin is not a terminal, or --plain), and the
// scripted mode for automated QA (--script FILE).
//
// Exit codes (also in the usage text):
//   0  done, every message we sent was acknowledged
//   1  a script step failed (an expectation, or a wait that hit its deadline)
//   2  usage or setup error (bad option, unreadable script, transcript not writable)
//   3  the connection failed for good (state `failed`: bad token, TLS
//      verification, 404, max attempts ...)
//   4  some message we sent was reported failed (e.g. still unacknowledged at /quit)
//   130 interrupted by SIGINT/SIGTERM
//
// Thread safety: each runner owns the calling thread until the chat is over.
#pragma once

#include <atomic>
#include <string>

#include "chat.hpp"

namespace tchat {

struct RunConfig {
    Millis drain{5000};     // /quit: how long the SDK may wait for acks before bye
    Millis deadline{30000}; // script waits without an explicit timeout
};

// Set by the SIGINT/SIGTERM handler installed by install_signal_handlers().
extern std::atomic<bool> g_interrupted;
void install_signal_handlers();
// Writes one line to stdout; safe from any thread (plain and script output).
void print_line(const std::string& line);

// `options` only feed the header row; the Chat keeps the live nick.
int run_interactive(Chat& chat, const RunConfig& config, const ChatOptions& options);
int run_plain(Chat& chat, const RunConfig& config);
int run_script(Chat& chat, const std::string& script_path, const RunConfig& config);

// The exit code once the chat has ended (see the table above; 1 and 2 are the
// script's and main's to give).
int outcome(Chat& chat);

} // namespace tchat
