// Counts every global operator new (defined in alloc_counter.cpp, a separate
// translation unit so the replacement is never inlined into its callers).
#pragma once

#include <cstdint>

std::uint64_t allocations() noexcept;
