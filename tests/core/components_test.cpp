// Unit tests of the Session's building blocks: Backoff, Heartbeat, Outbox,
// Inbox, and the Rng helpers. Fake clock, scripted Rng, no sleeps.
//
// About "max" draws: uniform_inclusive(rng, bound) accepts a draw x below a
// rejection limit and returns x % (bound + 1), so a scripted draw of `bound`
// yields the maximum and 0 yields the minimum. UINT64_MAX is always above the
// limit (rejected, another draw is taken) unless bound is UINT64_MAX.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "core/heartbeat.hpp"
#include "core/inbox.hpp"
#include "core/outbox.hpp"
#include "core/time.hpp"
#include "test_support.hpp"

namespace {

using tether::errc;
using tether::core::Backoff;
using tether::core::BackoffConfig;
using tether::core::Duration;
using tether::core::Heartbeat;
using tether::core::HeartbeatConfig;
using tether::core::Inbox;
using tether::core::InboxConfig;
using tether::core::kMaxDuration;
using tether::core::MessageId;
using tether::core::Outbox;
using tether::core::OutboxConfig;
using tether::core::Rng;
using tether::core::SplitMix64;
using tether::core::TimePoint;
using tether::core::uniform_inclusive;
using tether::test::FakeClock;
using tether::test::ScriptedRng;
using std::chrono::hours;
using std::chrono::milliseconds;

constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

// Returns the largest draw for whatever bound it is asked about: `bound`
// itself (see the note at the top). Used for "the Rng returns max".
class MaxRng final : public Rng {
public:
    // uniform_inclusive only sees next_u64(), so this Rng cannot know the
    // bound; callers set it to the ceiling they expect to be drawn over.
    explicit MaxRng(std::uint64_t bound) : bound_(bound) {}
    void set_bound(std::uint64_t b) { bound_ = b; }
    std::uint64_t next_u64() override { return bound_; }

private:
    std::uint64_t bound_;
};

// min(max, base * 2^n) computed without overflow, as the reference.
Duration expected_ceiling(const BackoffConfig& c, std::uint64_t n) {
    const auto base = static_cast<std::uint64_t>(c.base.count());
    const auto max = static_cast<std::uint64_t>(c.max.count());
    if (n >= 63 || base > (max >> n)) return c.max;
    return Duration(static_cast<Duration::rep>(std::min(max, base << n)));
}

// ---- uniform_inclusive / SplitMix64 -------------------------------------------------

TEST(UniformInclusive, StaysInRangeForManyBounds) {
    SplitMix64 rng(42);
    const std::array<std::uint64_t, 9> bounds{0, 1, 2, 3, 7, 10, 1000, (1ULL << 53) + 12345, kU64Max - 1};
    for (std::uint64_t bound : bounds)
        for (int i = 0; i < 2000; ++i) ASSERT_LE(uniform_inclusive(rng, bound), bound) << "bound=" << bound;
}

TEST(UniformInclusive, ScriptedExtremes) {
    ScriptedRng zero(0);
    EXPECT_EQ(uniform_inclusive(zero, 0), 0U);
    EXPECT_EQ(uniform_inclusive(zero, 250), 0U);
    ScriptedRng top({250});
    EXPECT_EQ(uniform_inclusive(top, 250), 250U);
    // The full range returns the draw unchanged, even UINT64_MAX.
    ScriptedRng full({kU64Max, 5});
    EXPECT_EQ(uniform_inclusive(full, kU64Max), kU64Max);
    EXPECT_EQ(uniform_inclusive(full, kU64Max), 5U);
}

TEST(UniformInclusive, RejectsTheBiasedTopSliverAndDrawsAgain) {
    // For bound 9 (range 10) the top 6 values of 2^64 would bias a plain
    // modulo; UINT64_MAX is among them, so it is rejected and 7 is used.
    ScriptedRng rng({kU64Max, kU64Max - 1, 7});
    EXPECT_EQ(uniform_inclusive(rng, 9), 7U);
    EXPECT_EQ(rng.calls(), 3U);
    // Power-of-two ranges: the rejected sliver is the top `range` values.
    ScriptedRng pow2({kU64Max, 3});
    EXPECT_EQ(uniform_inclusive(pow2, 3), 3U);
    EXPECT_EQ(pow2.calls(), 2U);
}

TEST(UniformInclusive, ADegenerateConstantRngCannotHangIt) {
    // UINT64_MAX is above the rejection limit for every bound but the full
    // range; a constant Rng must still get an answer (the retries are bounded).
    ScriptedRng stuck(kU64Max);
    const std::uint64_t v = uniform_inclusive(stuck, 9);
    EXPECT_LE(v, 9U);
    EXPECT_LE(stuck.calls(), 100U);
    ScriptedRng stuck_pow2(kU64Max);
    EXPECT_LE(uniform_inclusive(stuck_pow2, 255), 255U);
}

TEST(UniformInclusive, RoughlyUniform) {
    SplitMix64 rng(7);
    constexpr int kDraws = 60000;
    for (std::uint64_t bound : {1ULL, 2ULL, 5ULL, 9ULL}) {
        std::vector<int> hist(bound + 1, 0);
        for (int i = 0; i < kDraws; ++i) ++hist[static_cast<std::size_t>(uniform_inclusive(rng, bound))];
        const double expect = static_cast<double>(kDraws) / static_cast<double>(bound + 1);
        for (std::size_t b = 0; b < hist.size(); ++b) {
            EXPECT_GT(hist[b], expect * 0.95) << "bound=" << bound << " bucket=" << b;
            EXPECT_LT(hist[b], expect * 1.05) << "bound=" << bound << " bucket=" << b;
        }
    }
}

TEST(SplitMix64, DeterministicPerSeedAndMatchesTheReference) {
    SplitMix64 a(0), b(0), c(1);
    // Reference output of SplitMix64 (Steele, Lea, Flood; Vigna's C code) for seed 0.
    const std::uint64_t first = a.next_u64();
    EXPECT_EQ(first, 0xe220a8397b1dcdafULL);
    EXPECT_EQ(b.next_u64(), first);
    EXPECT_NE(c.next_u64(), first);
    EXPECT_EQ(a.next_u64(), b.next_u64());
}

// ---- Backoff ---------------------------------------------------------------------------

TEST(Backoff, CeilingDoublesUpToMaxWithoutOverflow) {
    BackoffConfig cfg; // 250 ms .. 30 s
    Backoff b(cfg);
    Duration prev{0};
    for (std::uint32_t n = 0; n <= 64; ++n) {
        const Duration c = b.ceiling(n);
        EXPECT_EQ(c, expected_ceiling(cfg, n)) << "n=" << n;
        EXPECT_GE(c, prev);
        EXPECT_LE(c, cfg.max);
        prev = c;
    }
    EXPECT_EQ(b.ceiling(0), milliseconds(250));
    EXPECT_EQ(b.ceiling(1), milliseconds(500));
    EXPECT_EQ(b.ceiling(6), milliseconds(16000));
    EXPECT_EQ(b.ceiling(7), milliseconds(30000));
    EXPECT_EQ(b.ceiling(10000), cfg.max);
    EXPECT_EQ(b.ceiling(std::numeric_limits<std::uint32_t>::max()), cfg.max);

    // The widest configuration validate() allows: 1 ms .. kMaxDuration.
    BackoffConfig wide;
    wide.base = milliseconds(1);
    wide.max = kMaxDuration;
    Backoff w(wide);
    for (std::uint32_t n : {0U, 1U, 20U, 34U, 35U, 36U, 62U, 63U, 64U, 10000U, 4000000000U}) {
        EXPECT_EQ(w.ceiling(n), expected_ceiling(wide, n)) << "n=" << n;
        EXPECT_LE(w.ceiling(n), kMaxDuration);
        EXPECT_GT(w.ceiling(n), Duration::zero());
    }
}

// Backoff itself never overflows, even with a configuration validate() would
// refuse (max at the top of the range; base above half of it).
TEST(Backoff, CeilingSaturatesAtAnyMaxWithoutOverflow) {
    BackoffConfig top;
    top.base = Duration(3);
    top.max = Duration(std::numeric_limits<Duration::rep>::max());
    Backoff b(top);
    Duration prev{0};
    for (std::uint32_t n : {0U, 1U, 60U, 61U, 62U, 63U, 64U, 1000U}) {
        const Duration c = b.ceiling(n);
        EXPECT_GE(c, prev) << "n=" << n;
        EXPECT_LE(c, top.max);
        prev = c;
    }
    EXPECT_EQ(b.ceiling(1000), top.max);

    BackoffConfig high;
    high.max = Duration(std::numeric_limits<Duration::rep>::max() - 1);
    high.base = Duration(high.max.count() / 2 + 1);
    EXPECT_EQ(Backoff(high).ceiling(1), high.max);
}

TEST(Backoff, NextDelayBoundsWithScriptedExtremes) {
    BackoffConfig cfg;
    ScriptedRng zero(0);
    Backoff lo(cfg);
    for (std::uint32_t n = 0; n <= 64; ++n) {
        EXPECT_EQ(lo.failures(), n);
        EXPECT_EQ(lo.next_delay(zero), Duration::zero()) << "n=" << n;
    }
    Backoff hi(cfg);
    MaxRng max(0);
    for (std::uint32_t n = 0; n <= 64; ++n) {
        const Duration ceiling = hi.ceiling(n);
        max.set_bound(static_cast<std::uint64_t>(ceiling.count()));
        EXPECT_EQ(hi.next_delay(max), ceiling) << "n=" << n;
    }
    // Far along: attempt 10,000 still draws over [0, max].
    Backoff far(cfg);
    ScriptedRng any(0);
    for (int i = 0; i < 10000; ++i) (void)far.next_delay(any);
    EXPECT_EQ(far.failures(), 10000U);
    max.set_bound(static_cast<std::uint64_t>(cfg.max.count()));
    EXPECT_EQ(far.next_delay(max), cfg.max);
    EXPECT_EQ(far.next_delay(zero), Duration::zero());
    SplitMix64 rng(3);
    for (int i = 0; i < 1000; ++i) {
        const Duration d = far.next_delay(rng);
        ASSERT_GE(d, Duration::zero());
        ASSERT_LE(d, cfg.max);
    }
}

TEST(Backoff, RetryAfterIsAFloorWithJitterAbove) {
    BackoffConfig cfg;
    Backoff b(cfg);
    ScriptedRng zero(0);
    EXPECT_EQ(b.next_delay(zero, milliseconds(5000)), milliseconds(5000));
    MaxRng max(static_cast<std::uint64_t>(b.ceiling(b.failures()).count()));
    EXPECT_EQ(b.next_delay(max, milliseconds(5000)), milliseconds(5000) + milliseconds(500));
    SplitMix64 rng(11);
    std::vector<Duration> seen;
    for (int i = 0; i < 200; ++i) {
        Backoff fresh(cfg);
        const Duration d = fresh.next_delay(rng, milliseconds(2000));
        ASSERT_GE(d, milliseconds(2000));
        ASSERT_LE(d, milliseconds(2000) + cfg.base);
        seen.push_back(d);
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_GT(std::unique(seen.begin(), seen.end()) - seen.begin(), 50) << "clients told the same Retry-After must not come back in lockstep";
    // Negative and absurd retry_after values are clamped.
    Backoff c(cfg);
    EXPECT_EQ(c.next_delay(zero, milliseconds(-5)), Duration::zero());
    EXPECT_EQ(c.next_delay(zero, Duration::max()), kMaxDuration);
    EXPECT_EQ(c.next_delay(max, hours(24 * 365 * 2)), kMaxDuration);
}

TEST(Backoff, ShortDelayIsWithinBaseAndNotAFailure) {
    BackoffConfig cfg;
    Backoff b(cfg);
    ScriptedRng zero(0);
    (void)b.next_delay(zero);
    (void)b.next_delay(zero);
    ASSERT_EQ(b.failures(), 2U);
    EXPECT_EQ(b.short_delay(zero), Duration::zero());
    MaxRng max(250);
    EXPECT_EQ(b.short_delay(max), milliseconds(250));
    SplitMix64 rng(5);
    for (int i = 0; i < 1000; ++i) {
        const Duration d = b.short_delay(rng);
        ASSERT_GE(d, Duration::zero());
        ASSERT_LE(d, cfg.base);
    }
    EXPECT_EQ(b.failures(), 2U);
}

TEST(Backoff, ResetsOnlyAfterStayingReadyForStableAfter) {
    BackoffConfig cfg; // stable_after 10 s
    Backoff b(cfg);
    ScriptedRng zero(0);
    FakeClock clock;
    for (int i = 0; i < 5; ++i) (void)b.next_delay(zero);
    ASSERT_EQ(b.failures(), 5U);

    b.on_ready(clock.now);
    clock.advance(milliseconds(9999));
    b.on_ready_ended(clock.now); // not stable: a flapping server keeps the count
    EXPECT_EQ(b.failures(), 5U);

    b.on_ready(clock.now);
    clock.advance(milliseconds(10000));
    b.on_ready_ended(clock.now);
    EXPECT_EQ(b.failures(), 0U);
    EXPECT_EQ(b.ceiling(b.failures()), cfg.base);

    // on_ready_ended without a matching on_ready changes nothing.
    (void)b.next_delay(zero);
    clock.advance(hours(1));
    b.on_ready_ended(clock.now);
    EXPECT_EQ(b.failures(), 1U);

    b.reset();
    EXPECT_EQ(b.failures(), 0U);
}

TEST(Backoff, OneQuickReturnPerStableConnection) {
    BackoffConfig cfg; // stable_after 10 s
    Backoff b(cfg);
    ScriptedRng zero(0);
    FakeClock clock;
    EXPECT_FALSE(b.last_ready_was_stable());
    b.on_ready(clock.now);
    clock.advance(milliseconds(10000));
    b.on_ready_ended(clock.now);
    EXPECT_TRUE(b.last_ready_was_stable());
    (void)b.short_delay(zero); // the quick return consumes it
    EXPECT_FALSE(b.last_ready_was_stable());

    b.on_ready(clock.now);
    clock.advance(milliseconds(10000));
    b.on_ready_ended(clock.now);
    ASSERT_TRUE(b.last_ready_was_stable());
    (void)b.next_delay(zero); // so does a normal delay
    EXPECT_FALSE(b.last_ready_was_stable());

    b.on_ready(clock.now);
    clock.advance(milliseconds(50)); // young connection: no quick return
    b.on_ready_ended(clock.now);
    EXPECT_FALSE(b.last_ready_was_stable());
    EXPECT_EQ(b.failures(), 1U);
}

TEST(Backoff, ExhaustedAfterMaxAttempts) {
    BackoffConfig cfg;
    cfg.max_attempts = 3;
    Backoff b(cfg);
    ScriptedRng zero(0);
    EXPECT_FALSE(b.exhausted());
    (void)b.next_delay(zero);
    (void)b.next_delay(zero);
    EXPECT_FALSE(b.exhausted());
    (void)b.next_delay(zero);
    EXPECT_TRUE(b.exhausted());
    b.reset();
    EXPECT_FALSE(b.exhausted());

    BackoffConfig unlimited;
    Backoff u(unlimited);
    for (int i = 0; i < 10000; ++i) (void)u.next_delay(zero);
    EXPECT_FALSE(u.exhausted());
}

TEST(Backoff, ThousandClientsSpreadTheirFirstRetry) {
    // 1,000 clients dropped at the same instant, each with its own seeded
    // Rng: their first retries must spread over [0, base], not come back in
    // lockstep. 10 buckets, each must hold 5%..15% (expected 10%, ~1% sd).
    BackoffConfig cfg;
    const auto base = cfg.base.count();
    std::array<int, 10> hist{};
    std::vector<Duration::rep> delays;
    for (std::uint64_t client = 1; client <= 1000; ++client) {
        SplitMix64 rng(client);
        Backoff b(cfg);
        const Duration d = b.next_delay(rng);
        ASSERT_GE(d, Duration::zero());
        ASSERT_LE(d, cfg.base);
        const auto bucket = std::min<Duration::rep>(9, d.count() * 10 / (base + 1));
        ++hist[static_cast<std::size_t>(bucket)];
        delays.push_back(d.count());
    }
    for (std::size_t i = 0; i < hist.size(); ++i) {
        EXPECT_GE(hist[i], 50) << "bucket " << i;
        EXPECT_LE(hist[i], 150) << "bucket " << i;
    }
    std::sort(delays.begin(), delays.end());
    EXPECT_GT(std::unique(delays.begin(), delays.end()) - delays.begin(), 200);
}

// ---- Heartbeat -----------------------------------------------------------------------------

HeartbeatConfig hb(milliseconds interval, milliseconds timeout = milliseconds(0)) {
    HeartbeatConfig c;
    c.interval = interval;
    c.timeout = timeout;
    return c;
}

TEST(Heartbeat, ValidateRejectsUnusableSettings) {
    EXPECT_EQ(Heartbeat::validate(HeartbeatConfig{}), "");
    EXPECT_EQ(Heartbeat::validate(hb(milliseconds(15000), milliseconds(30000))), "");
    EXPECT_EQ(Heartbeat::validate(hb(milliseconds(10))), "");
    EXPECT_EQ(Heartbeat::validate(hb(hours(1))), "");
    EXPECT_EQ(Heartbeat::validate(hb(hours(1), hours(2))), "");

    EXPECT_NE(Heartbeat::validate(hb(milliseconds(0))), "");
    EXPECT_NE(Heartbeat::validate(hb(milliseconds(-1))), "");
    EXPECT_NE(Heartbeat::validate(hb(milliseconds(9))), "");
    EXPECT_NE(Heartbeat::validate(hb(hours(1) + milliseconds(1))), "");
    EXPECT_NE(Heartbeat::validate(hb(hours(24 * 365))), "");
    EXPECT_NE(Heartbeat::validate(hb(Duration::max())), "");
    // The timeout must exceed the interval, else an idle healthy link dies.
    EXPECT_NE(Heartbeat::validate(hb(milliseconds(15000), milliseconds(15000))), "");
    EXPECT_NE(Heartbeat::validate(hb(milliseconds(15000), milliseconds(1000))), "");
    EXPECT_NE(Heartbeat::validate(hb(milliseconds(15000), milliseconds(-1))), "");
    EXPECT_NE(Heartbeat::validate(hb(hours(1), hours(2) + milliseconds(1))), "");
    EXPECT_NE(Heartbeat::validate(hb(milliseconds(15000), Duration::max())), "");
}

TEST(Heartbeat, AutoTimeoutIsTwiceTheIntervalAndDeadlinesFollowTheClock) {
    FakeClock clock;
    Heartbeat h(hb(milliseconds(15000)));
    EXPECT_FALSE(h.active());
    const TimePoint t0 = clock.now;
    h.start(t0, std::nullopt);
    EXPECT_TRUE(h.active());
    EXPECT_EQ(h.interval(), milliseconds(15000));
    EXPECT_EQ(h.timeout(), milliseconds(30000));
    EXPECT_EQ(h.next_ping(), t0 + milliseconds(15000));
    EXPECT_EQ(h.liveness_deadline(), t0 + milliseconds(30000));

    clock.advance(milliseconds(15000));
    h.on_ping_sent(clock.now);
    EXPECT_EQ(h.next_ping(), t0 + milliseconds(30000));
    EXPECT_EQ(h.liveness_deadline(), t0 + milliseconds(30000)); // a ping proves nothing

    clock.advance(milliseconds(100));
    h.on_inbound(clock.now); // the pong (or any frame)
    EXPECT_EQ(h.liveness_deadline(), clock.now + milliseconds(30000));

    h.stop();
    EXPECT_FALSE(h.active());
    // A restart resets both deadlines from the new `now`.
    clock.advance(hours(2));
    h.start(clock.now, std::nullopt);
    EXPECT_EQ(h.next_ping(), clock.now + milliseconds(15000));
    EXPECT_EQ(h.liveness_deadline(), clock.now + milliseconds(30000));
}

TEST(Heartbeat, ServerIntervalIsClampedAndTheAutoTimeoutFollowsIt) {
    FakeClock clock;
    Heartbeat h(hb(milliseconds(15000)));
    h.start(clock.now, milliseconds(5000));
    EXPECT_EQ(h.interval(), milliseconds(5000));
    EXPECT_EQ(h.timeout(), milliseconds(10000));

    h.start(clock.now, milliseconds(1)); // a server may not make us ping faster than 250 ms
    EXPECT_EQ(h.interval(), milliseconds(250));
    EXPECT_EQ(h.timeout(), milliseconds(500));
    h.start(clock.now, milliseconds(0));
    EXPECT_EQ(h.interval(), milliseconds(250));

    h.start(clock.now, hours(24)); // nor slower than 1 h
    EXPECT_EQ(h.interval(), hours(1));
    EXPECT_EQ(h.timeout(), hours(2));
    h.start(clock.now, kMaxDuration);
    EXPECT_EQ(h.interval(), hours(1));
    EXPECT_EQ(h.next_ping(), clock.now + hours(1));

    h.start(clock.now, std::nullopt); // back to the configured interval
    EXPECT_EQ(h.interval(), milliseconds(15000));
}

TEST(Heartbeat, ExplicitTimeoutIsRaisedWhenTheServerIntervalWouldTripIt) {
    FakeClock clock;
    Heartbeat h(hb(milliseconds(15000), milliseconds(20000)));
    h.start(clock.now, std::nullopt);
    EXPECT_EQ(h.timeout(), milliseconds(20000));

    h.start(clock.now, milliseconds(5000)); // keeps the configured timeout
    EXPECT_EQ(h.interval(), milliseconds(5000));
    EXPECT_EQ(h.timeout(), milliseconds(20000));

    // A 30 s server interval would make a 20 s timeout fire on a healthy idle
    // link (the next pong is 30 s away): raised to above the interval.
    h.start(clock.now, milliseconds(30000));
    EXPECT_EQ(h.interval(), milliseconds(30000));
    EXPECT_GT(h.timeout(), h.interval());
    EXPECT_EQ(h.timeout(), milliseconds(45000));

    h.start(clock.now, hours(5)); // clamped interval, timeout still above it
    EXPECT_EQ(h.interval(), hours(1));
    EXPECT_GT(h.timeout(), h.interval());
}

// ---- Outbox ----------------------------------------------------------------------------------

OutboxConfig small_outbox(std::size_t max_messages, std::size_t max_bytes, std::size_t max_message_bytes,
                          std::size_t max_in_flight = 1024) {
    OutboxConfig c;
    c.max_messages = max_messages;
    c.max_bytes = max_bytes;
    c.max_message_bytes = max_message_bytes;
    c.max_in_flight = max_in_flight;
    return c;
}

// Drains next_to_send() and returns the (local id, seq) pairs it yielded.
std::vector<std::pair<MessageId, std::uint64_t>> send_all(Outbox& o) {
    std::vector<std::pair<MessageId, std::uint64_t>> out;
    while (Outbox::Entry* e = o.next_to_send()) out.emplace_back(e->local_id, e->seq);
    return out;
}

using Sent = std::vector<std::pair<MessageId, std::uint64_t>>;

TEST(Outbox, PushBoundsByCountBytesAndMessageSize) {
    Outbox o(small_outbox(3, 100, 40));
    EXPECT_TRUE(o.push(1, "a", "1"));
    EXPECT_TRUE(o.push(2, "b", "2"));
    EXPECT_TRUE(o.push(3, "c", "3"));
    auto full = o.push(4, "d", "4");
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error(), errc::outbox_full);
    EXPECT_EQ(o.size(), 3U);
    EXPECT_EQ(o.bytes(), 6U);

    Outbox by_bytes(small_outbox(100, 100, 60));
    const std::string fifty(50, '7');
    EXPECT_TRUE(by_bytes.push(1, "id-1", fifty));        // 54 bytes
    auto over = by_bytes.push(2, "id-2", fifty);          // 108 > 100
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error(), errc::outbox_full);
    EXPECT_EQ(by_bytes.size(), 1U);
    EXPECT_EQ(by_bytes.bytes(), 54U);
    EXPECT_TRUE(by_bytes.push(3, "id-3", std::string(42, '1'))); // exactly 100
    EXPECT_EQ(by_bytes.bytes(), 100U);
    EXPECT_FALSE(by_bytes.push(4, "", "1"));

