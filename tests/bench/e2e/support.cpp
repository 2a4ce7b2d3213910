#include "support.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <mutex>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace bench {
namespace {

std::mutex g_children_mu;
std::vector<pid_t> g_children; // live children, for the reaper

void register_child(pid_t pid) {
    std::lock_guard<std::mutex> lock(g_children_mu);
    g_children.push_back(pid);
}

void unregister_child(pid_t pid) {
    std::lock_guard<std::mutex> lock(g_children_mu);
    g_children.erase(std::remove(g_children.begin(), g_children.end(), pid), g_children.end());
}

extern "C" void on_fatal_signal(int sig) {
    // Async-signal-safe enough: kill() and _exit() only; the vector is not
    // resized concurrently in practice (children start and stop on the main
    // thread between measurements).
    for (pid_t pid : g_children) ::kill(pid, SIGKILL);
    ::_exit(128 + sig);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

long clock_ticks() {
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    return ticks > 0 ? ticks : 100;
}

// utime + stime (fields 14 and 15) of a /proc/.../stat file, seconds.
double stat_cpu_seconds(const std::string& path) {
    const std::string s = read_file(path);
    const auto paren = s.rfind(')'); // comm may contain spaces
    if (paren == std::string::npos) return 0;
    std::istringstream in(s.substr(paren + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
        if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(clock_ticks());
}

} // namespace

// ---- child processes -----------------------------------------------------------

ChildProcess::ChildProcess(const std::string& path, const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout, const std::string& stderr_needle) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    int err[2] = {-1, -1};
    if (!stderr_needle.empty() && ::pipe2(err, O_CLOEXEC) != 0) {
        ::close(out[0]);
        ::close(out[1]);
        throw std::runtime_error("pipe2 failed");
    }
    std::vector<std::string> argv_s;
    argv_s.push_back(path);
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(out[0]);
        ::close(out[1]);
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        if (err[1] >= 0) ::dup2(err[1], STDERR_FILENO);
        ::execv(path.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    pid_ = pid;
    register_child(pid);
    if (err[1] >= 0) {
        ::close(err[1]);
        err_fd_ = err[0];
        reader_ = std::thread([this, needle = stderr_needle] {
            std::string pending;
            char buf[65536];
            for (;;) {
                const ssize_t n = ::read(err_fd_, buf, sizeof buf);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) return; // the child is gone
                const auto now = Clock::now();
                pending.append(buf, static_cast<std::size_t>(n));
                std::size_t start = 0, nl = 0;
                std::lock_guard<std::mutex> lock(hits_mu_);
                while ((nl = pending.find('\n', start)) != std::string::npos) {
                    if (std::string_view(pending).substr(start, nl - start).find(needle) != std::string_view::npos)
                        hits_.push_back(now);
                    start = nl + 1;
                }
                pending.erase(0, start);
            }
        });
    }

    // First stdout line: "listening on <host>:<port>".
    std::string line;
    const auto deadline = Clock::now() + timeout;
    while (line.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char buf[256];
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]); // later stdout writes hit a closed pipe; the servers only print this line
    const auto colon = line.rfind(':', line.find('\n'));
    if (line.rfind("listening on ", 0) != 0 || colon == std::string::npos) {
        stop();
        throw std::runtime_error("server " + path + " did not report its port (got '" + line + "')");
    }
    port_ = static_cast<std::uint16_t>(std::strtoul(line.c_str() + colon + 1, nullptr, 10));
}

ChildProcess::~ChildProcess() { stop(); }

std::string ChildProcess::url(const std::string& path) const {
    return "ws://127.0.0.1:" + std::to_string(port_) + path;
}

void ChildProcess::join_reader() {
    if (reader_.joinable()) reader_.join(); // returns at EOF: the child has exited
    if (err_fd_ >= 0) ::close(err_fd_);
    err_fd_ = -1;
}

std::vector<Clock::time_point> ChildProcess::stderr_hits() const {
    std::lock_guard<std::mutex> lock(hits_mu_);
    return hits_;
}

void ChildProcess::kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    unregister_child(pid_);
    pid_ = -1;
    join_reader();
}

void ChildProcess::stop() {
    if (pid_ <= 0) {
        join_reader();
        return;
    }
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    while (true) {
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno != EINTR)) break;
        if (Clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    unregister_child(pid_);
    pid_ = -1;
    join_reader();
}

std::string run_and_capture(const std::string& path, const std::vector<std::string>& args,
                            std::chrono::milliseconds timeout) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return {};
    std::vector<std::string> argv_s{path};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(out[0]);
        ::close(out[1]);
        return {};
    }
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::execv(path.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    register_child(pid);
    std::string text;
    const auto deadline = Clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char buf[4096];
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    unregister_child(pid);
    return timed_out ? std::string() : text;
}

