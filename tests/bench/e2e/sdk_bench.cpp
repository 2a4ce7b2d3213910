#include "sdk_bench.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <memory>
#include <thread>
#include <type_traits>

#include <sys/stat.h>

#include "alloc_count.hpp"
#include "support.hpp"
#include "tether/client.hpp"

namespace bench {
namespace {

using namespace std::chrono_literals;

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout, std::chrono::microseconds poll = 200us) {
    const auto deadline = Clock::now() + timeout;
    while (!pred()) {
        if (Clock::now() > deadline) return false;
        std::this_thread::sleep_for(poll);
    }
    return true;
}

bool wait_ready(const tether::Client& c, std::chrono::milliseconds timeout = 10000ms) {
    return wait_for([&] { return c.state() == tether::State::ready; }, timeout);
}

tether::ClientOptions base_options(const std::string& url) {
    tether::ClientOptions o;
    o.url = url;
    return o;
}

} // namespace

SdkThroughputResult sdk_throughput(const std::string& url, pid_t server_pid, const std::string& payload,
                                   double warmup_s, double measure_s, bool as_value,
                                   const tether::PersistenceOptions& persistence) {
    SdkThroughputResult r;
    const nlohmann::json value = nlohmann::json::parse(payload);
    tether::ClientOptions options = base_options(url);
    options.persistence = persistence;
    tether::Client client(options);
    client.connect();
    if (!wait_ready(client)) {
        r.error = "client not ready";
        return r;
    }
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> full_waits{0};
    std::string send_error;
    std::thread sender([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            const tether::SendResult s = as_value ? client.send(value) : client.send_json(payload);
            if (s) continue;
            if (s.error == tether::errc::outbox_full) {
                // The outbox holds up to 100,000 messages (64 MiB): the io
                // thread has plenty to send while this thread naps, and a
                // short nap would cost more CPU in wakeups than the sends.
                full_waits.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::sleep_for(1ms);
                continue;
            }
            send_error = s.error.message() + ": " + s.detail;
            return;
        }
    });
    sleep_s(warmup_s);
    const tether::Stats s0 = client.stats();
    const double c0 = self_cpu_seconds();
    const double v0 = process_cpu_seconds(server_pid);
    const std::uint64_t a0 = allocation_count();
    const auto t0 = Clock::now();
    sleep_s(measure_s);
    const tether::Stats s1 = client.stats();
    r.client_allocs = allocation_count() - a0;
    r.seconds = seconds_since(t0);
    r.client_cpu_s = self_cpu_seconds() - c0;
    r.server_cpu_s = process_cpu_seconds(server_pid) - v0;
    stop = true;
    sender.join();
    r.acked = s1.messages_acked - s0.messages_acked;
    // Against the sink (rooms mode, no replies) every inbound frame is an ack.
    r.ack_frames = (s1.frames_in - s0.frames_in) - (s1.messages_received - s0.messages_received);
    r.frames_out = s1.frames_out - s0.frames_out;
    r.bytes_out = s1.bytes_out - s0.bytes_out;
    r.outbox_full_waits = full_waits.load();
    if (!send_error.empty()) r.error = send_error;
    // A figure from a window in which the connection broke is not a throughput.
    if (s1.reconnects != s0.reconnects || s1.protocol_errors != s0.protocol_errors)
        r.error = "the connection broke during the window: " + std::to_string(s1.reconnects - s0.reconnects) +
                  " reconnects, " + std::to_string(s1.protocol_errors - s0.protocol_errors) + " protocol errors";
    client.abort();
    return r;
}