    Outbox by_size(small_outbox(100, 1000, 10));
    EXPECT_TRUE(by_size.push(1, "x", std::string(10, '1'))); // exactly the limit
    auto big = by_size.push(2, "x", std::string(11, '1'));
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error(), errc::message_too_large);
    EXPECT_EQ(by_size.size(), 1U);
}

TEST(Outbox, SeqAssignedOnlyWhenSentAndEntriesKeepIdAndData) {
    Outbox o(OutboxConfig{});
    ASSERT_TRUE(o.push(10, "id-a", R"({"n":0})"));
    ASSERT_TRUE(o.push(11, "id-b", R"({"n":1})"));
    EXPECT_EQ(o.last_seq_sent(), 0U);
    EXPECT_EQ(o.in_flight(), 0U);
    Outbox::Entry* e = o.next_to_send();
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->local_id, 10U);
    EXPECT_EQ(e->seq, 1U);
    EXPECT_EQ(e->id(), "id-a");
    EXPECT_EQ(e->data(), R"({"n":0})");
    EXPECT_EQ(o.last_seq_sent(), 1U);
    ASSERT_TRUE(o.push(12, "id-c", R"({"n":2})"));
    EXPECT_EQ(send_all(o), (Sent{{11, 2}, {12, 3}}));
    EXPECT_EQ(o.next_to_send(), nullptr);
    EXPECT_EQ(o.in_flight(), 3U);
    EXPECT_EQ(o.last_seq_sent(), 3U);
}

