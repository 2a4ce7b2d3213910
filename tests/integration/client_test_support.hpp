// Support for the Client integration tests (client_*_test.cpp): a tether.v1
// server as a child process (the reference chat-server, or another server
// with the same command line, e.g. tether-gin-server: see server_path()), a
// scratch directory, a bounded subprocess runner (for the openssl CLI) and a
// thread-safe recorder of client callbacks.
//
// Model: every wait is a deadline on a condition (a condition_variable with a
// predicate, or poll() on a pipe); nothing sleeps and hopes. Servers are
// owned by RAII objects that SIGKILL and reap them if a test ends early, and
// they die with the test process (PR_SET_PDEATHSIG) if it crashes.
//
// No websocketpp/Asio here: only the public tether API and POSIX.
//
// Thread safety: ServerProcess and TempDir belong to one thread. Recorder is
// safe from any thread (callbacks arrive on the client's io thread).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <sys/types.h>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tether/client.hpp"

namespace tether::itest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Scales every timeout in the tests for slow builds (TSan): the bounds stay
// bounds, they just get wider. TETHER_ITEST_SLOWDOWN=N in the environment.
milliseconds scaled(milliseconds d);

// The server binary the tests start: $TETHER_TEST_SERVER when it is set and
// not empty (CTest sets it for the `gin.` copies of the suites), otherwise the
// chat-server this suite was built with. Any server that takes chat-server's
// flags for what a test uses (--port 0 printing "listening on HOST:PORT",
// --echo, --tokens, ...) can stand in.
const char* server_path();
// Whether server_path() is the reference chat-server (by file name).
bool server_is_reference();
// Whether server_path() lists `flag` (e.g. "--tls-cert") in its --help output
// (chat-server's usage text, or Go's flag defaults, which print "-name").
// Asked once per flag. Tests that need an option only some servers have
// (chat-server's --tls-cert, --send-window-bytes, ...) check it.
bool server_has_option(const std::string& flag);
// Skips the current test (GTEST_SKIP) unless the server has `flag`.
#define TETHER_REQUIRE_SERVER_OPTION(flag)                                                   \
    do {                                                                                     \
        if (!::tether::itest::server_has_option(flag))                                      \
            GTEST_SKIP() << ::tether::itest::server_path() << " has no " << (flag) << " option"; \
    } while (0)

// One server process (server_path()). The constructor starts it with `args`
// (plus "--port 0" unless they name a port) and waits, bounded, for its first
// stdout line "listening on 127.0.0.1:<port>"; it throws (and kills the
// child) if that does not come.
class ServerProcess {
public:
    // `stderr_file`: the server's stderr goes there (empty: inherited).
    explicit ServerProcess(std::vector<std::string> args, const std::string& stderr_file = {});
    ~ServerProcess(); // SIGKILL + reap if still running

    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }
    std::string url(const char* scheme = "ws") const;

    // SIGTERM (graceful: chat-server closes every client with 1001,
    // tether-gin-server drains and closes with 1012, then exit). Waits up to
    // `timeout` for the exit; returns the exit status, or nullopt if it had
    // to be killed.
    std::optional<int> terminate(milliseconds timeout);
    // SIGKILL: the process and its sessions are gone at once.
    void kill();

private:
    void await_port(); // reads the "listening on" line
    // Waits for EOF on the stdout pipe (the process exited) until `deadline`.
    bool wait_exit(Clock::time_point deadline);
    int reap(); // blocking waitpid; returns the exit status or 128 + signal

    pid_t pid_ = -1;
    int out_fd_ = -1;
    std::uint16_t port_ = 0;
};

struct ProcessResult {
    int exit_code = -1; // 128 + signal when killed
    bool timed_out = false;
    std::string output; // stdout and stderr, interleaved
};

// Runs argv[0] (searched in PATH) with stdout+stderr captured, killing it
// after `timeout`.
ProcessResult run_process(const std::vector<std::string>& argv, milliseconds timeout);

// A child process driven line by line: its stdin is a pipe the test writes,
// its stdout a pipe the test reads (stderr is inherited). SIGKILLed and
// reaped by the destructor; dies with the test process.
class InteractiveProcess {
public:
    explicit InteractiveProcess(const std::vector<std::string>& argv); // argv[0]: a path
    ~InteractiveProcess();
    InteractiveProcess(const InteractiveProcess&) = delete;
    InteractiveProcess& operator=(const InteractiveProcess&) = delete;

