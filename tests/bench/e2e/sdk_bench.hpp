// The SDK side of the end-to-end benchmark: tether::Client against the
// reference chat-server (a child process). No websocketpp in here.
//
// Thread safety: each function runs one measurement on the calling thread
// (plus the clients' io threads) and returns when everything it started has
// stopped.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "tether/options.hpp"

namespace bench {

struct SdkThroughputResult {
    double seconds = 0;
    std::uint64_t acked = 0;          // messages acked in the window
    std::uint64_t ack_frames = 0;     // ack frames received in the window
    std::uint64_t frames_out = 0;     // frames the client wrote in the window
    std::uint64_t bytes_out = 0;      // their text bytes (WebSocket header not included)
    double client_cpu_s = 0;          // CPU of this whole process in the window
    double server_cpu_s = 0;          // CPU of the chat-server process in the window
    std::uint64_t outbox_full_waits = 0;
    std::uint64_t client_allocs = 0;  // operator new calls in this process in the window
    std::string error;
};

// One client (its own EventLoop) streams `payload` with send_json() from an
// application thread as fast as the outbox takes it (on outbox_full it
// sleeps 1 ms and retries: the outbox stays full, so the io thread never
// waits for it); rate = messages acked over `measure` seconds after
// `warmup` seconds.
// `as_value`: send(nlohmann::json) of the parsed payload instead of
// send_json(text) (the encoder instead of the validator).
// `persistence`: the client keeps its outbox in that store (path empty: in memory).
SdkThroughputResult sdk_throughput(const std::string& url, pid_t server_pid, const std::string& payload,
                                   double warmup_s, double measure_s, bool as_value = false,
                                   const tether::PersistenceOptions& persistence = {});

struct StoreFootprint {
    std::uint64_t messages = 0;
    double fill_s = 0;           // send() of them all until on_durable covered the last
    std::uint64_t file_bytes = 0; // the store file and its WAL after the client is gone
    std::vector<double> construct_ms; // Client construction on that store, each run
    std::uint64_t recovered = 0;
    std::string error;
};

// Queues `messages` payloads offline on a new store at `path`, destroys the
// client, then constructs a Client on the store `runs` times.
StoreFootprint store_footprint(const std::string& path, const std::string& payload, std::uint64_t messages, int runs);

struct SdkLatencyResult {
    std::vector<std::int64_t> rtt_ns;
    std::uint64_t sent = 0, lost = 0;
    double client_cpu_s = 0, server_cpu_s = 0; // over the whole run (warm-up included)
    std::string error;
};

// send_json() at `rate` per second from a pacing thread to an echo server;
// RTT from each message's scheduled send time to on_message of its echo.
SdkLatencyResult sdk_latency(const std::string& url, pid_t server_pid, std::size_t payload_bytes, double rate,
                             double warmup_s, double measure_s);

struct SdkReconnectResult {
    std::vector<double> ready_ms;   // simulate_network_drop() -> ready again
    std::vector<double> drained_ms; // simulate_network_drop() -> all `messages` acked
    std::uint64_t resumes = 0;
    std::string error;
};

// `reps` times: cut the transport, queue `messages` 64 B messages at once,
// wait until ready and until all are acked. Backoff base `backoff_ms`.
SdkReconnectResult sdk_reconnect(const std::string& url, std::size_t messages, int reps, int backoff_ms);

struct SdkMemoryResult {
    std::size_t clients = 0;
    std::size_t rss_before = 0, rss_after = 0;
    double connect_all_s = 0; // until every client was ready
    std::string error;
};

// `n` clients sharing one EventLoop, connected and idle.
SdkMemoryResult sdk_idle_memory(const std::string& url, std::size_t n, double settle_s);

struct OutboxMemoryResult {
    std::size_t messages = 0, payload_bytes = 0, id_bytes = 0;
    std::size_t heap_delta = 0; // malloc'd bytes (main arena, chunk headers included)
    std::size_t rss_delta = 0;
    std::uint64_t allocations = 0; // operator new calls per message * messages (when counted)
    std::string error;
};

// An unconnected client queues `n` messages of `payload_bytes` (generated
// ids); heap and RSS deltas per message.
OutboxMemoryResult sdk_outbox_memory(std::size_t n, std::size_t payload_bytes);

struct SdkIdleResult {
    double seconds = 0;
    std::uint64_t wakeups = 0;       // times the io thread was scheduled in
    std::uint64_t voluntary = 0;     // times it went to sleep
    std::uint64_t pings = 0;         // heartbeats sent in the window
    double heartbeat_ms = 0;
    double cpu_s = 0;                // io thread CPU in the window
    std::string error;
};

// One ready client alone on its EventLoop, with heartbeat `heartbeat_ms`
// (the server must not impose its own): io-thread wakeups over `seconds`.
SdkIdleResult sdk_idle_wakeups(const std::string& url, int heartbeat_ms, double seconds);

struct StormSample {
    double t_s = 0;            // since the kill
    std::size_t rss = 0;       // this process
    double cpu_s = 0;          // this process, cumulative since the kill
    std::size_t ready = 0;     // clients in State::ready
    std::uint64_t attempts = 0; // connection attempts of all clients since the kill (to == connecting)
};

struct SdkStormResult {
    std::size_t clients = 0;
    double connect_all_s = 0; // first start: every client ready
    double down_s = 0;        // kill -> restart returned
    double all_ready_s = -1;  // kill -> every client ready again; -1: not within the deadline
    std::size_t failed = 0;   // clients in State::failed at the end
    std::size_t ready_at_end = 0;
    std::vector<StormSample> samples; // every 100 ms from the kill to the end
    // Connection attempts binned by when they were made (on the io thread),
    // 100 ms per bin from the kill: unlike samples[].attempts, not smeared by
    // a sampling thread that the machine's load delays.
    std::vector<std::uint32_t> attempts_per_100ms;
    std::string error;
};

// The reconnect storm: `n` clients on one EventLoop, backoff max `max_backoff`;
// once all are ready, `kill()` (the server dies: kill -9), `down_s` later
// `restart()` (the server again, same port), then samples every 100 ms until
// every client is ready again or `deadline_s` after the kill.
SdkStormResult sdk_storm(const std::string& url, std::size_t n, std::chrono::milliseconds max_backoff, double down_s,
                         double deadline_s, const std::function<void()>& kill, const std::function<void()>& restart);

} // namespace bench