TEST(Outbox, InFlightWindowOpensAsAcksArrive) {
    Outbox o(small_outbox(100, 1 << 20, 1000, 2));
    for (MessageId id = 1; id <= 5; ++id) ASSERT_TRUE(o.push(id, "i" + std::to_string(id), "0"));
    EXPECT_EQ(send_all(o), (Sent{{1, 1}, {2, 2}}));
    EXPECT_EQ(o.in_flight(), 2U);
    std::vector<MessageId> acked;
    ASSERT_FALSE(o.ack(1, acked));
    EXPECT_EQ(acked, (std::vector<MessageId>{1}));
    EXPECT_EQ(send_all(o), (Sent{{3, 3}}));
    acked.clear();
    ASSERT_FALSE(o.ack(3, acked));
    EXPECT_EQ(acked, (std::vector<MessageId>{2, 3}));
    EXPECT_EQ(send_all(o), (Sent{{4, 4}, {5, 5}}));
    EXPECT_EQ(o.next_to_send(), nullptr);
}

TEST(Outbox, CumulativeAckTrimsAndRejectsAcksBeyondWhatWasSent) {
    Outbox o(OutboxConfig{});
    for (MessageId id = 1; id <= 4; ++id) ASSERT_TRUE(o.push(id, "id", "12345"));
    EXPECT_EQ(o.bytes(), 28U);
    (void)send_all(o);
    std::vector<MessageId> acked;
    EXPECT_FALSE(o.ack(0, acked)); // nothing acked yet: fine, no-op
    EXPECT_TRUE(acked.empty());
    EXPECT_FALSE(o.ack(2, acked));
    EXPECT_EQ(acked, (std::vector<MessageId>{1, 2}));
    EXPECT_EQ(o.size(), 2U);
    EXPECT_EQ(o.bytes(), 14U);
    EXPECT_EQ(o.in_flight(), 2U);

    acked.clear();
    EXPECT_FALSE(o.ack(1, acked)); // an old ack again: nothing to do
    EXPECT_TRUE(acked.empty());

    EXPECT_EQ(o.ack(5, acked), errc::ack_out_of_range); // seq 5 was never sent
    EXPECT_TRUE(acked.empty());
    EXPECT_EQ(o.size(), 2U);

    // An ack above what was *sent* is out of range even if more is queued.
    ASSERT_TRUE(o.push(5, "id", "1"));
    EXPECT_EQ(o.ack(5, acked), errc::ack_out_of_range);
    EXPECT_EQ(o.size(), 3U);
    EXPECT_FALSE(o.ack(4, acked));
    EXPECT_EQ(acked, (std::vector<MessageId>{3, 4}));
    EXPECT_EQ(o.size(), 1U);
}

