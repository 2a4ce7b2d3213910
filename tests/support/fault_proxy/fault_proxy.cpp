// FaultProxy implementation.
//
// Model: one thread owns every socket and runs a poll() loop. Control threads
// never touch sockets; they update `Shared` under the mutex, bump a request
// generation, write a byte to the wake pipe and wait until the loop reports
// that generation applied. The loop applies control state right after poll()
// returns and before doing any I/O, so "applied" really means "every byte
// moved from now on obeys the new settings".
//
// Per connection and direction there is a FIFO of chunks, each stamped with
// the time it may leave (read time + delay). A direction stops reading when
// its queue holds kMaxQueued bytes, so a stalled receiver back-pressures the
// sender instead of growing memory. All sockets are non-blocking; poll() only
// watches what we can act on (so POLLHUP/POLLERR cannot spin the loop) and its
// timeout is the nearest chunk deadline, throttle refill or connect deadline.
#include "fault_proxy/fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kMaxQueued = 256 * 1024;  // per direction
constexpr int kReadsPerTurn = 4;                // fairness between connections
constexpr int kAcceptsPerTurn = 64;
constexpr auto kConnectTimeout = std::chrono::seconds(3);
constexpr auto kControlTimeout = std::chrono::seconds(2);
constexpr auto kMaxPollWait = std::chrono::milliseconds(1000);
constexpr std::uint64_t kMaxThrottle = 1'000'000'000;  // keeps bucket math in 64 bits
constexpr std::uint64_t kNano = 1'000'000'000;

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = other.release();
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

void make_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno("fcntl(O_NONBLOCK)");
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void set_nodelay(int fd) {
    // The proxy must not add Nagle delays of its own on top of the injected ones.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Close with RST: SO_LINGER {on, 0} makes close() abort the connection.
void reset_fd(Fd& fd) {
    if (!fd) return;
    const linger lg{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    fd.reset();
}

// Close with FIN. Linux sends RST instead when close() finds unread bytes in
// the receive queue, so drain it first (bounded: the queue is finite).
void cut_fd(Fd& fd) {
    if (!fd) return;
    ::shutdown(fd.get(), SHUT_RDWR);
    char sink[16 * 1024];
    for (int i = 0; i < 4096; ++i) {
        const ssize_t n = ::recv(fd.get(), sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    fd.reset();
}

struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

Endpoint parse_loopback(const std::string& host_in, std::uint16_t port) {
    std::string host = host_in;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host == "localhost") host = "127.0.0.1";
    if (port == 0) throw std::invalid_argument("FaultProxy: upstream port must not be 0");

    Endpoint ep;
    in_addr v4{};
    in6_addr v6{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ep.addr);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr = v4;
        ep.len = sizeof(sockaddr_in);
        return ep;
    }
    if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sin6->sin6_addr = v6;
        ep.len = sizeof(sockaddr_in6);
        return ep;
    }
    throw std::invalid_argument("FaultProxy: upstream must be a loopback address (127.0.0.0/8, ::1 or localhost), got '" +
                                host_in + "'");
}

// Token bucket in nano-bytes so that low rates still refill smoothly.
class Bucket {
public:
    // Whole bytes that may be sent now at `rate` bytes/s (refills first).
    std::size_t available(Clock::time_point now, std::uint64_t rate) {
        if (rate != rate_) {
            rate_ = rate;
            credit_ = capacity();
            last_ = now;
        } else if (now > last_) {
            const auto elapsed = std::min<std::uint64_t>(
                static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count()),
                kNano);
            credit_ = std::min(capacity(), credit_ + rate_ * elapsed);
            last_ = now;
        }
        return static_cast<std::size_t>(credit_ / kNano);
    }

    void spend(std::size_t bytes) { credit_ -= std::min<std::uint64_t>(credit_, bytes * kNano); }

    // When `want` bytes (clamped to the burst) will be available; call after available().
    Clock::time_point ready_at(Clock::time_point now, std::size_t want) const {
        const std::uint64_t need = std::min<std::uint64_t>(want, burst()) * kNano;
        if (need <= credit_ || rate_ == 0) return now;
        return now + std::chrono::nanoseconds((need - credit_ + rate_ - 1) / rate_);
    }

private:
    std::uint64_t burst() const { return std::max<std::uint64_t>(rate_ / 20, 1); }
    std::uint64_t capacity() const { return burst() * kNano; }

    std::uint64_t rate_ = 0;
    std::uint64_t credit_ = 0;
    Clock::time_point last_{};
};

