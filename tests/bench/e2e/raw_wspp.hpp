// Raw websocketpp 0.8.2 on loopback: the baseline the SDK is compared with.
// raw_wspp.cpp is the benchmark's only websocketpp translation unit.
//
//   - RawServer: a websocketpp server (stock asio config) on its own io
//     thread, either a sink (counts messages and bytes) or an echo.
//   - Raw clients in two configs: websocketpp's stock asio_client (masking
//     keys from std::random_device) and the same config with the SDK's
//     buffered OpenSSL CSPRNG as rng_type ("fast RNG").
//
// Both sides clear websocketpp's access log (the stock endpoint prints every
// frame) and set TCP_NODELAY, as the SDK and the chat-server do.
//
// Thread safety: each object is driven from one thread; counters are atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

enum class RawConfig { stock, fast_rng };
const char* to_string(RawConfig c);

class RawServer {
public:
    enum class Mode { sink, echo };
    // Listens on 127.0.0.1, ephemeral port; throws std::runtime_error on failure.
    explicit RawServer(Mode mode);
    ~RawServer();
    RawServer(const RawServer&) = delete;
    RawServer& operator=(const RawServer&) = delete;

    std::uint16_t port() const;
    std::uint64_t messages() const;
    std::uint64_t bytes() const;
    int io_tid() const; // kernel tid of the server's io thread

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// Runs a RawServer (sink) in this process until SIGTERM, after printing
// "listening on 127.0.0.1:<port>" (used as a child process for the memory
// measurement, so the server's connections do not count in our RSS).
int serve_raw_forever();

struct RawThroughputResult {
    double seconds = 0;
    std::uint64_t messages = 0; // received by the sink in the window
    double client_cpu_s = 0;    // CPU of the client's io thread in the window
    double server_cpu_s = 0;    // CPU of the server's io thread in the window
    std::uint64_t client_allocs = 0; // operator new calls on the client's io thread in the window
    std::uint64_t server_allocs = 0; // ... on the server's io thread
    std::string error;
};

// One client streams `payload` to the sink as fast as websocketpp takes it
// (sending on its io thread, up to 1 MiB or 16 messages buffered), for
// warmup + measure seconds; the rate is taken at the sink over `measure`.
RawThroughputResult raw_throughput(RawConfig config, RawServer& sink, const std::string& payload, double warmup_s,
                                   double measure_s);

struct RawLatencyResult {
    std::vector<std::int64_t> rtt_ns; // one per echo received after the warm-up
    std::uint64_t sent = 0, lost = 0;
    double client_cpu_s = 0, server_cpu_s = 0; // this process but the server thread / the server thread
    std::string error;
};

// Sends `payload_bytes` payloads at `rate` per second (paced by an
// application thread that posts each send to the io thread, the same hop the
// SDK makes) to an echo server; RTT is measured from each message's scheduled
// send time to the echo's arrival (no coordinated omission).
RawLatencyResult raw_latency(RawConfig config, RawServer& echo, std::size_t payload_bytes, double rate,
                             double warmup_s, double measure_s);

struct RawMemoryResult {
    std::size_t clients = 0;
    std::size_t rss_before = 0, rss_after = 0;
    double connect_ms = 0; // connect() -> open handler of one connection on an idle endpoint
    std::string error;
};

// Opens `n` idle connections from one stock client endpoint (one io thread)
// to `url` and reports this process's RSS before and after.
RawMemoryResult raw_idle_memory(const std::string& url, std::size_t n, double settle_s);

} // namespace bench
