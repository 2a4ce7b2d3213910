// Core micro-benchmarks: ns per operation and heap allocations per message
// (counted by a global operator new, reported as the `allocs/op` counter).
//
//   cmake --build build --target tether_bench_core && build/tests/bench/core/tether_bench_core
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/codec.hpp"
#include "core/inbox.hpp"
#include "core/outbox.hpp"
#include "core/session.hpp"

#include "alloc_counter.hpp"

namespace {

using namespace tether::core;

// Reports allocations per iteration over the timed loop.
class AllocCounter {
public:
    explicit AllocCounter(benchmark::State& s) : state_(s), start_(allocations()) {}
    ~AllocCounter() {
        const double n = static_cast<double>(allocations() - start_);
        state_.counters["allocs/op"] = benchmark::Counter(n / static_cast<double>(state_.iterations()));
    }

private:
    benchmark::State& state_;
    std::uint64_t start_;
};

std::string payload(std::size_t bytes) { return "{\"n\":1,\"pad\":\"" + std::string(bytes, 'x') + "\"}"; }

void BM_EncodeClientMsg(benchmark::State& state) {
    const std::string data = payload(static_cast<std::size_t>(state.range(0)));
    std::string out;
    out.reserve(data.size() + 128);
    std::uint64_t seq = 0;
    AllocCounter allocs(state);
    for (auto _ : state) {
        out.clear();
        append_client_msg(out, ++seq, "0123456789abcdef-42", data);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * static_cast<benchmark::IterationCount>(out.size())));
}
BENCHMARK(BM_EncodeClientMsg)->Arg(64)->Arg(1024)->Arg(65536);

void BM_DecodeServerMsg(benchmark::State& state) {
    ServerMsg m;
    m.seq = 12345;
    m.data = nlohmann::json::parse(payload(static_cast<std::size_t>(state.range(0))));
    const std::string text = encode(m);
    AllocCounter allocs(state);
    for (auto _ : state) {
        auto f = decode_server_frame(text);
        benchmark::DoNotOptimize(f.ok());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * static_cast<benchmark::IterationCount>(text.size())));
}
BENCHMARK(BM_DecodeServerMsg)->Arg(64)->Arg(1024)->Arg(65536);

// The server's side (chat-server hub): a client msg frame, data kept as text.
void BM_DecodeClientMsg(benchmark::State& state) {
    std::string text;
    append_client_msg(text, 12345, "0123456789abcdef-42", payload(static_cast<std::size_t>(state.range(0))));
    AllocCounter allocs(state);
    for (auto _ : state) {
        auto f = decode_client_frame(text);
        benchmark::DoNotOptimize(f.ok());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * static_cast<benchmark::IterationCount>(text.size())));
}
BENCHMARK(BM_DecodeClientMsg)->Arg(64)->Arg(1024)->Arg(65536);

void BM_DecodeAck(benchmark::State& state) {
    const std::string text = encode(Ack{123456});
    AllocCounter allocs(state);
    for (auto _ : state) {
        auto f = decode_server_frame(text);
        benchmark::DoNotOptimize(f.ok());
    }
}
BENCHMARK(BM_DecodeAck);

void BM_ValidatePayload(benchmark::State& state) {
    const std::string data = payload(static_cast<std::size_t>(state.range(0)));
    AllocCounter allocs(state);
    for (auto _ : state) benchmark::DoNotOptimize(validate_json_value(data, DecodeLimits{}));
}
BENCHMARK(BM_ValidatePayload)->Arg(64)->Arg(1024)->Arg(65536);

// push + send + cumulative ack every 32 messages: the outbox steady state.
void BM_OutboxPushSendAck(benchmark::State& state) {
    Outbox box(OutboxConfig{});
    std::vector<MessageId> acked;
    acked.reserve(64);
    const std::string data = payload(64);
    MessageId id = 0;
    AllocCounter allocs(state);
    for (auto _ : state) {
        box.push(++id, "0123456789abcdef-42", data);
        Outbox::Entry* e = box.next_to_send();
        benchmark::DoNotOptimize(e);
        if ((id & 31) == 0) {
            acked.clear();
            box.ack(e->seq, acked);
        }
    }
}
BENCHMARK(BM_OutboxPushSendAck);

// Resume: rewind and re-send 10,000 unacked messages.
void BM_OutboxResend10k(benchmark::State& state) {
    Outbox box(OutboxConfig{100000, 1u << 30, 1u << 20, 100000});
    const std::string data = payload(64);
    for (MessageId id = 1; id <= 10000; ++id) box.push(id, "id", data);
    while (box.next_to_send()) {
    }
    std::vector<MessageId> acked;
    AllocCounter allocs(state);
    for (auto _ : state) {
        box.on_resumed(0, acked);
        std::size_t n = 0;
        while (box.next_to_send()) ++n;
        benchmark::DoNotOptimize(n);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 10000));
}
BENCHMARK(BM_OutboxResend10k);

// In-order delivery with one duplicate in 16, and batched acks.
void BM_InboxDedupe(benchmark::State& state) {
    Inbox inbox(InboxConfig{});
    TimePoint now{};
    std::uint64_t seq = 0;
    AllocCounter allocs(state);
    for (auto _ : state) {
        const bool dup = (seq & 15) == 15;
        auto v = inbox.on_msg(dup ? seq : ++seq, now);
        benchmark::DoNotOptimize(v);
        if (auto a = inbox.take_ack(now)) benchmark::DoNotOptimize(*a);
        if (dup) ++seq, inbox.on_msg(seq, now);
    }
}
BENCHMARK(BM_InboxDedupe);

// The whole session hot path: send() -> SendText action -> ack frame -> acked event.
void BM_SessionSendAckRoundTrip(benchmark::State& state) {
    SplitMix64 rng(1);
    SessionConfig c;
    c.url = "ws://x/ws";
    Session s(c, rng);
    TimePoint now{};
    s.start(now);
    ConnectionId conn = 0;
    while (auto a = s.poll_action())
        if (auto* o = std::get_if<OpenTransport>(&*a)) conn = o->id;
    s.on_transport_open(now, conn, "tether.v1");
    Welcome w;
    w.session = "s";
    w.resume_token = "t";
    s.on_text(now, conn, encode(w));
    while (s.poll_action()) {
    }
    while (s.poll_event()) {
    }
    const std::string data = payload(64);
    std::uint64_t n = 0;
    std::string ack;
    AllocCounter allocs(state);
    for (auto _ : state) {
        auto r = s.send(now, data, {}, PayloadCheck::trusted);
        benchmark::DoNotOptimize(r.ok());
        while (auto a = s.poll_action()) benchmark::DoNotOptimize(a->index());
        if ((++n & 31) == 0) {
            ack = "{\"type\":\"ack\",\"seq\":" + std::to_string(n) + "}";
            s.on_text(now, conn, ack);
            while (auto e = s.poll_event()) benchmark::DoNotOptimize(e->index());
        }
    }
}
BENCHMARK(BM_SessionSendAckRoundTrip);

} // namespace

BENCHMARK_MAIN();