TEST(Outbox, OnResumedTrimsAndRewindsExactly) {
    Outbox o(small_outbox(100, 1 << 20, 1000, 4));
    for (MessageId id = 1; id <= 6; ++id) ASSERT_TRUE(o.push(id, "i", "0"));
    EXPECT_EQ(send_all(o), (Sent{{1, 1}, {2, 2}, {3, 3}, {4, 4}}));
    o.on_connection_lost();
    EXPECT_EQ(o.in_flight(), 0U);

    std::vector<MessageId> acked;
    EXPECT_EQ(o.on_resumed(5, acked), errc::ack_out_of_range); // the server cannot have seq 5
    EXPECT_TRUE(acked.empty());
    EXPECT_EQ(o.size(), 6U);

    ASSERT_FALSE(o.on_resumed(2, acked));
    EXPECT_EQ(acked, (std::vector<MessageId>{1, 2}));
    // Re-sends 3 and 4 with their original seqs, then new ones continue at 5.
    EXPECT_EQ(send_all(o), (Sent{{3, 3}, {4, 4}, {5, 5}, {6, 6}}));

    // Resume again holding everything: all acked, nothing to re-send.
    acked.clear();
    ASSERT_FALSE(o.on_resumed(6, acked));
    EXPECT_EQ(acked, (std::vector<MessageId>{3, 4, 5, 6}));
    EXPECT_TRUE(o.empty());
    EXPECT_EQ(o.next_to_send(), nullptr);

    // Resume with last_seq 0 (the server got nothing): everything again.
    Outbox p(OutboxConfig{});
    for (MessageId id = 1; id <= 3; ++id) ASSERT_TRUE(p.push(id, "i", "0"));
    (void)send_all(p);
    ASSERT_FALSE(p.on_resumed(0, acked));
    EXPECT_EQ(send_all(p), (Sent{{1, 1}, {2, 2}, {3, 3}}));
}

