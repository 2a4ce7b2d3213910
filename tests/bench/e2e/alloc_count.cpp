#include "alloc_count.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace bench {
namespace {

// One slot per thread, claimed on the thread's first allocation (without
// allocating). Slots are never released: a benchmark run starts few threads.
struct alignas(64) Slot {
    std::atomic<pid_t> tid{0};
    std::atomic<std::uint64_t> n{0};
};
constexpr int kSlots = 512;
Slot g_slots[kSlots];
Slot g_overflow; // shared, when every slot is taken

Slot* claim_slot() noexcept {
    const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
    for (Slot& s : g_slots) {
        pid_t expected = 0;
        if (s.tid.compare_exchange_strong(expected, tid)) return &s;
    }
    return nullptr;
}

void count_one() noexcept {
    thread_local Slot* slot = claim_slot();
    if (slot != nullptr) {
        slot->n.store(slot->n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    } else {
        g_overflow.n.fetch_add(1, std::memory_order_relaxed);
    }
}

} // namespace

std::uint64_t allocation_count() noexcept {
    std::uint64_t total = g_overflow.n.load(std::memory_order_relaxed);
    for (const Slot& s : g_slots) total += s.n.load(std::memory_order_relaxed);
    return total;
}

std::uint64_t allocation_count_of(pid_t tid) noexcept {
    for (const Slot& s : g_slots)
        if (s.tid.load(std::memory_order_relaxed) == tid) return s.n.load(std::memory_order_relaxed);
    return 0;
}

} // namespace bench

void* operator new(std::size_t n) {
    bench::count_one();
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