struct Chunk {
    std::vector<char> bytes;
    std::size_t sent = 0;
    Clock::time_point due;
};

struct Direction {
    std::deque<Chunk> queue;
    std::size_t queued = 0;  // unsent bytes in queue
    bool eof = false;        // the source sent FIN
    bool shut = false;       // the FIN was forwarded to the destination
    Bucket bucket;
};

enum class ConnState { waiting, connecting, open };

struct Conn {
    Fd client;
    Fd upstream;
    ConnState state = ConnState::waiting;  // waiting: accepted during a blackhole, not dialled yet
    Clock::time_point connect_deadline{};
    Direction up;    // client -> upstream
    Direction down;  // upstream -> client
    short upstream_revents = 0;
    bool dead = false;
};

struct Settings {
    FaultProxy::Mode mode = FaultProxy::Mode::pass;
    std::chrono::milliseconds delay{0};
    std::uint64_t throttle = 0;
    Endpoint upstream;
};

}  // namespace

struct FaultProxy::Impl {
    // --- shared with control threads, guarded by mu -------------------------
    mutable std::mutex mu;
    std::condition_variable applied_cv;
    Settings shared;
    bool cut_requested = false;
    bool reset_requested = false;
    bool stopping = false;
    bool running = true;
    std::uint64_t requested_gen = 0;
    std::uint64_t applied_gen = 0;

    // --- lock-free statistics (written by the loop, read by anyone) ---------
    std::atomic<std::size_t> active{0};
    std::atomic<std::size_t> total{0};
    std::atomic<std::size_t> refused{0};
    std::atomic<std::uint64_t> bytes{0};

    // --- immutable after construction ---------------------------------------
    Fd listener;
    Fd wake_read;
    Fd wake_write;
    std::uint16_t port = 0;

    // --- loop thread only ---------------------------------------------------
    Settings current;
    std::vector<std::unique_ptr<Conn>> conns;
    std::vector<char> scratch = std::vector<char>(kReadChunk);
    std::thread thread;

    // Runs `mutate` under the lock and waits (bounded) until the loop applied it.
    template <class F>
    void control(F&& mutate) {
        std::unique_lock<std::mutex> lock(mu);
        mutate();
        const std::uint64_t gen = ++requested_gen;
        wake();
        applied_cv.wait_for(lock, kControlTimeout, [&] { return applied_gen >= gen || !running; });
    }

    void wake() const {
        const char byte = 1;
        // EAGAIN means the pipe is full, i.e. a wake-up is already pending.
        [[maybe_unused]] const ssize_t n = ::write(wake_write.get(), &byte, 1);
    }

    void run() {
        try {
            loop();
        } catch (const std::exception& e) {
            std::cerr << "FaultProxy: proxy thread stopped: " << e.what() << '\n';
        }
        conns.clear();  // Fd destructors close everything
        active = 0;
        {
            std::lock_guard<std::mutex> lock(mu);
            running = false;
        }
        applied_cv.notify_all();
    }

