#include "client_test_support.hpp"

#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

#ifndef TETHER_CHAT_SERVER
#error "TETHER_CHAT_SERVER must name the chat-server binary"
#endif

namespace tether::itest {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

int slowdown() {
    static const int factor = [] {
        const char* env = std::getenv("TETHER_ITEST_SLOWDOWN");
        if (env == nullptr) return 1;
        const int v = std::atoi(env);
        return v >= 1 && v <= 100 ? v : 1;
    }();
    return factor;
}

// Everything the child needs, prepared before fork(): after fork() in a
// multithreaded process the child may only make async-signal-safe calls.
struct ExecPlan {
    std::vector<std::string> storage;
    std::vector<char*> argv;

    explicit ExecPlan(std::vector<std::string> args) : storage(std::move(args)) {
        for (auto& s : storage) argv.push_back(s.data());
        argv.push_back(nullptr);
    }
};

// Child side: stdout (and stderr if `both`, else to `err_fd` if given) to
// `out_fd`, stdin from `in_fd` (default /dev/null), no other inherited
// descriptor (a leaked copy of a proxy or client socket would keep it open
// and hide the FIN/RST a test injects), die with the parent, exec.
[[noreturn]] void exec_child(const ExecPlan& plan, int out_fd, bool both, bool search_path, int err_fd = -1,
                            int in_fd = -1) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int devnull = in_fd >= 0 ? in_fd : ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_fd, 1);
    if (both) ::dup2(out_fd, 2);
    else if (err_fd >= 0) ::dup2(err_fd, 2);
    if (::close_range(3, ~0U, 0) != 0) {
        for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    if (search_path)
        ::execvp(plan.argv[0], plan.argv.data());
    else
        ::execv(plan.argv[0], plan.argv.data());
    ::_exit(127);
}

// Reads what is available on `fd` into `out`; false at EOF or error.
bool read_some(int fd, std::string& out) {
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

int poll_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<long long>(0, std::min<long long>(left, 1000)));
}

int status_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

} // namespace

milliseconds scaled(milliseconds d) { return d * slowdown(); }

const char* server_path() {
    static const std::string path = [] {
        const char* env = std::getenv("TETHER_TEST_SERVER");
        return std::string(env != nullptr && *env != '\0' ? env : TETHER_CHAT_SERVER);
    }();
    return path.c_str();
}

bool server_is_reference() { return std::filesystem::path(server_path()).filename() == "chat-server"; }

bool server_has_option(const std::string& flag) {
    static std::mutex mu;
    static std::map<std::string, bool> known;
    std::lock_guard<std::mutex> lock(mu);
    const auto it = known.find(flag);
    if (it != known.end()) return it->second;
    const std::string help = run_process({server_path(), "--help"}, scaled(milliseconds(10000))).output;
    const std::string name = "-" + flag.substr(flag.find_first_not_of('-'));
    bool found = false;
    for (auto at = help.find(name); at != std::string::npos && !found; at = help.find(name, at + 1)) {
        const std::size_t end = at + name.size();
        const bool name_ends = end == help.size() || !(std::isalnum(static_cast<unsigned char>(help[end])) ||
                                                       help[end] == '-' || help[end] == '_');
        const bool name_starts = at == 0 || help[at - 1] == '-' || std::isspace(static_cast<unsigned char>(help[at - 1]));
        found = name_ends && name_starts;
    }
    return known[flag] = found;
}

namespace {
std::string server_name() { return std::filesystem::path(server_path()).filename().string(); }
} // namespace

// ---- ServerProcess -------------------------------------------------------------

ServerProcess::ServerProcess(std::vector<std::string> args, const std::string& stderr_file) {
    bool has_port = false;
    for (const auto& a : args)
        if (a == "--port" || a.rfind("--port=", 0) == 0) has_port = true;
    if (!has_port) {
        args.emplace_back("--port");
        args.emplace_back("0");
    }
    args.insert(args.begin(), server_path());
    const ExecPlan plan(std::move(args));

    const int err_fd =
        stderr_file.empty() ? -1 : ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (!stderr_file.empty() && err_fd < 0) throw_errno("open " + stderr_file);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        if (err_fd >= 0) ::close(err_fd);
        throw_errno("fork");
    }
    if (pid == 0) exec_child(plan, fds[1], false, false, err_fd);
    ::close(fds[1]);
    if (err_fd >= 0) ::close(err_fd);
    pid_ = pid;
    out_fd_ = fds[0];
    try {
        await_port();
    } catch (...) {
        kill(); // the destructor will not run: do not leak the child
        ::close(out_fd_);
        out_fd_ = -1;
        throw;
    }
}

