// Lifecycle inputs on the fake clock: MessageSent, network_changed(), and
// suspends (a timer firing far later than due, or the driver's report).
#include "session_harness.hpp"

namespace tether::core::testing {
namespace {

using std::chrono::milliseconds;

// Lets the pending backoff delay pass: the next attempt's OpenTransport is out.
void wait_out_backoff(Harness& h) {
    ASSERT_EQ(h.session.state(), State::backoff);
    h.advance(h.last_change().retry_in);
}

SessionConfig slow_heartbeat() {
    SessionConfig c = test_config();
    c.heartbeat.interval = Duration(10000); // threshold max(2 s, 5 s) = 5 s; heartbeat timeout 20 s
    return c;
}

SessionConfig reporting_config() {
    SessionConfig c = test_config();
    c.report_sent = true;
    return c;
}

// Indices of the MessageSent / MessageAcked events for `id`, in event order.
std::vector<std::string> sent_and_acked(const Harness& h, MessageId id) {
    std::vector<std::string> out;
    for (auto& e : h.events) {
        if (auto* s = std::get_if<MessageSent>(&e); s && s->id == id) out.push_back("sent");
        if (auto* a = std::get_if<MessageAcked>(&e); a && a->id == id) out.push_back("acked");
    }
    return out;
}

TEST(MessageSentEvent, FollowsTheFrameAndPrecedesTheAck) {
    Harness h(reporting_config());
    h.start_ready();
    auto id = h.session.send(h.now, R"({"a":1})");
    ASSERT_TRUE(id.ok());
    h.drain();
    // The SendText was queued before the event: the frame is out.
    ASSERT_EQ(h.sent<ClientMsg>().size(), 1u);
    h.server_frame(Ack{1});
    EXPECT_EQ(sent_and_acked(h, id.value()), (std::vector<std::string>{"sent", "acked"}));
}

TEST(MessageSentEvent, QueuedOfflineIsSentOnReadyNotBefore) {
    Harness h(reporting_config());
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    auto id = h.session.send(h.now, "1");
    ASSERT_TRUE(id.ok());
    h.drain();
    EXPECT_TRUE(h.events_of<MessageSent>().empty()) << "not on the wire while connecting";
    h.reconnect_ready(Harness::welcome());
    EXPECT_EQ(h.events_of<MessageSent>().size(), 1u);
}

TEST(MessageSentEvent, FiresAgainOnEveryResend) {
    Harness h(reporting_config());
    h.start_ready();
    auto id = h.session.send(h.now, "1");
    ASSERT_TRUE(id.ok());
    h.drain();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    ASSERT_EQ(h.session.state(), State::backoff);
    wait_out_backoff(h);
    h.reconnect_ready(Harness::welcome("s1", true, 0));
    EXPECT_EQ(sent_and_acked(h, id.value()), (std::vector<std::string>{"sent", "sent"}));
    h.server_frame(Ack{1});
    EXPECT_EQ(sent_and_acked(h, id.value()), (std::vector<std::string>{"sent", "sent", "acked"}));
}

TEST(MessageSentEvent, NothingWhenNotRequested) {
    Harness h; // report_sent = false
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    h.drain();
    EXPECT_EQ(h.sent<ClientMsg>().size(), 1u);
    EXPECT_TRUE(h.events_of<MessageSent>().empty());
}

// ---- network_changed --------------------------------------------------------

TEST(NetworkChanged, ReadyProbesAndAPongKeepsTheSession) {
    Harness h(slow_heartbeat());
    const ConnectionId conn = h.start_ready();
    h.take<SendPing>();
    ASSERT_FALSE(h.session.network_changed(h.now));
    h.drain();
    ASSERT_EQ(h.take<SendPing>().size(), 1u) << "a probe ping at once";
    h.advance(milliseconds(100));
    h.session.on_pong(h.now, conn);
    h.drain();
    h.advance(milliseconds(5000)); // past the probe deadline
    EXPECT_EQ(h.session.state(), State::ready);
    EXPECT_EQ(h.session.connection(), conn);
}

TEST(NetworkChanged, ReadyWithoutAReplyReconnectsAfterTheProbeTimeout) {
    SessionConfig c = test_config();
    c.heartbeat.interval = Duration(10000); // heartbeat timeout 20 s, probe 3 s
    Harness h(c);
    h.start_ready();
    ASSERT_FALSE(h.session.network_changed(h.now));
    h.drain();
    const TimePoint probed = h.now;
    h.advance(milliseconds(2999));
    EXPECT_EQ(h.session.state(), State::ready);
    h.advance(milliseconds(1));
    auto dropped = h.entered(State::backoff, errc::heartbeat_timeout);
    ASSERT_TRUE(dropped.has_value());
    EXPECT_EQ(h.now - probed, milliseconds(3000)) << "the probe deadline, not the 20 s heartbeat timeout";
    EXPECT_EQ(dropped->attempt, 0u) << "not counted as a failed attempt";
}

TEST(NetworkChanged, AuthenticatingProbes) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.open(h.expect_open());
    ASSERT_EQ(h.session.state(), State::authenticating);
    ASSERT_FALSE(h.session.network_changed(h.now));
    h.drain();
    EXPECT_EQ(h.take<SendPing>().size(), 1u);
}

TEST(NetworkChanged, BackoffConnectsNowWithoutCountingAFailure) {
    Harness h;
    h.start_ready();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    ASSERT_EQ(h.session.state(), State::backoff);
    // A second failure makes the count non-zero and the wait long.
    wait_out_backoff(h);
    h.expect_open();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    ASSERT_EQ(h.session.state(), State::backoff);
    const std::uint32_t failures = h.session.backoff().failures();
    ASSERT_GT(failures, 0u);
    h.events.clear();
    ASSERT_FALSE(h.session.network_changed(h.now));
    h.drain();
    EXPECT_EQ(h.session.state(), State::connecting);
    EXPECT_EQ(h.take<OpenTransport>().size(), 1u);
    EXPECT_EQ(h.session.backoff().failures(), failures);
    EXPECT_EQ(h.last_change().attempt, failures);
}

TEST(NetworkChanged, ConnectingRestartsTheAttempt) {
    Harness h;
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    const ConnectionId first = h.expect_open();
    ASSERT_FALSE(h.session.network_changed(h.now));
    h.drain();
    auto aborts = h.take<AbortTransport>();
    ASSERT_EQ(aborts.size(), 1u);
    EXPECT_EQ(aborts[0].id, first);
    const ConnectionId second = h.expect_open();
    EXPECT_NE(second, first);
    EXPECT_EQ(h.session.state(), State::connecting);
    EXPECT_EQ(h.session.backoff().failures(), 0u);
    h.open(second);
    h.server_frame(Harness::welcome());
    EXPECT_EQ(h.session.state(), State::ready);
}

TEST(NetworkChanged, IdleAndTerminalAreRefused) {
    Harness h;
    EXPECT_EQ(h.session.network_changed(h.now), errc::invalid_state);
    h.start_ready();
    ASSERT_FALSE(h.session.abort(h.now));
    EXPECT_EQ(h.session.network_changed(h.now), errc::closed);
}

// ---- suspend: late timers and the driver's report ---------------------------

TEST(Suspend, LateTimerInReadyProbesAndDropsWithoutAPong) {
    Harness h(slow_heartbeat());
    h.start_ready();
    const auto due = h.session.poll_timeout();
    ASSERT_TRUE(due.has_value());
    // The process slept through the ping and the heartbeat timeout.
    h.now = *due + milliseconds(30000);
    h.session.on_timeout(h.now);
    h.drain();
    EXPECT_EQ(h.session.state(), State::ready) << "the sleep alone does not condemn the connection";
    EXPECT_EQ(h.session.stats().suspends_detected, 1u);
    EXPECT_EQ(h.take<SendPing>().size(), 1u) << "one probe ping";
    EXPECT_EQ(h.session.poll_timeout(), h.now + milliseconds(3000));
    h.advance(milliseconds(3000));
    auto dropped = h.entered(State::backoff, errc::heartbeat_timeout);
    ASSERT_TRUE(dropped.has_value());
    EXPECT_EQ(dropped->attempt, 0u);
    EXPECT_EQ(h.session.stats().suspends_detected, 1u);
}

TEST(Suspend, LateTimerInReadyAndAPongKeepsTheSession) {
    Harness h(slow_heartbeat());
    const ConnectionId conn = h.start_ready();
    h.now = *h.session.poll_timeout() + milliseconds(30000);
    h.session.on_timeout(h.now);
    h.drain();
    ASSERT_EQ(h.take<SendPing>().size(), 1u);
    h.session.on_pong(h.now + milliseconds(50), conn);
    h.advance(milliseconds(4000));
    EXPECT_EQ(h.session.state(), State::ready);
    EXPECT_EQ(h.session.connection(), conn);
    EXPECT_EQ(h.session.stats().reconnects, 0u);
}

TEST(Suspend, SlightlyLateTimerIsNotASuspend) {
    Harness h(slow_heartbeat());
    h.start_ready();
    h.now = *h.session.poll_timeout() + milliseconds(4900);
    h.session.on_timeout(h.now);
    h.drain();
    EXPECT_EQ(h.session.stats().suspends_detected, 0u);
}

TEST(Suspend, LateBackoffTimerConnectsAtOnceWithTheSameCount) {
    Harness h;
    h.start_ready();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    ASSERT_EQ(h.session.state(), State::backoff);
    const std::uint32_t failures = h.session.backoff().failures();
    h.now = *h.session.poll_timeout() + milliseconds(60000);
    h.session.on_timeout(h.now);
    h.drain();
    EXPECT_EQ(h.session.state(), State::connecting);
    EXPECT_EQ(h.take<OpenTransport>().size(), 1u);
    EXPECT_EQ(h.session.backoff().failures(), failures);
    EXPECT_EQ(h.session.stats().suspends_detected, 1u);
}

TEST(Suspend, DriverReportInBackoffConnectsNow) {
    Harness h;
    h.start_ready();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    wait_out_backoff(h);
    h.expect_open();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    ASSERT_EQ(h.session.state(), State::backoff);
    const std::uint32_t failures = h.session.backoff().failures();
    ASSERT_FALSE(h.session.on_suspend_detected(h.now, milliseconds(60000)));
    h.drain();
    EXPECT_EQ(h.session.state(), State::connecting);
    EXPECT_EQ(h.session.backoff().failures(), failures);
    EXPECT_EQ(h.session.stats().suspends_detected, 1u);
}

TEST(Suspend, DriverReportThenLateTimerCountsOnce) {
    Harness h(slow_heartbeat());
    h.start_ready();
    h.now = *h.session.poll_timeout() + milliseconds(30000);
    ASSERT_FALSE(h.session.on_suspend_detected(h.now, milliseconds(30000)));
    h.session.on_timeout(h.now);
    h.drain();
    EXPECT_EQ(h.session.stats().suspends_detected, 1u);
    EXPECT_EQ(h.take<SendPing>().size(), 1u);
    EXPECT_EQ(h.session.state(), State::ready);
}

TEST(Suspend, ProbeTimeoutIsValidated) {
    SessionConfig c = test_config();
    c.heartbeat.probe_timeout = Duration(0);
    EXPECT_NE(validate(c), "");
    c.heartbeat.probe_timeout = Duration(3000);
    EXPECT_EQ(validate(c), "");
    c.late_timer_threshold = Duration(0);
    EXPECT_NE(validate(c), "");
}

} // namespace
} // namespace tether::core::testing
