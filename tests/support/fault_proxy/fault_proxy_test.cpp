// FaultProxy integration tests: real sockets on loopback, a tiny echo server
// (plain sockets, one thread), and bounded waits. Things that must happen are
// awaited with a deadline (poll with timeout, or `eventually`); things that
// must NOT happen (blackhole) can only be checked over a short quiet window.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fault_proxy/fault_proxy.hpp"

namespace {

using namespace std::chrono_literals;
using tether::testing::FaultProxy;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = 5s;   // upper bound for anything that must happen
constexpr auto kQuiet = 300ms;  // window for things that must not happen

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

int ms_left(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<decltype(left)>(left, 0));
}

// Loopback address of `family` with `port`.
std::pair<sockaddr_storage, socklen_t> loopback(int family, std::uint16_t port) {
    sockaddr_storage ss{};
    if (family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        a->sin6_addr = in6addr_loopback;
        return {ss, static_cast<socklen_t>(sizeof(sockaddr_in6))};
    }
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return {ss, static_cast<socklen_t>(sizeof(sockaddr_in))};
}

std::uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// A bound socket: listening (echo server) or not (a port nobody answers on).
Fd bind_loopback(int family, bool listening) {
    Fd fd(::socket(family, SOCK_STREAM, 0));
    if (!fd) return fd;
    const auto [addr, len] = loopback(family, 0);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) return Fd();
    if (listening && ::listen(fd.get(), SOMAXCONN) != 0) return Fd();
    return fd;
}

// Non-blocking client socket connected to loopback:port; on failure an
// invalid Fd, with the errno in *error if given.
Fd connect_to(std::uint16_t port, int family = AF_INET, int* error = nullptr) {
    int ignored = 0;
    int& err = error != nullptr ? *error : ignored;
    err = 0;
    Fd fd(::socket(family, SOCK_STREAM, 0));
    if (!fd) return fd;
    set_nonblocking(fd.get());
    const auto [addr, len] = loopback(family, port);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
        err = errno;
        if (err != EINPROGRESS) return Fd();
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, ms_left(Clock::now() + kTimeout)) != 1) {
            err = ETIMEDOUT;
            return Fd();
        }
        socklen_t err_len = sizeof err;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) return Fd();
    }
    return fd;
}

bool send_all(int fd, std::string_view data, Clock::duration timeout = kTimeout) {
    const auto deadline = Clock::now() + timeout;
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, ms_left(deadline)) != 1) return false;
    }
    return true;
}

enum class Outcome { data, eof, reset, timeout, error };

const char* name(Outcome o) {
    switch (o) {
    case Outcome::data: return "data";
    case Outcome::eof: return "eof";
    case Outcome::reset: return "reset";
    case Outcome::timeout: return "timeout";
    case Outcome::error: return "error";
    }
    return "?";
}

struct ReadResult {
    Outcome outcome = Outcome::timeout;
    std::string data;
};

// Reads until `want` bytes arrived (outcome data), or EOF / error / deadline.
ReadResult read_n(int fd, std::size_t want, Clock::duration timeout = kTimeout) {
    const auto deadline = Clock::now() + timeout;
    ReadResult r;
    char buf[64 * 1024];
    while (r.data.size() < want || want == 0) {
        pollfd p{fd, POLLIN, 0};
        const int rc = ::poll(&p, 1, ms_left(deadline));
        if (rc == 0) {
            r.outcome = Outcome::timeout;
            return r;
        }
        const ssize_t n = ::recv(fd, buf, std::min(sizeof buf, want == 0 ? sizeof buf : want - r.data.size()), 0);
        if (n > 0) {
            r.data.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
            r.outcome = Outcome::eof;
            return r;
        } else if (errno == ECONNRESET) {
            r.outcome = Outcome::reset;
            return r;
        } else if (errno != EAGAIN && errno != EINTR) {
            r.outcome = Outcome::error;
            return r;
        }
    }
    r.outcome = Outcome::data;
    return r;
}

// Reads and discards until the peer closes; says how (eof or reset), or timeout.
Outcome read_until_closed(int fd, Clock::duration timeout = kTimeout) {
    return read_n(fd, 0, timeout).outcome;
}

