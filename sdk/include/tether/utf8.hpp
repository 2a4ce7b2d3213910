// Strict UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF): the check the SDK applies to the text it sends and
// receives, for callers that must refuse bad strings before handing them over
// (the C ABI does, for every option string).
//
// Thread safety: a pure function.
#pragma once

#include <string_view>

namespace tether {

bool is_valid_utf8(std::string_view text) noexcept;

} // namespace tether
