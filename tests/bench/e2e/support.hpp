// Process, memory and scheduler helpers for the end-to-end benchmark (Linux).
//
// Thread safety: the free functions are safe from any thread; a ChildProcess
// is owned by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A server child process that prints "listening on <host>:<port>" as its first
// stdout line. Killed (SIGTERM, then SIGKILL after a bounded wait) when the
// object goes away, and at exit or on SIGINT/SIGTERM of the benchmark.
class ChildProcess {
public:
    // Throws std::runtime_error when the child does not start or does not
    // print its port within `timeout`.
    // `stderr_needle` non-empty: the child's stderr is read by a thread, which
    // records when each line containing the needle arrived (stderr_hits()).
    ChildProcess(const std::string& path, const std::vector<std::string>& args,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                 const std::string& stderr_needle = std::string());
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string url(const std::string& path = "/ws") const;
    void stop();
    // SIGKILL, no warning (kill -9), and reaps it.
    void kill_now();
    // Arrival times of the stderr lines that contained the needle, so far.
    std::vector<Clock::time_point> stderr_hits() const;

private:
    void join_reader();

    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    int err_fd_ = -1;
    std::thread reader_;
    mutable std::mutex hits_mu_;
    std::vector<Clock::time_point> hits_;
};

// Runs `path args...` to completion and returns its stdout; killed (and an
// empty string returned) if it takes longer than `timeout`.
std::string run_and_capture(const std::string& path, const std::vector<std::string>& args,
                            std::chrono::milliseconds timeout);

// Kills every live ChildProcess (also installed for SIGINT/SIGTERM and atexit).
void kill_all_children() noexcept;
void install_child_reaper();

// Resident set size of this process, bytes (/proc/self/statm).
std::size_t rss_bytes();
// Bytes handed out by malloc in the main arena, chunk headers included
// (mallinfo2().uordblks). Only allocations made by the main thread land there.
std::size_t main_arena_in_use();
// Returns freed memory to the OS so RSS deltas are not hidden by free lists.
void trim_heap();

// CPU time (user + system) of this process / of another process, seconds.
double self_cpu_seconds();
double process_cpu_seconds(pid_t pid);
// CPU time of one thread of this process (by kernel tid), seconds.
double thread_cpu_seconds(pid_t tid);

struct SchedCounts {
    std::uint64_t timeslices = 0; // /proc/.../schedstat: times the thread was scheduled in
    std::uint64_t voluntary = 0;  // voluntary context switches (went to sleep)
    std::uint64_t involuntary = 0;
};
SchedCounts thread_sched(pid_t tid);

// Kernel tids of this process's threads whose name is `comm`.
std::vector<pid_t> threads_named(const std::string& comm);
pid_t current_tid();

// Raises RLIMIT_NOFILE to the hard limit (1,000 clients need 1,000+ sockets).
void raise_fd_limit();

struct Percentiles {
    std::size_t samples = 0;
    double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
};
// Sorts `ns` in place.
Percentiles percentiles(std::vector<std::int64_t>& ns);

struct Machine {
    unsigned nproc = 0;
    std::string cpu_model;
    double load1 = 0, load5 = 0, load15 = 0;
    std::string kernel;
};
Machine machine();
std::string now_iso8601();

// A JSON payload of exactly `bytes` bytes (>= 16): {"i":N,"p":"xxx..."} with
// N zero-padded to 10 digits so the size does not depend on N.
std::string json_payload(std::size_t bytes, std::uint64_t index = 0);
// Reads N back out of such a payload (or of any text holding `"i":N`).
std::uint64_t payload_index(const char* text, std::size_t size);

} // namespace bench
