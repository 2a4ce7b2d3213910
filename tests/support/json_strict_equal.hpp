// JSON equality as an application sees values, for the codec's differential
// tests and fuzzers. nlohmann's operator== says 1 == 1.0 and 0.0 == -0.0;
// strict_equal also compares the kind (integer, unsigned, float), the sign of
// zero, NaN with NaN, and object keys in order.
//
// IntKind::any relaxes one thing: an integer and an unsigned integer of the
// same value are equal. A re-encoding needs that (`-0` parses as signed 0,
// dumps as `0`, parses back as unsigned 0); a fast path must not.
//
// Thread safety: a pure function.
#pragma once

#include <cmath>
#include <cstddef>

#include <nlohmann/json.hpp>

namespace tether::test {

enum class IntKind { exact, any };

inline bool strict_equal(const nlohmann::json& a, const nlohmann::json& b, IntKind ints = IntKind::exact) {
    using json = nlohmann::json;
    if (ints == IntKind::any && a.is_number_integer() && b.is_number_integer()) {
        if (a.is_number_unsigned() == b.is_number_unsigned()) return a == b;
        const json& u = a.is_number_unsigned() ? a : b;
        const json& i = a.is_number_unsigned() ? b : a;
        const auto iv = i.get<json::number_integer_t>();
        return iv >= 0 && static_cast<json::number_unsigned_t>(iv) == u.get<json::number_unsigned_t>();
    }
    if (a.type() != b.type()) return false;
    if (a.is_number_float()) {
        const double x = a.get<double>(), y = b.get<double>();
        return std::signbit(x) == std::signbit(y) && (x == y || (std::isnan(x) && std::isnan(y)));
    }
    if (a.is_object()) {
        if (a.size() != b.size()) return false;
        for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
            if (ia.key() != ib.key() || !strict_equal(ia.value(), ib.value(), ints)) return false;
        return true;
    }
    if (a.is_array()) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!strict_equal(a[i], b[i], ints)) return false;
        return true;
    }
    return a == b;
}

} // namespace tether::test
