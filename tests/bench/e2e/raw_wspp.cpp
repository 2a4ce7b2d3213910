// Raw websocketpp baseline (see raw_wspp.hpp). The benchmark's only
// websocketpp translation unit.
#include "raw_wspp.hpp"

#include <signal.h>

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wnull-dereference"
#endif
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "alloc_count.hpp"
#include "support.hpp"
#include "transport/transport_util.hpp" // BufferedCsprng: the SDK's masking-key source

namespace bench {
namespace {

using Hdl = websocketpp::connection_hdl;
using ServerEp = websocketpp::server<websocketpp::config::asio>;

// websocketpp's stock client config with one change: masking keys come from
// the SDK's buffered OpenSSL CSPRNG instead of std::random_device.
struct FastRngClientConfig : public websocketpp::config::asio_client {
    typedef FastRngClientConfig type;
    typedef websocketpp::config::asio_client base;
    typedef tether::transport::detail::BufferedCsprng rng_type;
};

using StockClient = websocketpp::client<websocketpp::config::asio_client>;
using FastClient = websocketpp::client<FastRngClientConfig>;

template <class Socket>
void no_delay(Socket& s) {
    asio::error_code ec;
    s.set_option(asio::ip::tcp::no_delay(true), ec);
}

double elapsed(Clock::time_point t) { return seconds_since(t); }

} // namespace

const char* to_string(RawConfig c) { return c == RawConfig::stock ? "websocketpp (stock config)" : "websocketpp (fast RNG)"; }

// ---- server ---------------------------------------------------------------------

struct RawServer::Impl {
    explicit Impl(Mode m) : mode(m) {}

    Mode mode;
    asio::io_context io;
    ServerEp ep;
    std::thread thread;
    std::uint16_t port = 0;
    std::atomic<int> tid{0};
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> bytes{0};
};

RawServer::RawServer(Mode mode) : impl_(std::make_unique<Impl>(mode)) {
    Impl& s = *impl_;
    s.ep.init_asio(&s.io);
    s.ep.set_reuse_addr(true);
    s.ep.clear_access_channels(websocketpp::log::alevel::all);
    s.ep.clear_error_channels(websocketpp::log::elevel::all);
    s.ep.set_max_message_size(64 * 1024 * 1024);
    s.ep.set_open_handler([&s](Hdl h) {
        websocketpp::lib::error_code ec;
        if (auto con = s.ep.get_con_from_hdl(h, ec)) no_delay(con->get_raw_socket());
    });
    s.ep.set_message_handler([&s](Hdl h, ServerEp::message_ptr msg) {
        if (s.mode == Mode::echo) {
            websocketpp::lib::error_code ec;
            s.ep.send(h, msg->get_payload(), msg->get_opcode(), ec);
        }
        s.messages.fetch_add(1, std::memory_order_relaxed);
        s.bytes.fetch_add(msg->get_payload().size(), std::memory_order_relaxed);
    });
    websocketpp::lib::error_code ec;
    s.ep.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), ec);
    if (!ec) s.ep.start_accept(ec);
    if (ec) throw std::runtime_error("raw server: " + ec.message());
    asio::error_code aec;
    s.port = s.ep.get_local_endpoint(aec).port();
    s.thread = std::thread([&s] {
        s.tid = current_tid();
        s.io.run();
    });
    while (s.tid == 0) std::this_thread::yield();
}

RawServer::~RawServer() {
    Impl& s = *impl_;
    asio::post(s.io, [&s] {
        websocketpp::lib::error_code ec;
        s.ep.stop_listening(ec);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.io.stop();
    if (s.thread.joinable()) s.thread.join();
}

std::uint16_t RawServer::port() const { return impl_->port; }
std::uint64_t RawServer::messages() const { return impl_->messages.load(std::memory_order_relaxed); }
std::uint64_t RawServer::bytes() const { return impl_->bytes.load(std::memory_order_relaxed); }
int RawServer::io_tid() const { return impl_->tid; }

int serve_raw_forever() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr); // the io thread inherits the mask
    RawServer server(RawServer::Mode::sink);
    std::cout << "listening on 127.0.0.1:" << server.port() << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    return 0;
}

// ---- clients --------------------------------------------------------------------------

namespace {

// A one-shot latch.
class Latch {
public:
    void set() {
        std::lock_guard<std::mutex> lock(mu_);
        ready_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return ready_; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool ready_ = false;
};

// One client endpoint on its own io thread, with any number of connections.
// Every handler runs on the io thread; the destructor stops the io_context
// before any member goes away, so queued handlers never run afterwards.
template <class Endpoint>
class RawClient {
public:
    using ConPtr = typename Endpoint::connection_ptr;
    using MessageFn = std::function<void(const std::string&)>;

