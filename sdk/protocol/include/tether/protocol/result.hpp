// Result<T>: a value, or an error code with a human-readable detail.
// The core never throws across its API; fallible calls return this.
#pragma once

#include <cassert>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include "tether/error.hpp"

namespace tether::core {

struct Failure {
    std::error_code code;
    std::string detail; // what exactly was wrong, for logs and error events
};

inline Failure fail(errc e, std::string detail = {}) { return Failure{make_error_code(e), std::move(detail)}; }

template <class T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
    Result(Failure failure) : v_(std::move(failure)) {}  // NOLINT: implicit by design

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { assert(ok()); return std::get<0>(v_); }
    const T& value() const& { assert(ok()); return std::get<0>(v_); }
    T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }

    const Failure& failure() const { assert(!ok()); return std::get<1>(v_); }
    std::error_code error() const { return ok() ? std::error_code{} : std::get<1>(v_).code; }
    const std::string& detail() const { return std::get<1>(v_).detail; }

private:
    std::variant<T, Failure> v_;
};

} // namespace tether::core