void ServerProcess::await_port() {
    // The first stdout line is "listening on <host>:<port>".
    std::string out;
    const auto deadline = Clock::now() + scaled(milliseconds(10000));
    while (out.find('\n') == std::string::npos) {
        if (Clock::now() >= deadline) throw std::runtime_error(server_name() + " did not report its port in time");
        pollfd p{out_fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, poll_ms(deadline));
        if (r < 0 && errno != EINTR) throw_errno("poll");
        if (r > 0 && !read_some(out_fd_, out)) {
            const int code = reap();
            throw std::runtime_error(server_name() + " exited (status " + std::to_string(code) +
                                     ") before listening; stdout: " + out);
        }
    }
    const std::string line = out.substr(0, out.find('\n'));
    const auto colon = line.rfind(':');
    if (line.rfind("listening on ", 0) != 0 || colon == std::string::npos)
        throw std::runtime_error("unexpected first line from " + server_name() + ": " + line);
    port_ = static_cast<std::uint16_t>(std::stoul(line.substr(colon + 1)));
}

ServerProcess::~ServerProcess() {
    if (running()) kill();
    if (out_fd_ >= 0) ::close(out_fd_);
}

std::string ServerProcess::url(const char* scheme) const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + "/ws";
}

bool ServerProcess::wait_exit(Clock::time_point deadline) {
    std::string sink;
    for (;;) {
        pollfd p{out_fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, poll_ms(deadline));
        if (r < 0 && errno != EINTR) return false;
        if (r > 0) {
            sink.clear();
            if (!read_some(out_fd_, sink)) return true; // EOF: the process is gone
        }
        if (Clock::now() >= deadline) return false;
    }
}

int ServerProcess::reap() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status_code(status);
}

std::optional<int> ServerProcess::terminate(milliseconds timeout) {
    if (!running()) return std::nullopt;
    ::kill(pid_, SIGTERM);
    if (wait_exit(Clock::now() + timeout)) return reap();
    kill();
    return std::nullopt;
}

void ServerProcess::kill() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    reap();
}

// ---- run_process -----------------------------------------------------------------

ProcessResult run_process(const std::vector<std::string>& argv, milliseconds timeout) {
    const ExecPlan plan(argv);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw_errno("fork");
    }
    if (pid == 0) exec_child(plan, fds[1], true, true);
    ::close(fds[1]);

    ProcessResult result;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        pollfd p{fds[0], POLLIN, 0};
        const int r = ::poll(&p, 1, poll_ms(deadline));
        if (r > 0 && !read_some(fds[0], result.output)) break; // EOF
        if (r < 0 && errno != EINTR) break;
        if (Clock::now() >= deadline) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = status_code(status);
    return result;
}

// ---- InteractiveProcess ------------------------------------------------------------------

InteractiveProcess::InteractiveProcess(const std::vector<std::string>& argv) {
    const ExecPlan plan(argv);
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) throw_errno("pipe2");
    if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2");
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) exec_child(plan, out[1], false, false, -1, in[0]);
    ::close(in[0]);
    ::close(out[1]);
    in_fd_ = in[1];
    out_fd_ = out[0];
}

InteractiveProcess::~InteractiveProcess() {
    if (in_fd_ >= 0) ::close(in_fd_);
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
}

void InteractiveProcess::write_line(const std::string& line) {
    const std::string text = line + "\n";
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(in_fd_, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw_errno("write to child");
        done += static_cast<std::size_t>(n);
    }
}

std::optional<std::string> InteractiveProcess::read_line(Clock::time_point deadline) {
    for (;;) {
        if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            return line;
        }
        if (Clock::now() >= deadline) return std::nullopt;
        pollfd p{out_fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, poll_ms(deadline));
        if (r > 0 && !read_some(out_fd_, buffer_)) return std::nullopt; // EOF
        if (r < 0 && errno != EINTR) return std::nullopt;
    }
}

void InteractiveProcess::signal(int sig) { ::kill(pid_, sig); }

// ---- TempDir / ClosedPort ------------------------------------------------------------

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tether-itest-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw_errno("mkdtemp");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& content) const {
    std::ofstream f(file(name), std::ios::binary);
    f << content;
    if (!f) throw std::runtime_error("cannot write " + file(name));
}

ClosedPort::ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw_errno("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind");
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno("getsockname");
    port_ = ntohs(addr.sin_port);
}

ClosedPort::~ClosedPort() {
    if (fd_ >= 0) ::close(fd_);
}

// ---- Recorder ------------------------------------------------------------------------