SdkLatencyResult sdk_latency(const std::string& url, pid_t server_pid, std::size_t payload_bytes, double rate,
                             double warmup_s, double measure_s) {
    SdkLatencyResult r;
    const auto total = static_cast<std::size_t>(rate * (warmup_s + measure_s));
    const auto skip = static_cast<std::size_t>(rate * warmup_s);
    std::vector<Clock::time_point> scheduled(total);
    std::vector<std::int64_t> rtt(total, -1);
    std::atomic<std::size_t> received{0};

    tether::ClientOptions o = base_options(url);
    o.callbacks.on_message = [&](const tether::Message& m) {
        // Through object_t: json::find()'s iterator trips -Wnull-dereference.
        using Object = nlohmann::json::object_t;
        const auto* data = m.data.get_ptr<const Object*>();
        if (data == nullptr) return;
        const auto echo = data->find("echo");
        if (echo == data->end()) return;
        const auto* inner = echo->second.get_ptr<const Object*>();
        if (inner == nullptr) return;
        const auto i_it = inner->find("i");
        if (i_it == inner->end() || !i_it->second.is_string()) return;
        const std::string& digits = i_it->second.get_ref<const std::string&>();
        const std::uint64_t i = payload_index(("\"i\":\"" + digits).c_str(), digits.size() + 5);
        if (i >= total) return;
        rtt[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - scheduled[i]).count();
        received.fetch_add(1, std::memory_order_release);
    };
    tether::Client client(std::move(o));
    client.connect();
    if (!wait_ready(client)) {
        r.error = "client not ready";
        return r;
    }
    const double c0 = self_cpu_seconds();
    const double v0 = process_cpu_seconds(server_pid);
    const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
    const auto t0 = Clock::now() + 10ms;
    for (std::size_t i = 0; i < total; ++i) {
        scheduled[i] = t0 + period * static_cast<Clock::duration::rep>(i);
        std::this_thread::sleep_until(scheduled[i]);
        const tether::SendResult s = client.send_json(json_payload(payload_bytes, i));
        if (!s) {
            r.error = "send failed: " + s.error.message();
            break;
        }
    }
    r.sent = total;
    wait_for([&] { return received.load(std::memory_order_acquire) >= total; }, 2000ms, 1000us);
    r.client_cpu_s = self_cpu_seconds() - c0;
    r.server_cpu_s = process_cpu_seconds(server_pid) - v0;
    client.abort();
    client.wait_until_terminal(5000ms); // the io thread wrote every rtt[] before this
    for (std::size_t i = skip; i < total; ++i) {
        if (rtt[i] >= 0)
            r.rtt_ns.push_back(rtt[i]);
        else
            ++r.lost;
    }
    return r;
}

SdkReconnectResult sdk_reconnect(const std::string& url, std::size_t messages, int reps, int backoff_ms) {
    SdkReconnectResult r;
    std::atomic<std::uint64_t> readies{0};
    std::atomic<std::int64_t> ready_at{0};
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint64_t> acked_target{~std::uint64_t{0}};
    std::atomic<std::int64_t> drained_at{0};
    auto now_ns = [] { return Clock::now().time_since_epoch().count(); };

    tether::ClientOptions o = base_options(url);
    o.backoff.base = std::chrono::milliseconds(backoff_ms);
    o.backoff.max = std::max(o.backoff.base, std::chrono::milliseconds(1000));
    o.callbacks.on_state = [&](const tether::StateChange& c) {
        if (c.to != tether::State::ready) return;
        ready_at = now_ns();
        readies.fetch_add(1, std::memory_order_release);
    };
    o.callbacks.on_acked = [&](tether::MessageId) {
        if (acked.fetch_add(1, std::memory_order_relaxed) + 1 == acked_target.load(std::memory_order_relaxed))
            drained_at = now_ns();
    };
    tether::Client client(std::move(o));
    client.connect();
    if (!wait_ready(client)) {
        r.error = "client not ready";
        return r;
    }
    const std::string payload = json_payload(64);
    for (int rep = 0; rep < reps; ++rep) {
        std::this_thread::sleep_for(100ms);
        const std::uint64_t ready_before = readies.load(std::memory_order_acquire);
        acked_target = acked.load() + messages;
        drained_at = 0;
        const auto t0 = Clock::now();
        const std::int64_t t0_ns = t0.time_since_epoch().count();
        if (auto ec = client.simulate_network_drop()) {
            r.error = "simulate_network_drop: " + ec.message();
            return r;
        }
        for (std::size_t i = 0; i < messages; ++i) {
            const tether::SendResult s = client.send_json(payload);
            if (!s) {
                r.error = "send failed: " + s.error.message();
                return r;
            }
        }
        if (!wait_for([&] { return readies.load(std::memory_order_acquire) > ready_before; }, 10000ms, 50us)) {
            r.error = "not ready again within 10 s";
            return r;
        }
        r.ready_ms.push_back(static_cast<double>(ready_at.load() - t0_ns) / 1e6);
        if (!wait_for([&] { return drained_at.load() != 0; }, 20000ms, 50us)) {
            r.error = "outbox not drained within 20 s";
            return r;
        }
        r.drained_ms.push_back(static_cast<double>(drained_at.load() - t0_ns) / 1e6);
    }
    r.resumes = client.stats().resumes;
    client.abort();
    return r;
}

SdkMemoryResult sdk_idle_memory(const std::string& url, std::size_t n, double settle_s) {
    SdkMemoryResult r;
    auto loop = tether::EventLoop::create();
    tether::ClientOptions o = base_options(url);
    o.loop = loop;
    // A warm-up client pages in code and one-time state first.
    auto warm = std::make_unique<tether::Client>(o);
    warm->connect();
    if (!wait_ready(*warm)) {
        r.error = "warm-up client not ready";
        return r;
    }
    std::this_thread::sleep_for(200ms);
    trim_heap();
    r.rss_before = rss_bytes();
    const auto t0 = Clock::now();
    std::vector<std::unique_ptr<tether::Client>> clients;
    clients.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<tether::Client>(o));
        clients.back()->connect();
    }
    const bool all = wait_for(
        [&] {
            return std::all_of(clients.begin(), clients.end(),
                               [](const auto& c) { return c->state() == tether::State::ready; });
        },
        60000ms, 5000us);
    r.connect_all_s = seconds_since(t0);
    if (!all) r.error = "not every client became ready within 60 s";
    sleep_s(settle_s);
    r.rss_after = rss_bytes();
    r.clients = n;
    clients.clear();
    warm.reset();
    return r;
}

