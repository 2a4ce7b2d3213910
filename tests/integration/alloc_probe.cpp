#include "alloc_probe.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace tether::itest {
namespace {

std::atomic<std::size_t> g_largest{0};

void record(std::size_t n) noexcept {
    std::size_t seen = g_largest.load(std::memory_order_relaxed);
    while (n > seen && !g_largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
    }
}

void* allocate(std::size_t n) noexcept {
    record(n);
    return std::malloc(n == 0 ? 1 : n);
}

void* allocate_or_throw(std::size_t n) {
    for (;;) {
        if (void* p = allocate(n)) return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr) throw std::bad_alloc();
        handler();
    }
}

} // namespace

void reset_largest_allocation() noexcept { g_largest.store(0, std::memory_order_relaxed); }
std::size_t largest_allocation() noexcept { return g_largest.load(std::memory_order_relaxed); }

} // namespace tether::itest

// Every non-aligned form, so that no allocation made here is released by a
// toolchain operator delete (ASan would report a malloc/delete mismatch).
void* operator new(std::size_t n) { return tether::itest::allocate_or_throw(n); }
void* operator new[](std::size_t n) { return tether::itest::allocate_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return tether::itest::allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return tether::itest::allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
