// tether::is_valid_utf8 (tether/utf8.hpp): the core's validator, published.
#include "tether/utf8.hpp"

#include "core/utf8.hpp"

bool tether::is_valid_utf8(std::string_view text) noexcept { return core::is_valid_utf8(text); }