    void loop() {
        std::vector<pollfd> fds;
        std::vector<Conn*> owners;  // owners[i] is the connection of fds[i + 2]
        for (;;) {
            fds.clear();
            owners.clear();
            fds.push_back(pollfd{wake_read.get(), POLLIN, 0});
            fds.push_back(pollfd{listener.get(), POLLIN, 0});
            Clock::time_point now = Clock::now();
            Clock::time_point next = now + kMaxPollWait;
            if (current.mode != Mode::blackhole) {
                for (auto& c : conns) add_interest(*c, now, next, fds, owners);
            }

            const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
            const int timeout = static_cast<int>(std::clamp<decltype(wait)>(wait, 0, kMaxPollWait.count()));
            if (::poll(fds.data(), static_cast<nfds_t>(fds.size()), timeout) < 0 && errno != EINTR) throw_errno("poll");

            char sink[64];
            while (::read(wake_read.get(), sink, sizeof sink) > 0) {
            }
            for (auto& c : conns) c->upstream_revents = 0;
            for (std::size_t i = 0; i < owners.size(); ++i) {
                if (fds[i + 2].fd == owners[i]->upstream.get()) owners[i]->upstream_revents = fds[i + 2].revents;
            }

            if (!apply_control()) return;
            accept_new();
            if (current.mode != Mode::blackhole) {
                for (auto& c : conns) service(*c);
            }
            remove_dead();
        }
    }

    void add_interest(Conn& c, Clock::time_point now, Clock::time_point& next, std::vector<pollfd>& fds,
                      std::vector<Conn*>& owners) {
        short client_events = 0;
        short upstream_events = 0;
        if (c.state == ConnState::connecting) {
            upstream_events = POLLOUT;
            next = std::min(next, c.connect_deadline);
        } else if (c.state == ConnState::open) {
            if (!c.up.eof && c.up.queued < kMaxQueued) client_events |= POLLIN;
            if (!c.down.eof && c.down.queued < kMaxQueued) upstream_events |= POLLIN;
            upstream_events |= write_interest(c.up, now, next);
            client_events |= write_interest(c.down, now, next);
        }
        if (client_events != 0) {
            fds.push_back(pollfd{c.client.get(), client_events, 0});
            owners.push_back(&c);
        }
        if (upstream_events != 0) {
            fds.push_back(pollfd{c.upstream.get(), upstream_events, 0});
            owners.push_back(&c);
        }
    }

    // POLLOUT only when the head chunk is due and the throttle allows a byte;
    // otherwise the poll timeout covers the wait.
    short write_interest(Direction& d, Clock::time_point now, Clock::time_point& next) const {
        if (d.queue.empty()) return 0;
        const Chunk& head = d.queue.front();
        if (head.due > now) {
            next = std::min(next, head.due);
            return 0;
        }
        if (current.throttle != 0 && d.bucket.available(now, current.throttle) == 0) {
            next = std::min(next, d.bucket.ready_at(now, head.bytes.size() - head.sent));
            return 0;
        }
        return POLLOUT;
    }

    // Takes the control state; returns false when asked to stop.
    bool apply_control() {
        Settings s;
        bool cut = false;
        bool reset = false;
        bool stop = false;
        std::uint64_t gen = 0;
        {
            std::lock_guard<std::mutex> lock(mu);
            s = shared;
            cut = std::exchange(cut_requested, false);
            reset = std::exchange(reset_requested, false);
            stop = stopping;
            gen = requested_gen;
        }
        if (stop) return false;

        const bool thawed = current.mode == Mode::blackhole && s.mode != Mode::blackhole;
        current = s;
        if (reset || cut) {
            for (auto& c : conns) {
                if (reset) {
                    reset_fd(c->client);
                    reset_fd(c->upstream);
                } else {
                    cut_fd(c->client);
                    cut_fd(c->upstream);
                }
                c->dead = true;
            }
        }
        if (thawed) {
            // Time spent frozen does not count against the connect timeout.
            for (auto& c : conns) c->connect_deadline = Clock::now() + kConnectTimeout;
        }
        remove_dead();
        {
            std::lock_guard<std::mutex> lock(mu);
            applied_gen = gen;
        }
        applied_cv.notify_all();
        return true;
    }

