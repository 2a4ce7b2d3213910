#include "raw_beast.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "alloc_count.hpp"
#include "support.hpp"

namespace bench {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;

RawThroughputResult beast_throughput(bool nodelay, RawServer& sink, const std::string& payload, double warmup_s,
                                     double measure_s) {
    RawThroughputResult r;
    std::atomic<bool> stop{false};
    std::atomic<int> ready{0}; // 1: streaming, -1: failed
    std::atomic<pid_t> tid{0};
    std::string error;
    std::thread client([&] {
        tid = current_tid();
        try {
            asio::io_context ioc;
            tcp::socket socket(ioc);
            socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), sink.port()));
            socket.set_option(tcp::no_delay(nodelay));
            websocket::stream<tcp::socket> ws(std::move(socket));
            ws.handshake("127.0.0.1:" + std::to_string(sink.port()), "/");
            ws.text(true);
            ws.auto_fragment(false);
            ready = 1;
            const asio::const_buffer buf(payload.data(), payload.size());
            while (!stop.load(std::memory_order_relaxed)) ws.write(buf);
            boost::beast::error_code ignored;
            ws.close(websocket::close_code::normal, ignored);
        } catch (const std::exception& e) {
            error = std::string("beast: ") + e.what();
            ready = -1;
        }
    });
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (ready.load() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (ready.load() != 1) {
        stop = true;
        client.join();
        r.error = error.empty() ? "beast: no connection within 10 s" : error;
        return r;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup_s));
    const std::uint64_t m0 = sink.messages();
    const double c0 = thread_cpu_seconds(tid);
    const double s0 = thread_cpu_seconds(sink.io_tid());
    const std::uint64_t ca0 = allocation_count_of(tid);
    const std::uint64_t sa0 = allocation_count_of(sink.io_tid());
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(measure_s));
    const std::uint64_t m1 = sink.messages();
    r.client_allocs = allocation_count_of(tid) - ca0;
    r.server_allocs = allocation_count_of(sink.io_tid()) - sa0;
    r.seconds = seconds_since(t0);
    r.client_cpu_s = thread_cpu_seconds(tid) - c0;
    r.server_cpu_s = thread_cpu_seconds(sink.io_tid()) - s0;
    r.messages = m1 - m0;
    stop = true;
    client.join();
    if (!error.empty()) r.error = error;
    return r;
}

} // namespace bench
