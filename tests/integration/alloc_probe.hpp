// Records the largest single allocation made through the (non-aligned)
// global operator new since the last reset, so a test can prove that the
// client refused a 100 MB frame header *without* reserving 100 MB.
//
// alloc_probe.cpp replaces every non-aligned operator new/delete of the test
// binary (malloc/free underneath, so ASan still checks every access and
// leak; the aligned forms stay the toolchain's, consistently paired).
//
// Thread safety: lock-free; safe from any thread.
#pragma once

#include <cstddef>

namespace tether::itest {

void reset_largest_allocation() noexcept;
std::size_t largest_allocation() noexcept;

} // namespace tether::itest