TEST(Outbox, TransmittedSurvivesResumeAndRenumber) {
    Outbox o(OutboxConfig{});
    ASSERT_TRUE(o.push(1, "a", "0"));
    Outbox::Entry* e = o.next_to_send();
    ASSERT_NE(e, nullptr);
    EXPECT_FALSE(e->transmitted); // the Session sets it when it emits the frame
    e->transmitted = true;
    o.renumber_for_new_session();
    e = o.next_to_send();
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(e->transmitted);
    EXPECT_EQ(e->seq, 1U);
}

TEST(Outbox, RenumberForANewSessionKeepsIdsAndOrder) {
    Outbox o(OutboxConfig{});
    for (MessageId id = 1; id <= 5; ++id) ASSERT_TRUE(o.push(id, "id-" + std::to_string(id), "0"));
    (void)send_all(o);
    std::vector<MessageId> acked;
    ASSERT_FALSE(o.ack(2, acked));
    o.renumber_for_new_session();
    EXPECT_EQ(o.last_seq_sent(), 0U);
    EXPECT_EQ(o.in_flight(), 0U);
    std::vector<std::string> ids;
    Sent sent;
    while (Outbox::Entry* e = o.next_to_send()) {
        sent.emplace_back(e->local_id, e->seq);
        ids.emplace_back(e->id());
    }
    EXPECT_EQ(sent, (Sent{{3, 1}, {4, 2}, {5, 3}}));
    EXPECT_EQ(ids, (std::vector<std::string>{"id-3", "id-4", "id-5"}));
    // An ack of the new session's numbering trims correctly.
    acked.clear();
    ASSERT_FALSE(o.ack(1, acked));
    EXPECT_EQ(acked, (std::vector<MessageId>{3}));
    EXPECT_EQ(o.ack(4, acked), errc::ack_out_of_range);
}