Callbacks Recorder::callbacks() {
    Callbacks cb;
    cb.on_state = [this](const StateChange& c) {
        std::lock_guard<std::mutex> lock(mu_);
        keep_recent(states, history_limit);
        states.push_back(TimedState{c, Clock::now()});
        state = c.to;
        if (c.to == State::ready) ++ready_count;
        if (on_state_hook) on_state_hook(c);
        cv_.notify_all();
    };
    cb.on_message = [this](const Message& m) {
        std::lock_guard<std::mutex> lock(mu_);
        if (on_message_hook) on_message_hook(m);
        if (keep_messages) messages.push_back(m);
        cv_.notify_all();
    };
    cb.on_acked = [this](MessageId id) {
        std::lock_guard<std::mutex> lock(mu_);
        ++acked_count;
        if (keep_acked_ids) {
            acked.push_back(id);
            if (!acked_set.insert(id).second) ++acked_duplicates;
        } else if (!record_ack_compact(id)) {
            ++acked_duplicates;
        }
        cv_.notify_all();
    };
    cb.on_failed = [this](MessageId id, const std::string&, std::error_code ec) {
        std::lock_guard<std::mutex> lock(mu_);
        failed.emplace_back(id, ec);
        cv_.notify_all();
    };
    cb.on_resumed = [this](const std::string& session) {
        std::lock_guard<std::mutex> lock(mu_);
        keep_recent(resumed, history_limit);
        resumed.push_back(session);
        cv_.notify_all();
    };
    cb.on_session_lost = [this](const SessionLostInfo& info) {
        std::lock_guard<std::mutex> lock(mu_);
        lost.push_back(info);
        if (on_lost_hook) on_lost_hook(info);
        cv_.notify_all();
    };
    cb.on_error = [this](std::error_code ec, const std::string& detail) {
        std::lock_guard<std::mutex> lock(mu_);
        keep_recent(errors, history_limit);
        errors.push_back(TimedError{ec, detail, Clock::now()});
        cv_.notify_all();
    };
    return cb;
}

LogSink Recorder::log_sink() {
    return [this](LogLevel level, std::string_view message) {
        static const char* const kNames[] = {"trace", "debug", "info", "warn", "error"};
        const auto idx = static_cast<std::size_t>(level);
        std::lock_guard<std::mutex> lock(mu_);
        keep_recent(log_, history_limit != 0 ? history_limit : 1000);
        log_.push_back(std::string(idx < 5 ? kNames[idx] : "?") + ": " + std::string(message));
    };
}

bool Recorder::wait_for(milliseconds timeout, const std::function<bool(const Recorder&)>& pred) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, scaled(timeout), [&] { return pred(*this); });
}

bool Recorder::wait_until(Clock::time_point deadline, const std::function<bool(const Recorder&)>& pred) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return pred(*this); });
}

void Recorder::notify() const {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
}

std::string Recorder::log_tail(std::size_t lines) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream out;
    const std::size_t from = log_.size() > lines ? log_.size() - lines : 0;
    for (std::size_t i = from; i < log_.size(); ++i) out << "  " << log_[i] << "\n";
    return out.str();
}

std::string Recorder::summary() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream out;
    out << "state=" << to_string(state) << " ready_count=" << ready_count << " messages=" << messages.size()
        << " acked=" << acked.size() << " failed=" << failed.size() << " resumed=" << resumed.size()
        << " lost=" << lost.size() << "\n  errors:";
    for (const auto& e : errors) {
        const bool ours = e.code.category() == error_category();
        out << " [" << (ours ? errc_name(static_cast<errc>(e.code.value())) : e.code.message()) << ": " << e.detail
            << "]";
    }
    out << "\n  states:";
    const std::size_t from = states.size() > 30 ? states.size() - 30 : 0;
    for (std::size_t i = from; i < states.size(); ++i) out << " " << to_string(states[i].change.to);
    out << "\n";
    return out.str();
}

bool Recorder::record_ack_compact(MessageId id) {
    if (id < acked_below_ || !acked_ahead_.insert(id).second) return false;
    while (!acked_ahead_.empty() && *acked_ahead_.begin() == acked_below_) {
        acked_ahead_.erase(acked_ahead_.begin());
        ++acked_below_;
    }
    return true;
}

std::size_t Recorder::count_errors(errc e) const {
    std::size_t n = 0;
    for (const auto& x : errors)
        if (x.code == e) ++n;
    return n;
}

std::size_t Recorder::count_states(State to) const {
    std::size_t n = 0;
    for (const auto& x : states)
        if (x.change.to == to) ++n;
    return n;
}

ClientOptions test_options(const std::string& url, Recorder& rec) {
    ClientOptions o;
    o.url = url;
    o.callbacks = rec.callbacks();
    o.log = rec.log_sink();
    o.log_level = LogLevel::info;
    o.heartbeat.interval = milliseconds(200);
    o.heartbeat.timeout = milliseconds(600);
    o.backoff.base = milliseconds(20);
    o.backoff.max = milliseconds(300);
    o.timeouts.connect = scaled(milliseconds(3000));
    o.timeouts.hello = scaled(milliseconds(3000));
    o.timeouts.close_drain = milliseconds(2000);
    return o;
}

} // namespace tether::itest
