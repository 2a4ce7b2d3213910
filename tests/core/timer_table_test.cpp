// TimerTable (the Session's deadlines) and match() (exhaustive variant
// visits): the table's earliest deadline and expiry, and the compile-time
// refusal of a catch-all overload.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <variant>

#include "core/overloaded.hpp"
#include "core/session.hpp"
#include "core/timer_table.hpp"

namespace {

using tether::core::ends_with_connection;
using tether::core::has_catch_all;
using tether::core::match;
using tether::core::overloaded;
using tether::core::SessionTimer;
using tether::core::TimePoint;
using tether::core::TimerTable;
using namespace std::chrono_literals;

const TimePoint t0{std::chrono::hours(1)};

TEST(TimerTable, EmptyHasNoDeadline) {
    TimerTable<SessionTimer> table;
    EXPECT_FALSE(table.next());
    EXPECT_FALSE(table.is_expired(SessionTimer::connect, t0 + 24h));
}

TEST(TimerTable, NextIsTheEarliestArmedDeadline) {
    TimerTable<SessionTimer> table;
    table.set(SessionTimer::backoff, t0 + 30ms);
    table.set(SessionTimer::connect, t0 + 10ms);
    table.set(SessionTimer::close, t0 + 20ms);
    EXPECT_EQ(table.next(), t0 + 10ms);
    table.stop(SessionTimer::connect);
    EXPECT_EQ(table.next(), t0 + 20ms);
    table.set(SessionTimer::close, t0 + 40ms); // arming again moves it
    EXPECT_EQ(table.next(), t0 + 30ms);
    EXPECT_EQ(table.get(SessionTimer::close), t0 + 40ms);
    EXPECT_FALSE(table.get(SessionTimer::hello));
}

TEST(TimerTable, ExpiredAtAndAfterItsDeadlineOnly) {
    TimerTable<SessionTimer> table;
    table.set(SessionTimer::hello, t0 + 5ms);
    EXPECT_FALSE(table.is_expired(SessionTimer::hello, t0 + 4ms));
    EXPECT_TRUE(table.is_expired(SessionTimer::hello, t0 + 5ms));
    EXPECT_TRUE(table.is_expired(SessionTimer::hello, t0 + 6ms));
    EXPECT_FALSE(table.is_expired(SessionTimer::drain, t0 + 6ms));
}

TEST(TimerTable, DroppingTheConnectionKeepsOnlyTheBackoff) {
    TimerTable<SessionTimer> table;
    for (int i = 0; i < static_cast<int>(SessionTimer::count); ++i)
        table.set(static_cast<SessionTimer>(i), t0 + std::chrono::milliseconds(i + 1));
    table.stop_if(ends_with_connection);
    EXPECT_EQ(table.next(), table.get(SessionTimer::backoff));
    for (int i = 0; i < static_cast<int>(SessionTimer::count); ++i) {
        const auto t = static_cast<SessionTimer>(i);
        EXPECT_EQ(table.get(t).has_value(), t == SessionTimer::backoff) << i;
    }
}

using Shape = std::variant<int, std::string>;

TEST(Match, CallsTheOverloadOfTheHeldAlternative) {
    auto describe = [](const Shape& s) {
        return match(
            s, [](int i) { return "int " + std::to_string(i); }, [](const std::string& t) { return "string " + t; });
    };
    EXPECT_EQ(describe(Shape{7}), "int 7");
    EXPECT_EQ(describe(Shape{std::string("x")}), "string x");
}

// What match() refuses at compile time: a set that would accept a type that
// is not one of the alternatives (a generic lambda).
struct OnInt {
    void operator()(int) const {}
};
struct OnString {
    void operator()(const std::string&) const {}
};
struct OnAnything {
    template <class T>
    void operator()(const T&) const {}
};
static_assert(!has_catch_all<overloaded<OnInt, OnString>>);
static_assert(has_catch_all<overloaded<OnInt, OnAnything>>);
static_assert(has_catch_all<OnAnything>);

} // namespace
