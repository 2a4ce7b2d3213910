// Counts every global operator new in the benchmark process, per thread, so
// a measurement can attribute allocations to the client's threads (the raw
// websocketpp sink runs in this process too). Counting costs a relaxed
// load/store on a thread-owned cache line, no lock.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace bench {
std::uint64_t allocation_count() noexcept;               // all threads
std::uint64_t allocation_count_of(pid_t tid) noexcept;   // one thread (kernel tid)
} // namespace bench