    explicit RawClient(MessageFn on_message = {})
        : work_(asio::make_work_guard(io_)), timer_(io_), on_message_(std::move(on_message)) {
        ep_.init_asio(&io_);
        ep_.clear_access_channels(websocketpp::log::alevel::all);
        ep_.clear_error_channels(websocketpp::log::elevel::all);
        ep_.set_max_message_size(64 * 1024 * 1024);
        ep_.set_tcp_post_init_handler([this](Hdl h) {
            websocketpp::lib::error_code ec;
            if (auto con = ep_.get_con_from_hdl(h, ec)) no_delay(con->get_raw_socket());
        });
        ep_.set_open_handler([this](Hdl) {
            std::lock_guard<std::mutex> lock(mu_);
            ++opened_;
            open_times_.push_back(Clock::now());
            cv_.notify_all();
        });
        ep_.set_fail_handler([this](Hdl) {
            std::lock_guard<std::mutex> lock(mu_);
            ++failed_;
            cv_.notify_all();
        });
        ep_.set_message_handler([this](Hdl, typename Endpoint::message_ptr msg) {
            if (on_message_) on_message_(msg->get_payload());
        });
        thread_ = std::thread([this] {
            tid_ = current_tid();
            io_.run();
        });
        while (tid_ == 0) std::this_thread::yield();
    }