// How a connection the proxy is expected to kill ends: connect() itself may
// already report the reset when the RST beats our poll.
Outcome connect_and_wait_for_close(std::uint16_t port) {
    int connect_error = 0;
    Fd fd = connect_to(port, AF_INET, &connect_error);
    if (!fd) return connect_error == ECONNRESET ? Outcome::reset : Outcome::error;
    return read_until_closed(fd.get());
}

std::string echo(int fd, std::string_view message) {
    if (!send_all(fd, message)) return "<send failed>";
    const ReadResult r = read_n(fd, message.size());
    return r.outcome == Outcome::data ? r.data : std::string("<") + name(r.outcome) + ">";
}

// True when nothing at all (no byte, FIN or RST) arrives on any fd within `window`.
bool stays_quiet(std::initializer_list<int> fds, Clock::duration window = kQuiet) {
    std::vector<pollfd> p;
    for (int fd : fds) p.push_back(pollfd{fd, POLLIN, 0});
    return ::poll(p.data(), static_cast<nfds_t>(p.size()), ms_left(Clock::now() + window)) == 0;
}

// Polls `pred` until it holds or `timeout` passes: for proxy-side effects that
// have no socket event to wait on (counters).
template <class Pred>
bool eventually(Pred pred, Clock::duration timeout = kTimeout) {
    const auto deadline = Clock::now() + timeout;
    while (!pred()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

std::string pattern(std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return s;
}

// Echo server on loopback:0. Non-blocking, one poll() thread, bounded
// per-client buffering; closes a client after its EOF once all is echoed.
class EchoServer {
public:
    explicit EchoServer(int family = AF_INET) : listener_(bind_loopback(family, true)) {
        int pipe_fds[2];
        if (!listener_ || ::pipe(pipe_fds) != 0) return;
        wake_read_ = Fd(pipe_fds[0]);
        wake_write_ = Fd(pipe_fds[1]);
        set_nonblocking(listener_.get());
        set_nonblocking(wake_read_.get());
        port_ = local_port(listener_.get());
        thread_ = std::thread([this] { run(); });
    }
    ~EchoServer() {
        if (!thread_.joinable()) return;
        stop_ = true;
        const char byte = 1;
        [[maybe_unused]] const ssize_t n = ::write(wake_write_.get(), &byte, 1);
        thread_.join();
    }
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;

    bool ok() const { return thread_.joinable(); }
    std::uint16_t port() const { return port_; }
    std::size_t accepted() const { return accepted_; }
    std::size_t closed_by_eof() const { return closed_by_eof_; }
    std::size_t closed_by_error() const { return closed_by_error_; }

private:
    struct Client {
        Fd fd;
        std::string out;
        bool eof = false;
        bool dead = false;
    };

    void run() {
        std::vector<std::unique_ptr<Client>> clients;
        std::vector<pollfd> fds;
        char buf[64 * 1024];
        while (!stop_) {
            fds.clear();
            fds.push_back(pollfd{wake_read_.get(), POLLIN, 0});
            fds.push_back(pollfd{listener_.get(), POLLIN, 0});
            for (auto& c : clients) {
                short events = 0;
                if (!c->eof && c->out.size() < 256 * 1024) events = static_cast<short>(events | POLLIN);
                if (!c->out.empty()) events = static_cast<short>(events | POLLOUT);
                fds.push_back(pollfd{c->fd.get(), events, 0});
            }
            ::poll(fds.data(), static_cast<nfds_t>(fds.size()), 1000);
            while (::read(wake_read_.get(), buf, sizeof buf) > 0) {
            }
            for (;;) {
                Fd fd(::accept(listener_.get(), nullptr, nullptr));
                if (!fd) break;
                set_nonblocking(fd.get());
                auto c = std::make_unique<Client>();
                c->fd = std::move(fd);
                clients.push_back(std::move(c));
                ++accepted_;
            }
            for (auto& c : clients) {
                while (!c->eof && c->out.size() < 256 * 1024) {
                    const ssize_t n = ::recv(c->fd.get(), buf, sizeof buf, 0);
                    if (n > 0) {
                        c->out.append(buf, static_cast<std::size_t>(n));
                    } else if (n == 0) {
                        c->eof = true;
                    } else {
                        if (errno != EAGAIN && errno != EINTR) c->dead = true;
                        break;
                    }
                }
                while (!c->dead && !c->out.empty()) {
                    const ssize_t n = ::send(c->fd.get(), c->out.data(), c->out.size(), MSG_NOSIGNAL);
                    if (n > 0) {
                        c->out.erase(0, static_cast<std::size_t>(n));
                    } else {
                        if (errno != EAGAIN && errno != EINTR) c->dead = true;
                        break;
                    }
                }
                if (c->dead) {
                    ++closed_by_error_;
                } else if (c->eof && c->out.empty()) {
                    ++closed_by_eof_;
                    c->dead = true;
                }
            }
            clients.erase(std::remove_if(clients.begin(), clients.end(), [](const auto& c) { return c->dead; }),
                          clients.end());
        }
    }

    Fd listener_;
    Fd wake_read_;
    Fd wake_write_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> accepted_{0};
    std::atomic<std::size_t> closed_by_eof_{0};
    std::atomic<std::size_t> closed_by_error_{0};
    std::thread thread_;
};

struct ProxiedEcho : ::testing::Test {
    EchoServer server;
    FaultProxy proxy{"127.0.0.1", server.port()};

    void SetUp() override { ASSERT_TRUE(server.ok()); }
    Fd connect() { return connect_to(proxy.port()); }
};

TEST_F(ProxiedEcho, ForwardsBothWaysAndCounts) {
    EXPECT_NE(proxy.port(), 0);
    EXPECT_EQ(proxy.mode(), FaultProxy::Mode::pass);
    Fd c = connect();
    ASSERT_TRUE(c);
    EXPECT_EQ(echo(c.get(), "hello"), "hello");
    EXPECT_EQ(proxy.total_connections(), 1u);
    EXPECT_EQ(proxy.active_connections(), 1u);
    EXPECT_EQ(server.accepted(), 1u);
    // 5 bytes each way; the proxy counts after send() returns, hence eventually.
    EXPECT_TRUE(eventually([&] { return proxy.bytes_forwarded() == 10; })) << proxy.bytes_forwarded();
}

TEST_F(ProxiedEcho, LargeTransferSurvivesPartialWritesAndBackpressure) {
    Fd c = connect();
    ASSERT_TRUE(c);
    const std::string sent = pattern(4 * 1024 * 1024);
    std::string received;
    std::size_t offset = 0;
    char buf[64 * 1024];
    const auto deadline = Clock::now() + 20s;
    // Write and read at once: the echo pushes back as soon as buffers fill.
    while (received.size() < sent.size() && Clock::now() < deadline) {
        pollfd p{c.get(), static_cast<short>(offset < sent.size() ? POLLIN | POLLOUT : POLLIN), 0};
        ASSERT_GE(::poll(&p, 1, ms_left(deadline)), 0);
        if (offset < sent.size() && (p.revents & POLLOUT) != 0) {
            const ssize_t n = ::send(c.get(), sent.data() + offset, sent.size() - offset, MSG_NOSIGNAL);
            if (n > 0) offset += static_cast<std::size_t>(n);
        }
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            const ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
            ASSERT_NE(n, 0) << "unexpected EOF after " << received.size() << " bytes";
            if (n > 0) received.append(buf, static_cast<std::size_t>(n));
        }
    }
    ASSERT_EQ(received.size(), sent.size());
    EXPECT_TRUE(received == sent);
    EXPECT_TRUE(eventually([&] { return proxy.bytes_forwarded() == 2 * sent.size(); }));
}

TEST_F(ProxiedEcho, HalfCloseIsForwardedAndTheConnectionEnds) {
    Fd c = connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(send_all(c.get(), "bye"));
    ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
    // The server sees our FIN only through the proxy, echoes, then closes.
    const ReadResult r = read_n(c.get(), 3);
    EXPECT_EQ(r.data, "bye");
    EXPECT_EQ(read_until_closed(c.get()), Outcome::eof);
    EXPECT_TRUE(eventually([&] { return proxy.active_connections() == 0; }));
    EXPECT_EQ(server.closed_by_eof(), 1u);
}

TEST_F(ProxiedEcho, CutAllClosesBothSidesWithFin) {
    Fd c = connect();
    ASSERT_TRUE(c);
    ASSERT_EQ(echo(c.get(), "x"), "x");
    proxy.cut_all();
    EXPECT_EQ(proxy.active_connections(), 0u);  // applied when cut_all returns
    EXPECT_EQ(read_until_closed(c.get()), Outcome::eof);
    EXPECT_TRUE(eventually([&] { return server.closed_by_eof() == 1; }));
    EXPECT_EQ(server.closed_by_error(), 0u);
    EXPECT_EQ(proxy.total_connections(), 1u);

    Fd again = connect();  // the proxy keeps accepting
    ASSERT_TRUE(again);
    EXPECT_EQ(echo(again.get(), "y"), "y");
}

TEST_F(ProxiedEcho, CutAllSendsFinEvenWithUnreadBytes) {
    // Linux turns close() into RST when unread bytes remain; cut must not.
    Fd c = connect();
    ASSERT_TRUE(c);
    ASSERT_EQ(echo(c.get(), "x"), "x");
    proxy.set_mode(FaultProxy::Mode::blackhole);
    ASSERT_TRUE(send_all(c.get(), pattern(32 * 1024)));
    proxy.cut_all();
    EXPECT_EQ(read_until_closed(c.get()), Outcome::eof);
}

TEST_F(ProxiedEcho, ResetAllClosesBothSidesWithRst) {
    Fd c = connect();
    ASSERT_TRUE(c);
    ASSERT_EQ(echo(c.get(), "x"), "x");
    proxy.reset_all();
    EXPECT_EQ(proxy.active_connections(), 0u);
    EXPECT_EQ(read_until_closed(c.get()), Outcome::reset);
    EXPECT_TRUE(eventually([&] { return server.closed_by_error() == 1; }));
}

TEST_F(ProxiedEcho, BlackholeFreezesOldAndNewConnectionsAndPassResumesThem) {
    Fd old_conn = connect();
    ASSERT_TRUE(old_conn);
    ASSERT_EQ(echo(old_conn.get(), "a"), "a");

    proxy.set_mode(FaultProxy::Mode::blackhole);
    ASSERT_TRUE(send_all(old_conn.get(), "frozen"));
    Fd new_conn = connect();  // accepted, but upstream is not dialled
    ASSERT_TRUE(new_conn);
    ASSERT_TRUE(send_all(new_conn.get(), "new"));
    EXPECT_TRUE(eventually([&] { return proxy.total_connections() == 2; }));
    // No byte, no FIN, no RST on either: the connections look alive but silent.
    EXPECT_TRUE(stays_quiet({old_conn.get(), new_conn.get()}));
    EXPECT_EQ(proxy.active_connections(), 2u);
    EXPECT_EQ(server.accepted(), 1u);
    EXPECT_TRUE(send_all(old_conn.get(), "!"));  // still writable: not closed

    // Healing the partition delivers what was sent meanwhile, in order.
    proxy.set_mode(FaultProxy::Mode::pass);
    EXPECT_EQ(read_n(old_conn.get(), 7).data, "frozen!");
    EXPECT_EQ(read_n(new_conn.get(), 3).data, "new");
    EXPECT_EQ(server.accepted(), 2u);

    Fd fresh = connect();
    ASSERT_TRUE(fresh);
    EXPECT_EQ(echo(fresh.get(), "fresh"), "fresh");
}

TEST_F(ProxiedEcho, BlackholeHoldsBytesInFlightThroughTheDelay) {
    Fd c = connect();
    ASSERT_TRUE(c);
    proxy.set_delay(200ms);
    ASSERT_TRUE(send_all(c.get(), "held"));
    // The bytes are either in the proxy's delay queue or not read yet; in both
    // cases the freeze must hold them past their 200 ms deadline.
    proxy.set_mode(FaultProxy::Mode::blackhole);
    EXPECT_TRUE(stays_quiet({c.get()}, 400ms));
    EXPECT_EQ(proxy.bytes_forwarded(), 0u);
    proxy.set_mode(FaultProxy::Mode::pass);
    EXPECT_EQ(read_n(c.get(), 4).data, "held");
}

TEST_F(ProxiedEcho, RefuseResetsNewConnectionsButKeepsExistingOnes) {
    Fd existing = connect();
    ASSERT_TRUE(existing);
    ASSERT_EQ(echo(existing.get(), "a"), "a");

    proxy.set_mode(FaultProxy::Mode::refuse);
    // The kernel completes the handshake, then the proxy resets.
    EXPECT_EQ(connect_and_wait_for_close(proxy.port()), Outcome::reset);
    EXPECT_TRUE(eventually([&] { return proxy.refused_connections() == 1; }));
    EXPECT_EQ(proxy.total_connections(), 1u);
    EXPECT_EQ(server.accepted(), 1u);
    EXPECT_EQ(echo(existing.get(), "still"), "still");

    proxy.set_mode(FaultProxy::Mode::pass);
    Fd later = connect();
    ASSERT_TRUE(later);
    EXPECT_EQ(echo(later.get(), "b"), "b");
    EXPECT_EQ(proxy.total_connections(), 2u);
}

TEST_F(ProxiedEcho, DelayAddsAtLeastTheDelayInEachDirection) {
    proxy.set_delay(100ms);
    Fd c = connect();
    ASSERT_TRUE(c);
    const auto start = Clock::now();
    EXPECT_EQ(echo(c.get(), "ping"), "ping");
    EXPECT_GE(Clock::now() - start, 200ms);

    proxy.set_delay(0ms);
    EXPECT_EQ(echo(c.get(), "pong"), "pong");
}

TEST_F(ProxiedEcho, ThrottleLimitsBandwidthPerDirection) {
    proxy.set_throttle(20'000);
    Fd c = connect();
    ASSERT_TRUE(c);
    const std::string data = pattern(10'000);
    const auto start = Clock::now();
    ASSERT_TRUE(send_all(c.get(), data));
    const ReadResult r = read_n(c.get(), data.size());
    ASSERT_EQ(r.outcome, Outcome::data);
    EXPECT_TRUE(r.data == data);
    // 10 kB at 20 kB/s with a 1 kB burst: at least 450 ms.
    EXPECT_GE(Clock::now() - start, 400ms);

    proxy.set_throttle(0);
    const std::string big = pattern(1024 * 1024);
    ASSERT_TRUE(send_all(c.get(), big));
    EXPECT_TRUE(read_n(c.get(), big.size()).data == big);
}

TEST_F(ProxiedEcho, CountsConcurrentConnections) {
    std::vector<Fd> conns;
    for (int i = 0; i < 5; ++i) {
        conns.push_back(connect());
        ASSERT_TRUE(conns.back());
    }
    for (auto& c : conns) EXPECT_EQ(echo(c.get(), "n"), "n");
    EXPECT_EQ(proxy.total_connections(), 5u);
    EXPECT_EQ(proxy.active_connections(), 5u);
    conns[0].reset();
    conns[1].reset();
    EXPECT_TRUE(eventually([&] { return proxy.active_connections() == 3; })) << proxy.active_connections();
    EXPECT_EQ(proxy.total_connections(), 5u);
}

TEST_F(ProxiedEcho, SetUpstreamRedirectsNewConnections) {
    EchoServer other;
    ASSERT_TRUE(other.ok());
    Fd first = connect();
    ASSERT_TRUE(first);
    ASSERT_EQ(echo(first.get(), "1"), "1");

    proxy.set_upstream("127.0.0.1", other.port());
    Fd second = connect();
    ASSERT_TRUE(second);
    EXPECT_EQ(echo(second.get(), "2"), "2");
    EXPECT_EQ(server.accepted(), 1u);
    EXPECT_EQ(other.accepted(), 1u);
    EXPECT_EQ(echo(first.get(), "3"), "3");  // existing connections keep their upstream
}

TEST_F(ProxiedEcho, ControlCallsFromAnotherThreadDuringTraffic) {
    std::atomic<bool> done{false};
    std::thread controller([&] {
        for (int i = 0; !done; ++i) {
            proxy.set_delay(std::chrono::milliseconds(i % 2));
            proxy.set_throttle(i % 3 == 0 ? 0 : 50'000'000);
            proxy.set_upstream("127.0.0.1", server.port());
            (void)proxy.active_connections();
            (void)proxy.bytes_forwarded();
        }
    });
    std::vector<Fd> conns;
    for (int i = 0; i < 3; ++i) conns.push_back(connect());
    const std::string chunk = pattern(1000);
    for (int round = 0; round < 30; ++round) {
        for (auto& c : conns) ASSERT_EQ(echo(c.get(), chunk), chunk);
    }
    done = true;
    controller.join();
}

TEST(FaultProxy, UpstreamDownResetsTheClient) {
    Fd reserved = bind_loopback(AF_INET, false);  // bound, not listening: connects are refused
    ASSERT_TRUE(reserved);
    FaultProxy proxy("127.0.0.1", local_port(reserved.get()));
    EXPECT_EQ(connect_and_wait_for_close(proxy.port()), Outcome::reset);
    EXPECT_TRUE(eventually([&] { return proxy.active_connections() == 0; }));
    EXPECT_EQ(proxy.total_connections(), 1u);
}

TEST(FaultProxy, RejectsNonLoopbackUpstreams) {
    for (const char* host : {"10.0.0.1", "192.168.1.1", "8.8.8.8", "0.0.0.0", "::", "2001:db8::1", "example.com", ""}) {
        EXPECT_THROW(FaultProxy(host, 80), std::invalid_argument) << host;
    }
    EXPECT_THROW(FaultProxy("127.0.0.1", 0), std::invalid_argument);
    for (const char* host : {"127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"}) {
        EXPECT_NO_THROW(FaultProxy(host, 9)) << host;
    }

    EchoServer server;
    ASSERT_TRUE(server.ok());
    FaultProxy proxy("127.0.0.1", server.port());
    EXPECT_THROW(proxy.set_upstream("8.8.8.8", 53), std::invalid_argument);
    Fd c = connect_to(proxy.port());  // the old upstream is still in use
    ASSERT_TRUE(c);
    EXPECT_EQ(echo(c.get(), "ok"), "ok");
}

TEST(FaultProxy, ForwardsToIpv6Loopback) {
    EchoServer server(AF_INET6);
    if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback here";
    FaultProxy proxy("::1", server.port());
    Fd c = connect_to(proxy.port());
    ASSERT_TRUE(c);
    EXPECT_EQ(echo(c.get(), "six"), "six");
}

TEST(FaultProxy, DestructorReturnsPromptlyAndClosesEverything) {
    EchoServer server;
    ASSERT_TRUE(server.ok());
    Fd open_conn;
    Fd delayed_conn;
    Fd frozen_conn;
    const auto start = Clock::now();
    {
        FaultProxy proxy("127.0.0.1", server.port());
        open_conn = connect_to(proxy.port());
        ASSERT_EQ(echo(open_conn.get(), "x"), "x");
        proxy.set_delay(10s);
        delayed_conn = connect_to(proxy.port());
        ASSERT_TRUE(send_all(delayed_conn.get(), "late"));
        proxy.set_mode(FaultProxy::Mode::blackhole);
        frozen_conn = connect_to(proxy.port());
        ASSERT_TRUE(frozen_conn);
        ASSERT_TRUE(eventually([&] { return proxy.total_connections() == 3; }));
    }
    EXPECT_LT(Clock::now() - start, 3s);
    for (const Fd* c : {&open_conn, &delayed_conn, &frozen_conn}) {
        const Outcome o = read_until_closed(c->get());
        EXPECT_TRUE(o == Outcome::eof || o == Outcome::reset) << name(o);
    }
}

}  // namespace