void kill_all_children() noexcept {
    std::lock_guard<std::mutex> lock(g_children_mu);
    for (pid_t pid : g_children) ::kill(pid, SIGKILL);
}

void install_child_reaper() {
    std::atexit([] { kill_all_children(); });
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
}

// ---- memory --------------------------------------------------------------------

std::size_t rss_bytes() {
    const std::string s = read_file("/proc/self/statm");
    unsigned long long size = 0, resident = 0;
    if (std::sscanf(s.c_str(), "%llu %llu", &size, &resident) != 2) return 0;
    return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t main_arena_in_use() { return mallinfo2().uordblks; }

void trim_heap() { ::malloc_trim(0); }

// ---- CPU and scheduling ------------------------------------------------------------

double self_cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double process_cpu_seconds(pid_t pid) { return stat_cpu_seconds("/proc/" + std::to_string(pid) + "/stat"); }

double thread_cpu_seconds(pid_t tid) { return stat_cpu_seconds("/proc/self/task/" + std::to_string(tid) + "/stat"); }

SchedCounts thread_sched(pid_t tid) {
    SchedCounts c;
    const std::string base = "/proc/self/task/" + std::to_string(tid);
    unsigned long long run_ns = 0, wait_ns = 0, slices = 0;
    if (std::sscanf(read_file(base + "/schedstat").c_str(), "%llu %llu %llu", &run_ns, &wait_ns, &slices) == 3)
        c.timeslices = slices;
    std::istringstream status(read_file(base + "/status"));
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
            c.voluntary = std::strtoull(line.c_str() + 24, nullptr, 10);
        else if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
            c.involuntary = std::strtoull(line.c_str() + 27, nullptr, 10);
    }
    return c;
}

std::vector<pid_t> threads_named(const std::string& comm) {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc/self/task");
    if (d == nullptr) return out;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string name = read_file(std::string("/proc/self/task/") + e->d_name + "/comm");
        while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
        if (name == comm) out.push_back(static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10)));
    }
    ::closedir(d);
    return out;
}

pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// ---- statistics ------------------------------------------------------------------

Percentiles percentiles(std::vector<std::int64_t>& ns) {
    Percentiles p;
    p.samples = ns.size();
    if (ns.empty()) return p;
    std::sort(ns.begin(), ns.end());
    auto at = [&](double q) {
        const auto idx = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1) + 0.5);
        return static_cast<double>(ns[std::min(idx, ns.size() - 1)]) / 1000.0;
    };
    p.p50_us = at(0.50);
    p.p99_us = at(0.99);
    p.p999_us = at(0.999);
    p.max_us = static_cast<double>(ns.back()) / 1000.0;
    p.mean_us = static_cast<double>(std::accumulate(ns.begin(), ns.end(), std::int64_t{0})) /
                static_cast<double>(ns.size()) / 1000.0;
    return p;
}

// ---- machine ---------------------------------------------------------------------

Machine machine() {
    Machine m;
    m.nproc = std::thread::hardware_concurrency();
    std::istringstream cpuinfo(read_file("/proc/cpuinfo"));
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) m.cpu_model = line.substr(colon + 2);
            break;
        }
    }
    std::sscanf(read_file("/proc/loadavg").c_str(), "%lf %lf %lf", &m.load1, &m.load5, &m.load15);
    utsname u{};
    if (::uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
    return m;
}

std::string now_iso8601() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// ---- payloads ----------------------------------------------------------------------

std::string json_payload(std::size_t bytes, std::uint64_t index) {
    // {"i":"0000000000","p":"..."}: 25 bytes of frame around the padding.
    constexpr std::size_t kFixed = 25;
    if (bytes < kFixed) bytes = kFixed;
    char digits[16];
    std::snprintf(digits, sizeof digits, "%010llu", static_cast<unsigned long long>(index % 10000000000ULL));
    std::string out;
    out.reserve(bytes);
    out += R"({"i":")";
    out += digits;
    out += R"(","p":")";
    out.append(bytes - kFixed, 'x');
    out += R"("})";
    return out;
}

std::uint64_t payload_index(const char* text, std::size_t size) {
    const std::string_view s(text, size);
    const auto at = s.find(R"("i":")");
    if (at == std::string_view::npos || at + 15 > s.size()) return UINT64_MAX;
    std::uint64_t v = 0;
    for (std::size_t k = at + 5; k < at + 15; ++k) v = v * 10 + static_cast<std::uint64_t>(s[k] - '0');
    return v;
}

} // namespace bench
