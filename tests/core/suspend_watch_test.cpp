// SuspendWatch on a fake clock: the late check (a stopped process) and boot
// time running ahead of steady time (a sleeping machine, CLOCK_BOOTTIME).
#include <gtest/gtest.h>

#include <optional>

#include "core/suspend_watch.hpp"

namespace tether::core {
namespace {

using std::chrono::milliseconds;

TimePoint at(long long ms) { return TimePoint{} + milliseconds(ms); }

TEST(SuspendWatch, AnOnTimeCheckWithBootTimeInStepSeesNoGap) {
    SuspendWatch w;
    w.start(at(0), milliseconds(50'000));
    EXPECT_FALSE(w.is_due(at(999)));
    ASSERT_TRUE(w.is_due(at(1000)));
    EXPECT_EQ(w.check(at(1000), milliseconds(51'000)), Duration::zero());
    EXPECT_EQ(w.due(), at(2000)) << "the next check is armed from this one";
}

TEST(SuspendWatch, ALateCheckIsAStoppedProcess) {
    SuspendWatch w;
    w.start(at(0), milliseconds(50'000));
    // Steady and boot time both ran 31 s: the process did not run, the machine did.
    EXPECT_EQ(w.check(at(31'000), milliseconds(81'000)), milliseconds(30'000));
}

TEST(SuspendWatch, BootTimeAheadOfSteadyTimeIsASleepingMachine) {
    SuspendWatch w;
    w.start(at(0), milliseconds(50'000));
    // The check ran on time by the steady clock, which stood still in the
    // sleep; boot time counted the 2 minutes.
    EXPECT_EQ(w.check(at(1000), milliseconds(51'000 + 120'000)), milliseconds(120'000));
}

TEST(SuspendWatch, TheLargerSignWins) {
    SuspendWatch w;
    w.start(at(0), milliseconds(0));
    EXPECT_EQ(w.check(at(6000), milliseconds(6000 + 20'000)), milliseconds(20'000)) << "boot ahead by 20 s";
    w.start(at(0), milliseconds(0));
    EXPECT_EQ(w.check(at(40'000), milliseconds(40'500)), milliseconds(39'000)) << "late by 39 s";
}

TEST(SuspendWatch, WithoutABootClockOnlyLatenessCounts) {
    SuspendWatch w;
    w.start(at(0), std::nullopt);
    EXPECT_EQ(w.check(at(1000), std::nullopt), Duration::zero());
    EXPECT_EQ(w.check(at(9000), std::nullopt), milliseconds(7000));
    // A boot clock that appears later has no earlier reading to compare with.
    EXPECT_EQ(w.check(at(10'000), milliseconds(999'999)), Duration::zero());
}

TEST(SuspendWatch, BootTimeBehindSteadyTimeIsNoGap) {
    SuspendWatch w;
    w.start(at(0), milliseconds(50'000));
    EXPECT_EQ(w.check(at(1000), milliseconds(50'100)), Duration::zero());
}

TEST(SuspendWatch, StopEndsTheWatch) {
    SuspendWatch w;
    w.start(at(0), std::nullopt);
    w.stop();
    EXPECT_FALSE(w.watching());
    EXPECT_FALSE(w.is_due(at(1'000'000)));
}

} // namespace
} // namespace tether::core