    void accept_new() {
        for (int i = 0; i < kAcceptsPerTurn; ++i) {
            Fd client(::accept(listener.get(), nullptr, nullptr));
            if (!client) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;  // EAGAIN, or out of descriptors: try again next turn
            }
            if (current.mode == Mode::refuse) {
                reset_fd(client);
                ++refused;
                continue;
            }
            make_nonblocking(client.get());
            set_nodelay(client.get());
            auto c = std::make_unique<Conn>();
            c->client = std::move(client);
            conns.push_back(std::move(c));
            ++total;
            active = conns.size();
        }
    }

    void remove_dead() {
        conns.erase(std::remove_if(conns.begin(), conns.end(), [](const auto& c) { return c->dead; }), conns.end());
        active = conns.size();
    }

    // An error on either side: propagate it as RST to the other side too.
    static void abort_conn(Conn& c) {
        reset_fd(c.client);
        reset_fd(c.upstream);
        c.dead = true;
    }

    void service(Conn& c) {
        if (c.state == ConnState::waiting) start_connect(c);
        if (c.state == ConnState::connecting) finish_connect(c);
        if (c.state != ConnState::open || c.dead) return;

        if (!pump(c.client, c.up) || !pump(c.upstream, c.down) || !flush(c.upstream, c.up) ||
            !flush(c.client, c.down)) {
            abort_conn(c);
            return;
        }
        if (c.up.shut && c.down.shut) {
            // Both FINs forwarded and both EOFs read: nothing unread, plain close is a FIN.
            c.client.reset();
            c.upstream.reset();
            c.dead = true;
        }
    }

    void start_connect(Conn& c) {
        const Endpoint& ep = current.upstream;
        Fd s(::socket(ep.addr.ss_family, SOCK_STREAM, 0));
        if (!s) {
            abort_conn(c);
            return;
        }
        make_nonblocking(s.get());
        set_nodelay(s.get());
        const int rc = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&ep.addr), ep.len);
        if (rc != 0 && errno != EINPROGRESS) {
            abort_conn(c);  // upstream down: reset the client, as a refused connect would
            return;
        }
        c.upstream = std::move(s);
        c.state = rc == 0 ? ConnState::open : ConnState::connecting;
        c.connect_deadline = Clock::now() + kConnectTimeout;
    }

    static void finish_connect(Conn& c) {
        if ((c.upstream_revents & (POLLOUT | POLLERR | POLLHUP)) == 0) {
            if (Clock::now() >= c.connect_deadline) abort_conn(c);
            return;
        }
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(c.upstream.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            abort_conn(c);
            return;
        }
        c.state = ConnState::open;
    }

    // Reads what `from` has into d's queue; false on a socket error.
    bool pump(const Fd& from, Direction& d) {
        for (int i = 0; i < kReadsPerTurn && !d.eof && d.queued < kMaxQueued; ++i) {
            const ssize_t n = ::recv(from.get(), scratch.data(), scratch.size(), 0);
            if (n > 0) {
                const auto size = static_cast<std::size_t>(n);
                // Stamp after the read: the delay counts from when the bytes were here.
                d.queue.push_back(Chunk{std::vector<char>(scratch.begin(), scratch.begin() + n), 0,
                                        Clock::now() + current.delay});
                d.queued += size;
            } else if (n == 0) {
                d.eof = true;
            } else if (errno == EINTR) {
                continue;
            } else {
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
        }
        return true;
    }

    // Writes due chunks to `to`, within the throttle; false on a socket error.
    bool flush(const Fd& to, Direction& d) {
        const Clock::time_point now = Clock::now();
        while (!d.queue.empty()) {
            Chunk& head = d.queue.front();
            if (head.due > now) break;
            std::size_t len = head.bytes.size() - head.sent;
            if (current.throttle != 0) {
                len = std::min(len, d.bucket.available(now, current.throttle));
                if (len == 0) break;
            }
            const ssize_t n = ::send(to.get(), head.bytes.data() + head.sent, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno == EAGAIN || errno == EWOULDBLOCK;
            }
            const auto sent = static_cast<std::size_t>(n);
            if (current.throttle != 0) d.bucket.spend(sent);
            head.sent += sent;
            d.queued -= sent;
            bytes += sent;
            if (head.sent == head.bytes.size()) d.queue.pop_front();
        }
        if (d.queue.empty() && d.eof && !d.shut) {
            ::shutdown(to.get(), SHUT_WR);  // forward the half-close
            d.shut = true;
        }
        return true;
    }
};