    ~RawClient() {
        run_on_io([this] {
            stop_ = true;
            timer_.cancel();
            for (auto& c : cons_) {
                websocketpp::lib::error_code ec;
                c->terminate(ec);
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // let the terminations run
        work_.reset();
        io_.stop();
        if (thread_.joinable()) thread_.join();
    }

    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    // Runs `fn` on the io thread and waits for it.
    template <class F>
    void run_on_io(F fn) {
        Latch done;
        asio::post(io_, [&] {
            fn();
            done.set();
        });
        done.wait();
    }

    // Starts `n` connections and waits until all are open. Returns the
    // connect-to-open times in ms; `error` is set when some did not open.
    std::vector<double> connect(const std::string& url, std::size_t n, std::chrono::seconds timeout,
                                std::string& error) {
        std::vector<Clock::time_point> starts;
        std::size_t base_opened = 0;
        {
            std::lock_guard<std::mutex> lock(mu_);
            base_opened = opened_;
        }
        run_on_io([&] {
            for (std::size_t i = 0; i < n; ++i) {
                websocketpp::lib::error_code ec;
                ConPtr con = ep_.get_connection(url, ec);
                if (ec) {
                    std::lock_guard<std::mutex> lock(mu_);
                    ++failed_;
                    continue;
                }
                cons_.push_back(con);
                starts.push_back(Clock::now());
                ep_.connect(con);
            }
        });
        std::unique_lock<std::mutex> lock(mu_);
        const bool all = cv_.wait_for(lock, timeout, [&] { return opened_ - base_opened + failed_ >= n; });
        if (!all || failed_ > 0) {
            error = std::to_string(opened_ - base_opened) + "/" + std::to_string(n) + " connections opened, " +
                    std::to_string(failed_) + " failed";
        }
        // Handshakes on loopback complete in about the order they started.
        std::vector<double> ms;
        for (std::size_t i = 0; i < starts.size() && base_opened + i < open_times_.size(); ++i)
            ms.push_back(std::chrono::duration<double, std::milli>(open_times_[base_opened + i] - starts[i]).count());
        return ms;
    }

    // Streams `payload` on the first connection until stop_stream(): sends on
    // the io thread while websocketpp buffers less than `high_water` bytes.
    void start_stream(std::string payload, std::size_t high_water) {
        asio::post(io_, [this, p = std::move(payload), high_water]() mutable {
            stream_payload_ = std::move(p);
            high_water_ = high_water;
            pump();
        });
    }
    void stop_stream() {
        run_on_io([this] {
            stop_ = true;
            timer_.cancel();
        });
    }

    // Sends one text message on the first connection, from the io thread.
    void post_send(std::string payload) {
        asio::post(io_, [this, p = std::move(payload)] {
            if (cons_.empty()) return;
            websocketpp::lib::error_code ec = cons_[0]->send(p, websocketpp::frame::opcode::text);
            (void)ec;
        });
    }

    int io_tid() const { return tid_; }

private:
    void pump() {
        if (stop_ || cons_.empty()) return;
        auto& con = *cons_[0];
        int batch = 0;
        while (batch < 256 && con.get_buffered_amount() < high_water_) {
            if (con.send(stream_payload_, websocketpp::frame::opcode::text)) {
                stop_ = true; // closed
                return;
            }
            ++batch;
        }
        if (batch == 0) {
            // websocketpp has no "drained" callback: look again shortly.
            timer_.expires_after(std::chrono::microseconds(50));
            timer_.async_wait([this](const asio::error_code& ec) {
                if (!ec) pump();
            });
        } else {
            asio::post(io_, [this] { pump(); }); // let the write completions run
        }
    }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    asio::steady_timer timer_;
    Endpoint ep_;
    std::thread thread_;
    std::atomic<int> tid_{0};
    MessageFn on_message_;

    // io thread only
    std::vector<ConPtr> cons_;
    std::string stream_payload_;
    std::size_t high_water_ = 0;
    bool stop_ = false;

    std::mutex mu_;
    std::condition_variable cv_;
    std::size_t opened_ = 0, failed_ = 0;
    std::vector<Clock::time_point> open_times_;
};

std::string server_url(const RawServer& s) { return "ws://127.0.0.1:" + std::to_string(s.port()) + "/"; }

template <class Endpoint>
RawThroughputResult throughput_impl(RawServer& sink, const std::string& payload, double warmup_s,
                                    double measure_s) {
    RawThroughputResult r;
    RawClient<Endpoint> client;
    client.connect(server_url(sink), 1, std::chrono::seconds(10), r.error);
    if (!r.error.empty()) return r;
    client.start_stream(payload, std::max<std::size_t>(1 << 20, 16 * payload.size()));
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
    const std::uint64_t m0 = sink.messages();
    const double c0 = thread_cpu_seconds(client.io_tid());
    const double s0 = thread_cpu_seconds(sink.io_tid());
    const std::uint64_t ca0 = allocation_count_of(client.io_tid());
    const std::uint64_t sa0 = allocation_count_of(sink.io_tid());
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(measure_s));
    const std::uint64_t m1 = sink.messages();
    r.client_allocs = allocation_count_of(client.io_tid()) - ca0;
    r.server_allocs = allocation_count_of(sink.io_tid()) - sa0;
    r.seconds = elapsed(t0);
    r.client_cpu_s = thread_cpu_seconds(client.io_tid()) - c0;
    r.server_cpu_s = thread_cpu_seconds(sink.io_tid()) - s0;
    r.messages = m1 - m0;
    client.stop_stream();
    return r;
}

template <class Endpoint>
RawLatencyResult latency_impl(RawServer& echo, std::size_t payload_bytes, double rate, double warmup_s,
                              double measure_s) {
    RawLatencyResult r;
    const auto total = static_cast<std::size_t>(rate * (warmup_s + measure_s));
    const auto skip = static_cast<std::size_t>(rate * warmup_s);
    std::vector<Clock::time_point> scheduled(total);
    std::vector<std::int64_t> rtt(total, -1);
    std::atomic<std::size_t> received{0};
    RawClient<Endpoint> client([&](const std::string& text) {
        const std::uint64_t i = payload_index(text.data(), text.size());
        if (i >= total) return;
        rtt[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - scheduled[i]).count();
        received.fetch_add(1, std::memory_order_release);
    });
    client.connect(server_url(echo), 1, std::chrono::seconds(10), r.error);
    if (!r.error.empty()) return r;
    const double c0 = self_cpu_seconds();
    const double s0 = thread_cpu_seconds(echo.io_tid());
    const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
    const auto t0 = Clock::now() + std::chrono::milliseconds(10);
    for (std::size_t i = 0; i < total; ++i) {
        scheduled[i] = t0 + period * static_cast<Clock::duration::rep>(i);
        std::this_thread::sleep_until(scheduled[i]);
        client.post_send(json_payload(payload_bytes, i));
    }
    r.sent = total;
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (received.load(std::memory_order_acquire) < total && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    r.server_cpu_s = thread_cpu_seconds(echo.io_tid()) - s0;
    r.client_cpu_s = self_cpu_seconds() - c0 - r.server_cpu_s;
    client.run_on_io([] {}); // every rtt[] write happened before this returns
    for (std::size_t i = skip; i < total; ++i) {
        if (rtt[i] >= 0)
            r.rtt_ns.push_back(rtt[i]);
        else
            ++r.lost;
    }
    return r;
}

} // namespace

RawThroughputResult raw_throughput(RawConfig config, RawServer& sink, const std::string& payload, double warmup_s,
                                   double measure_s) {
    return config == RawConfig::stock ? throughput_impl<StockClient>(sink, payload, warmup_s, measure_s)
                                      : throughput_impl<FastClient>(sink, payload, warmup_s, measure_s);
}

RawLatencyResult raw_latency(RawConfig config, RawServer& echo, std::size_t payload_bytes, double rate,
                             double warmup_s, double measure_s) {
    return config == RawConfig::stock ? latency_impl<StockClient>(echo, payload_bytes, rate, warmup_s, measure_s)
                                      : latency_impl<FastClient>(echo, payload_bytes, rate, warmup_s, measure_s);
}

RawMemoryResult raw_idle_memory(const std::string& url, std::size_t n, double settle_s) {
    RawMemoryResult r;
    RawClient<StockClient> client;
    std::string warm_error;
    // The first connection pages in code and one-time state; its handshake
    // time is the reference for the SDK's reconnect.
    const std::vector<double> warm = client.connect(url, 1, std::chrono::seconds(10), warm_error);
    if (!warm_error.empty()) {
        r.error = "warm-up connection: " + warm_error;
        return r;
    }
    if (!warm.empty()) r.connect_ms = warm[0];
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    trim_heap();
    r.rss_before = rss_bytes();
    client.connect(url, n, std::chrono::seconds(60), r.error);
    std::this_thread::sleep_for(std::chrono::duration<double>(settle_s));
    r.rss_after = rss_bytes();
    r.clients = n;
    return r;
}

} // namespace bench
