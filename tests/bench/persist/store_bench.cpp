// Store benchmarks: staged enqueue + commit throughput per batch size and
// durability, bytes on disk per queued message, and open + load time of a
// store holding 100,000 queued messages (target: <= 200 ms).
//
//   cmake --build build --target tether_bench_persist && build/tests/bench/persist/tether_bench_persist
// Files go to $TMPDIR (default /tmp); the figures depend on that disk.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "persist/store.hpp"

namespace {

using namespace tether::persist;

std::string make_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tether-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return tmpl;
}

// 64 B of payload, and an id shaped like a generated one (prefix + counter).
const std::string kPayload = "{\"n\":1,\"pad\":\"" + std::string(64 - 16, 'x') + "\"}";
std::string id_for(std::uint64_t i) { return "0123456789abcdef-" + std::to_string(i); }

std::unique_ptr<Store> open_or_die(const std::string& path, Durability d) {
    auto o = Store::open(StoreOptions{path, d});
    if (!o) std::abort();
    return std::move(o.value().store);
}

// One io-loop turn per iteration: enqueue `batch` messages, number them,
// ack the previous turn's batch, commit. Items = messages.
void BM_EnqueueCommit(benchmark::State& state) {
    const auto batch = static_cast<std::uint64_t>(state.range(0));
    const auto durability = static_cast<Durability>(state.range(1));
    const std::string dir = make_dir();
    {
        auto store = open_or_die(dir + "/s.db", durability);
        if (store->stage_new_session("s", "t")) std::abort();
        std::uint64_t next = 1;
        for (auto _ : state) {
            for (std::uint64_t i = 0; i < batch; ++i)
                if (!store->stage_enqueue(id_for(next + i), kPayload)) std::abort();
            if (next > 1 && store->stage_acked_through(next - 1)) std::abort();
            next += batch;
            if (store->stage_numbered_through(next - 1)) std::abort();
            if (!store->commit()) std::abort();
        }
        state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(batch));
        state.SetLabel(to_string(durability));
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EnqueueCommit)
    ->ArgsProduct({{1, 16, 256, 4096}, {static_cast<int>(Durability::normal), static_cast<int>(Durability::full)}})
    ->ArgNames({"batch", "durability"})
    ->UseRealTime(); // fsync waits are not CPU time

// Open + load (every row read and checked) + close of a store holding
// 100,000 queued 64 B messages; reports the file's bytes per message.
void BM_OpenLoad100k(benchmark::State& state) {
    constexpr std::uint64_t kCount = 100000;
    const std::string dir = make_dir();
    const std::string path = dir + "/s.db";
    {
        auto store = open_or_die(path, Durability::normal);
        for (std::uint64_t i = 1; i <= kCount; ++i)
            if (!store->stage_enqueue(id_for(i), kPayload)) std::abort();
        if (!store->commit()) std::abort();
    }
    struct stat st {};
    ::stat(path.c_str(), &st);
    for (auto _ : state) {
        auto o = Store::open(StoreOptions{path, Durability::normal});
        if (!o || o.value().recovered.message_count() != kCount) std::abort();
        benchmark::DoNotOptimize(o.value().recovered.messages.data());
    }
    state.counters["bytes_on_disk/msg"] = static_cast<double>(st.st_size) / static_cast<double>(kCount);
    state.counters["payload+id/msg"] = static_cast<double>(kPayload.size() + id_for(kCount / 2).size());
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_OpenLoad100k)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
