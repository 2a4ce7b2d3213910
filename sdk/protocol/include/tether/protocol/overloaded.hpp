// Exhaustive visits of a std::variant.
//
// match(v, f1, f2, ...) is std::visit over an overload set of f1, f2, ...
// std::visit already refuses a set that misses an alternative; match() also
// refuses a catch-all (a generic `[](auto&)` lambda, or any overload that
// takes an unrelated type), so adding an alternative to a variant is a
// compile error at every place that handles it.
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

namespace tether::core {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

namespace detail {
struct NotAnAlternative {};
} // namespace detail

// True when `Visitor` would accept anything, i.e. it has a catch-all overload.
template <class Visitor>
inline constexpr bool has_catch_all = std::is_invocable_v<Visitor&, detail::NotAnAlternative&>;

template <class Variant, class... F>
decltype(auto) match(Variant&& v, F&&... f) {
    overloaded<std::decay_t<F>...> visitor{std::forward<F>(f)...};
    static_assert(!has_catch_all<decltype(visitor)>,
                  "match(): name every alternative; a catch-all would hide a new one");
    return std::visit(visitor, std::forward<Variant>(v));
}

} // namespace tether::core
