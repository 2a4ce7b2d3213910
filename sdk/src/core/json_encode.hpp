// The encode side of the codec's fast path: nlohmann's compact dump of a
// value, written straight into a caller's buffer, with the clean spans of
// each string copied in bulk (8 bytes per step while no byte needs a look).
//
// Contract, as codec_fast.hpp on the decode side: an accelerator, never a
// second opinion. append_compact_dump() either appends exactly the bytes of
// `value.dump(-1, ' ', false, error_handler_t::strict)` and returns true, or
// declines: returns false and leaves `out` as it found it, and the caller
// runs nlohmann's dump, which also words every error. It declines on
// ill-formed UTF-8 in a string or key (strict dump throws), on binary and
// discarded values, and on nesting deeper than `max_depth` (so its recursion
// stays bounded; such a payload is refused after the dump anyway).
// Floats go through nlohmann's own shortest-round-trip formatter.
//
// Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace tether::core::fast {

bool append_compact_dump(std::string& out, const nlohmann::json& value, std::size_t max_depth);

} // namespace tether::core::fast