TEST(Outbox, ConnectionLostResendsTheUnackedRangeWithTheSameSeqs) {
    Outbox o(OutboxConfig{});
    for (MessageId id = 1; id <= 3; ++id) ASSERT_TRUE(o.push(id, "i", "0"));
    (void)send_all(o);
    o.on_connection_lost();
    EXPECT_EQ(send_all(o), (Sent{{1, 1}, {2, 2}, {3, 3}}));
}

TEST(Outbox, TakeAllEmptiesAndHighWaterRemembersThePeak) {
    Outbox o(OutboxConfig{});
    for (MessageId id = 1; id <= 4; ++id) ASSERT_TRUE(o.push(id, "i", "00"));
    EXPECT_EQ(o.high_water(), 4U);
    (void)send_all(o);
    std::vector<MessageId> acked;
    ASSERT_FALSE(o.ack(3, acked));
    EXPECT_EQ(o.size(), 1U);
    EXPECT_EQ(o.high_water(), 4U);
    ASSERT_TRUE(o.push(5, "i", "00"));
    auto all = o.take_all();
    ASSERT_EQ(all.size(), 2U);
    EXPECT_EQ(all[0].local_id, 4U);
    EXPECT_EQ(all[1].local_id, 5U);
    EXPECT_TRUE(o.empty());
    EXPECT_EQ(o.bytes(), 0U);
    EXPECT_EQ(o.in_flight(), 0U);
    EXPECT_EQ(o.next_to_send(), nullptr);
    EXPECT_EQ(o.high_water(), 4U);
    // Still usable afterwards; seqs continue within the session.
    ASSERT_TRUE(o.push(6, "i", "0"));
    EXPECT_EQ(send_all(o), (Sent{{6, 5}}));
}