OutboxMemoryResult sdk_outbox_memory(std::size_t n, std::size_t payload_bytes) {
    OutboxMemoryResult r;
    tether::ClientOptions o = base_options("ws://127.0.0.1:9/ws"); // never connected
    o.outbox.max_messages = std::max<std::size_t>(n, o.outbox.max_messages);
    o.outbox.max_bytes = std::max<std::size_t>(o.outbox.max_bytes, n * (payload_bytes + 64) * 2);
    tether::Client client(std::move(o));
    const std::string payload = json_payload(payload_bytes);
    // Generated ids: 11 base64url digits of prefix, the local id in base64url digits.
    std::size_t id_total = 0;
    for (std::size_t k = 1; k <= n; ++k) {
        std::size_t digits = 1;
        for (std::size_t v = k >> 6; v != 0; v >>= 6) ++digits;
        id_total += 11 + digits;
    }
    r.id_bytes = id_total / std::max<std::size_t>(n, 1);
    trim_heap();
    const std::size_t h0 = main_arena_in_use();
    const std::size_t rss0 = rss_bytes();
    const std::uint64_t a0 = allocation_count();
    for (std::size_t i = 0; i < n; ++i) {
        const tether::SendResult s = client.send_json(payload);
        if (!s) {
            r.error = "send failed at " + std::to_string(i) + ": " + s.error.message();
            return r;
        }
    }
    r.allocations = allocation_count() - a0;
    r.heap_delta = main_arena_in_use() - h0;
    r.rss_delta = rss_bytes() - rss0;
    r.messages = n;
    r.payload_bytes = payload.size();
    return r;
}

SdkIdleResult sdk_idle_wakeups(const std::string& url, int heartbeat_ms, double seconds) {
    SdkIdleResult r;
    const std::vector<pid_t> before = threads_named("tether-io");
    auto loop = tether::EventLoop::create();
    pid_t tid = 0;
    wait_for(
        [&] {
            for (pid_t t : threads_named("tether-io"))
                if (std::find(before.begin(), before.end(), t) == before.end()) tid = t;
            return tid != 0;
        },
        2000ms, 1000us);
    if (tid == 0) {
        r.error = "cannot find the io thread";
        return r;
    }
    tether::ClientOptions o = base_options(url);
    o.loop = loop;
    o.heartbeat.interval = std::chrono::milliseconds(heartbeat_ms);
    tether::Client client(std::move(o));
    client.connect();
    if (!wait_ready(client)) {
        r.error = "client not ready";
        return r;
    }
    sleep_s(0.5);
    const SchedCounts s0 = thread_sched(tid);
    const double c0 = thread_cpu_seconds(tid);
    const std::uint64_t p0 = client.stats().pings_sent;
    const auto t0 = Clock::now();
    sleep_s(seconds);
    const SchedCounts s1 = thread_sched(tid);
    const std::uint64_t p1 = client.stats().pings_sent;
    r.seconds = seconds_since(t0);
    r.cpu_s = thread_cpu_seconds(tid) - c0;
    r.wakeups = s1.timeslices - s0.timeslices;
    r.voluntary = s1.voluntary - s0.voluntary;
    r.pings = p1 - p0;
    r.heartbeat_ms = heartbeat_ms;
    return r;
}