FaultProxy::FaultProxy(std::string upstream_host, std::uint16_t upstream_port, std::uint16_t listen_port)
    : impl_(std::make_unique<Impl>()) {
    Impl& im = *impl_;
    im.shared.upstream = parse_loopback(upstream_host, upstream_port);
    im.current = im.shared;

    im.listener = Fd(::socket(AF_INET, SOCK_STREAM, 0));
    if (!im.listener) throw_errno("FaultProxy: socket");
    // Lets QA restart the tool on a fixed --listen-port despite TIME_WAIT.
    const int one = 1;
    ::setsockopt(im.listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(listen_port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(im.listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        throw_errno("FaultProxy: bind 127.0.0.1");
    }
    if (::listen(im.listener.get(), SOMAXCONN) != 0) throw_errno("FaultProxy: listen");
    socklen_t len = sizeof addr;
    if (::getsockname(im.listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw_errno("FaultProxy: getsockname");
    }
    im.port = ntohs(addr.sin_port);
    make_nonblocking(im.listener.get());

    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw_errno("FaultProxy: pipe");
    im.wake_read = Fd(pipe_fds[0]);
    im.wake_write = Fd(pipe_fds[1]);
    make_nonblocking(im.wake_read.get());
    make_nonblocking(im.wake_write.get());

    im.thread = std::thread([&im] { im.run(); });
}

FaultProxy::~FaultProxy() {
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->wake();
    impl_->thread.join();  // the loop checks `stopping` after every poll wake-up
}

std::uint16_t FaultProxy::port() const { return impl_->port; }

void FaultProxy::set_upstream(std::string host, std::uint16_t port) {
    const Endpoint ep = parse_loopback(host, port);
    impl_->control([&] { impl_->shared.upstream = ep; });
}

void FaultProxy::set_mode(Mode mode) {
    impl_->control([&] { impl_->shared.mode = mode; });
}

FaultProxy::Mode FaultProxy::mode() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->shared.mode;
}

void FaultProxy::cut_all() {
    impl_->control([&] { impl_->cut_requested = true; });
}

void FaultProxy::reset_all() {
    impl_->control([&] { impl_->reset_requested = true; });
}

void FaultProxy::set_delay(std::chrono::milliseconds one_way) {
    const auto delay = std::max(one_way, std::chrono::milliseconds(0));
    impl_->control([&] { impl_->shared.delay = delay; });
}

void FaultProxy::set_throttle(std::size_t bytes_per_second) {
    const std::uint64_t rate = std::min<std::uint64_t>(bytes_per_second, kMaxThrottle);
    impl_->control([&] { impl_->shared.throttle = rate; });
}

std::size_t FaultProxy::active_connections() const { return impl_->active.load(); }
std::size_t FaultProxy::total_connections() const { return impl_->total.load(); }
std::size_t FaultProxy::refused_connections() const { return impl_->refused.load(); }
std::uint64_t FaultProxy::bytes_forwarded() const { return impl_->bytes.load(); }

const char* to_string(FaultProxy::Mode mode) {
    switch (mode) {
    case FaultProxy::Mode::pass:
        return "pass";
    case FaultProxy::Mode::blackhole:
        return "blackhole";
    case FaultProxy::Mode::refuse:
        return "refuse";
    }
    return "unknown";
}

}  // namespace tether::testing