// ---- Inbox ------------------------------------------------------------------------------------

InboxConfig inbox_cfg(std::uint32_t every, milliseconds delay) {
    InboxConfig c;
    c.ack_every = every;
    c.ack_delay = delay;
    return c;
}

TEST(Inbox, DeliversInOrderDropsDuplicatesRejectsGaps) {
    FakeClock clock;
    Inbox in(InboxConfig{});
    EXPECT_EQ(in.on_msg(1, clock.now), Inbox::Verdict::deliver);
    EXPECT_EQ(in.on_msg(2, clock.now), Inbox::Verdict::deliver);
    EXPECT_EQ(in.on_msg(2, clock.now), Inbox::Verdict::duplicate);
    EXPECT_EQ(in.on_msg(1, clock.now), Inbox::Verdict::duplicate);
    EXPECT_EQ(in.on_msg(4, clock.now), Inbox::Verdict::gap);
    EXPECT_EQ(in.last_delivered(), 2U); // a gap changes nothing
    EXPECT_EQ(in.on_msg(3, clock.now), Inbox::Verdict::deliver);
    EXPECT_EQ(in.last_delivered(), 3U);
}

TEST(Inbox, AckBatchingByCount) {
    FakeClock clock;
    Inbox in(inbox_cfg(3, milliseconds(50)));
    EXPECT_EQ(in.take_ack(clock.now), std::nullopt); // nothing received
    in.on_msg(1, clock.now);
    in.on_msg(2, clock.now);
    EXPECT_EQ(in.take_ack(clock.now), std::nullopt); // 2 < 3 and the delay has not passed
    in.on_msg(3, clock.now);
    EXPECT_EQ(in.ack_deadline(), clock.now);
    EXPECT_EQ(in.take_ack(clock.now), 3U);
    EXPECT_EQ(in.ack_deadline(), std::nullopt);
    EXPECT_EQ(in.take_ack(clock.now), std::nullopt); // taken
    // The count starts again after each ack.
    in.on_msg(4, clock.now);
    in.on_msg(5, clock.now);
    EXPECT_EQ(in.take_ack(clock.now), std::nullopt);
    in.on_msg(6, clock.now);
    EXPECT_EQ(in.take_ack(clock.now), 6U);
}