    void write_line(const std::string& line);
    // The next stdout line; nullopt at the deadline or EOF.
    std::optional<std::string> read_line(Clock::time_point deadline);
    void signal(int sig);
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int in_fd_ = -1;
    int out_fd_ = -1;
    std::string buffer_;
};

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    void write(const std::string& name, const std::string& content) const;

private:
    std::string path_;
};

// A loopback TCP port that refuses connections: bound, never listening, kept
// bound so no one else can take it while the test runs.
class ClosedPort {
public:
    ClosedPort();
    ~ClosedPort();
    ClosedPort(const ClosedPort&) = delete;
    ClosedPort& operator=(const ClosedPort&) = delete;
    std::uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

struct TimedState {
    StateChange change;
    Clock::time_point at;
};

struct TimedError {
    std::error_code code;
    std::string detail;
    Clock::time_point at;
};

// Records every callback of one client. Tests wait on predicates over the
// recorded data with wait_for(); `extra` lets a test hang its own bookkeeping
// on the same lock (it runs inside the callback, under the lock).
class Recorder {
public:
    Callbacks callbacks();
    LogSink log_sink();

    // Waits until pred(*this) holds (evaluated under the lock) or `timeout`
    // passes; returns whether it holds.
    bool wait_for(milliseconds timeout, const std::function<bool(const Recorder&)>& pred) const;
    // The same with an absolute deadline, not scaled (for windows in which
    // something must not happen).
    bool wait_until(Clock::time_point deadline, const std::function<bool(const Recorder&)>& pred) const;

    // Wakes every wait_for() so it re-checks its predicate (for predicates
    // over state that is not the recorder's, e.g. a stop flag).
    void notify() const;

    // A consistent copy taken under the lock.
    template <class F>
    auto with_lock(F&& f) const {
        std::lock_guard<std::mutex> lock(mu_);
        return f(*this);
    }

    // The last log lines (for failure messages).
    std::string log_tail(std::size_t lines = 40) const;
    std::string summary() const; // states and errors, for failure messages

    // ---- recorded data (read under the lock: in predicates or with_lock) ----
    std::vector<TimedState> states;
    std::vector<Message> messages;
    std::vector<MessageId> acked;
    std::set<MessageId> acked_set;
    std::size_t acked_duplicates = 0;
    std::vector<std::pair<MessageId, std::error_code>> failed;
    std::vector<TimedError> errors;
    std::vector<std::string> resumed;
    std::vector<SessionLostInfo> lost;
    State state = State::idle;
    std::uint64_t ready_count = 0; // transitions to ready

    std::size_t count_errors(errc e) const;
    std::size_t count_states(State to) const;

    // Optional hooks, called under the lock from the callbacks.
    std::function<void(const Message&)> on_message_hook;
    std::function<void(const StateChange&)> on_state_hook;
    std::function<void(const SessionLostInfo&)> on_lost_hook;
    bool keep_messages = true; // false: only the hook sees them
    // false: `acked` and `acked_set` stay empty and only acked_count and
    // acked_duplicates are kept, in memory bounded by the ids acked out of
    // order (the soak sends millions of messages and measures RSS).
    bool keep_acked_ids = true;
    std::size_t acked_count = 0;
    // Non-zero: states, errors, resumed and the log keep only about the last
    // `history_limit` entries (the soak reconnects thousands of times).
    std::size_t history_limit = 0;

private:
    // Compact ack ledger for keep_acked_ids == false: every id below
    // acked_below_ was acked; acked_ahead_ holds the ones acked above it.
    bool record_ack_compact(MessageId id);
    // Before an append: at 2 x `limit` entries, drops the oldest `limit` (0: keeps all).
    template <class V>
    static void keep_recent(V& v, std::size_t limit) {
        if (limit != 0 && v.size() >= 2 * limit) v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(limit));
    }
    MessageId acked_below_ = 1;
    std::set<MessageId> acked_ahead_;

    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<std::string> log_;
};

// Client options for tests: url, callbacks and log sink wired to `rec`, short
// timeouts and a fast backoff.
ClientOptions test_options(const std::string& url, Recorder& rec);

} // namespace tether::itest