SdkStormResult sdk_storm(const std::string& url, std::size_t n, std::chrono::milliseconds max_backoff, double down_s,
                         double deadline_s, const std::function<void()>& kill, const std::function<void()>& restart) {
    SdkStormResult r;
    r.clients = n;
    std::atomic<std::int64_t> ready{0};
    std::atomic<std::int64_t> failed{0};
    std::atomic<std::uint64_t> attempts{0};
    constexpr std::size_t kBins = 1200; // 120 s of 100 ms
    std::vector<std::atomic<std::uint32_t>> bins(kBins);
    std::atomic<std::int64_t> killed_ns{0}; // steady clock; 0: not yet killed
    auto loop = tether::EventLoop::create();
    tether::ClientOptions o = base_options(url);
    o.loop = loop;
    o.backoff.max = max_backoff;
    o.callbacks.on_state = [&](const tether::StateChange& c) {
        if (c.to == tether::State::ready) ready.fetch_add(1, std::memory_order_relaxed);
        if (c.from == tether::State::ready) ready.fetch_sub(1, std::memory_order_relaxed);
        if (c.to == tether::State::failed) failed.fetch_add(1, std::memory_order_relaxed);
        if (c.to != tether::State::connecting) return;
        attempts.fetch_add(1, std::memory_order_relaxed);
        const std::int64_t k = killed_ns.load(std::memory_order_relaxed);
        if (k == 0) return;
        const auto bin = static_cast<std::size_t>((Clock::now().time_since_epoch().count() - k) / 100'000'000);
        if (bin < kBins) bins[bin].fetch_add(1, std::memory_order_relaxed);
    };
    std::vector<std::unique_ptr<tether::Client>> clients;
    clients.reserve(n);
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<tether::Client>(o));
        clients.back()->connect();
    }
    const auto all_ready = [&] { return ready.load(std::memory_order_relaxed) == static_cast<std::int64_t>(n); };
    if (!wait_for(all_ready, 120000ms, 5000us)) {
        r.error = "only " + std::to_string(ready.load()) + " of " + std::to_string(n) + " clients ready within 120 s";
        return r;
    }
    r.connect_all_s = seconds_since(t0);
    sleep_s(0.5);

    const double cpu0 = self_cpu_seconds();
    const std::uint64_t attempts0 = attempts.load();
    const auto killed_at = Clock::now();
    static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>);
    killed_ns = killed_at.time_since_epoch().count();
    auto sample = [&] {
        StormSample s;
        s.t_s = seconds_since(killed_at);
        s.rss = rss_bytes();
        s.cpu_s = self_cpu_seconds() - cpu0;
        s.ready = static_cast<std::size_t>(std::max<std::int64_t>(ready.load(std::memory_order_relaxed), 0));
        s.attempts = attempts.load(std::memory_order_relaxed) - attempts0;
        r.samples.push_back(s);
    };
    kill();
    // Samples on a fixed 100 ms grid from the kill, restart included.
    bool restarted = false;
    for (int k = 1;; ++k) {
        std::this_thread::sleep_until(killed_at + std::chrono::milliseconds(100 * k));
        if (!restarted && seconds_since(killed_at) >= down_s) {
            restart();
            r.down_s = seconds_since(killed_at);
            restarted = true;
        }
        sample();
        // ready counts down as the clients notice the kill; "again" needs the restart first.
        if (restarted && r.all_ready_s < 0 && all_ready()) r.all_ready_s = seconds_since(killed_at);
        if (r.all_ready_s >= 0 && seconds_since(killed_at) >= r.all_ready_s + 1.0) break; // 1 s of tail
        if (seconds_since(killed_at) >= deadline_s) break;
    }
    for (std::size_t i = 0; i < r.samples.size() && i < kBins; ++i) r.attempts_per_100ms.push_back(bins[i].load());
    r.failed = static_cast<std::size_t>(failed.load());
    r.ready_at_end = static_cast<std::size_t>(std::max<std::int64_t>(ready.load(), 0));
    for (auto& c : clients) c->abort();
    clients.clear();
    return r;
}

} // namespace bench

namespace bench {

StoreFootprint store_footprint(const std::string& path, const std::string& payload, std::uint64_t messages, int runs) {
    StoreFootprint f;
    f.messages = messages;
    tether::ClientOptions o = base_options("ws://127.0.0.1:1/ws"); // never connected
    o.persistence.path = path;
    o.outbox.max_messages = messages;
    {
        std::mutex mu;
        std::condition_variable cv;
        tether::MessageId durable = 0, last = 0;
        o.callbacks.on_durable = [&](tether::MessageId through) {
            std::lock_guard<std::mutex> lock(mu);
            durable = through;
            cv.notify_all();
        };
        const auto t0 = Clock::now();
        tether::Client client(o);
        for (std::uint64_t i = 0; i < messages; ++i) {
            const tether::SendResult s = client.send_json(payload);
            if (!s) {
                f.error = s.error.message() + ": " + s.detail;
                return f;
            }
            last = s.id;
        }
        std::unique_lock<std::mutex> lock(mu);
        if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return durable == last; })) {
            f.error = "on_durable did not reach the last message";
            return f;
        }
        f.fill_s = seconds_since(t0);
    }
    for (const char* suffix : {"", "-wal"}) {
        struct stat st {};
        if (::stat((path + suffix).c_str(), &st) == 0) f.file_bytes += static_cast<std::uint64_t>(st.st_size);
    }
    o.callbacks.on_durable = nullptr;
    for (int k = 0; k < runs; ++k) {
        const auto t0 = Clock::now();
        tether::Client client(o);
        f.construct_ms.push_back(seconds_since(t0) * 1e3);
        f.recovered = client.recovered().messages;
    }
    return f;
}

} // namespace bench