TEST(Inbox, AckBatchingByTime) {
    FakeClock clock;
    Inbox in(inbox_cfg(32, milliseconds(50)));
    const TimePoint t0 = clock.now;
    in.on_msg(1, t0);
    EXPECT_EQ(in.ack_deadline(), t0 + milliseconds(50));
    clock.advance(milliseconds(30));
    in.on_msg(2, clock.now); // the deadline runs from the first unacked msg
    EXPECT_EQ(in.ack_deadline(), t0 + milliseconds(50));
    EXPECT_EQ(in.take_ack(t0 + milliseconds(49)), std::nullopt);
    EXPECT_EQ(in.take_ack(t0 + milliseconds(50)), 2U);
    EXPECT_EQ(in.ack_deadline(), std::nullopt);

    // force: before a graceful close, whatever is pending goes now.
    in.on_msg(3, clock.now);
    EXPECT_EQ(in.take_ack(clock.now, true), 3U);
    EXPECT_EQ(in.take_ack(clock.now, true), std::nullopt); // nothing pending

    // ack_delay 0: due at once.
    Inbox now(inbox_cfg(32, milliseconds(0)));
    now.on_msg(1, clock.now);
    EXPECT_EQ(now.take_ack(clock.now), 1U);
}

TEST(Inbox, DuplicateTriggersAnImmediateReAck) {
    FakeClock clock;
    Inbox in(inbox_cfg(32, milliseconds(50)));
    in.on_msg(1, clock.now);
    in.on_msg(2, clock.now);
    ASSERT_EQ(in.take_ack(clock.now, true), 2U);
    clock.advance(milliseconds(5));
    // The server re-sent 2: our ack was lost; ack again, now, not in 50 ms.
    EXPECT_EQ(in.on_msg(2, clock.now), Inbox::Verdict::duplicate);
    EXPECT_EQ(in.ack_deadline(), clock.now);
    EXPECT_EQ(in.take_ack(clock.now), 2U);
    // A duplicate while a batch is pending pulls the deadline in as well.
    in.on_msg(3, clock.now);
    EXPECT_EQ(in.ack_deadline(), clock.now + milliseconds(50));
    EXPECT_EQ(in.on_msg(1, clock.now), Inbox::Verdict::duplicate);
    EXPECT_EQ(in.take_ack(clock.now), 3U);
}

TEST(Inbox, ConnectionLostAndSessionReset) {
    FakeClock clock;
    Inbox in(inbox_cfg(32, milliseconds(50)));
    in.on_msg(1, clock.now);
    in.on_msg(2, clock.now);
    in.on_connection_lost();
    // Nothing to ack on the next connection: hello.resume.last_seq says it.
    EXPECT_EQ(in.ack_deadline(), std::nullopt);
    EXPECT_EQ(in.take_ack(clock.now, true), std::nullopt);
    EXPECT_EQ(in.last_delivered(), 2U);
    EXPECT_EQ(in.on_msg(3, clock.now), Inbox::Verdict::deliver);
    EXPECT_EQ(in.take_ack(clock.now, true), 3U);

    in.on_msg(4, clock.now);
    in.reset_session();
    EXPECT_EQ(in.last_delivered(), 0U);
    EXPECT_EQ(in.ack_deadline(), std::nullopt);
    EXPECT_EQ(in.on_msg(2, clock.now), Inbox::Verdict::gap);
    EXPECT_EQ(in.on_msg(1, clock.now), Inbox::Verdict::deliver);
    EXPECT_EQ(in.take_ack(clock.now, true), 1U);
}

} // namespace
