// The Session's persistence contract (core/journal.hpp) on the fake clock:
// what it records, when acks may go out, how it continues from a restore.
#include <gtest/gtest.h>

#include "session_harness.hpp"

namespace tether::core::testing {
namespace {

using std::chrono::milliseconds;

// Records every call; models the store's view as far as the tests need.
struct RecordingJournal final : Journal {
    std::vector<std::string> calls;
    std::uint64_t inbound = 0;
    std::uint64_t attempt = 0;
    std::string session, token;
    std::error_code enqueued(MessageId id, std::string_view key, std::string_view data) override {
        calls.push_back("enqueue " + std::to_string(id) + " " + std::string(key) + " " + std::string(data));
        return {};
    }
    std::error_code numbered_through(std::uint64_t seq) override {
        calls.push_back("numbered " + std::to_string(seq));
        return {};
    }
    std::error_code acked_through(std::uint64_t seq) override {
        calls.push_back("acked " + std::to_string(seq));
        return {};
    }
    std::error_code new_session(std::string_view s, std::string_view t) override {
        calls.push_back("new " + std::string(s));
        session = s, token = t, inbound = 0;
        return {};
    }
    std::error_code resumed(std::string_view s, std::string_view t) override {
        calls.push_back("resumed " + std::string(s) + " " + std::string(t));
        token = t;
        return {};
    }
    std::error_code resume_attempt(std::uint64_t a) override {
        calls.push_back("attempt " + std::to_string(a));
        attempt = a;
        return {};
    }
    std::error_code inbound_last(std::uint64_t seq) override {
        calls.push_back("inbound " + std::to_string(seq));
        inbound = seq;
        return {};
    }
    void outbox_cleared() override { calls.push_back("cleared"); }
    void session_ended() override { calls.push_back("ended"); }
    bool called(const std::string& c) const { return std::find(calls.begin(), calls.end(), c) != calls.end(); }
};

ServerMsg msg(std::uint64_t seq) {
    ServerMsg m;
    m.seq = seq;
    m.data = seq;
    return m;
}

TEST(SessionJournal, RecordsEnqueueNumberingAckAndNewSessionInOrder) {
    Harness h;
    RecordingJournal j;
    h.session.attach_journal(&j);
    h.start_ready(Harness::welcome("s1"));
    ASSERT_TRUE(h.session.send(h.now, "1", "a").ok());
    ASSERT_TRUE(h.session.send(h.now, "2", "b").ok());
    h.drain();
    h.server_frame(Ack{1});
    std::vector<std::string> want{"new s1", "enqueue 1 a 1", "numbered 1", "enqueue 2 b 2", "numbered 2", "acked 1"};
    EXPECT_EQ(j.calls, want);
}

TEST(SessionJournal, AcksWaitUntilTheApplicationProcessedTheMessage) {
    Harness h;
    RecordingJournal j;
    h.session.attach_journal(&j);
    h.start_ready();
    h.take<SendText>();
    for (std::uint64_t seq = 1; seq <= 40; ++seq) h.server_frame(msg(seq)); // past ack_every (32)
    h.advance(milliseconds(500));
    EXPECT_TRUE(h.sent<Ack>().empty()) << "nothing is acked before on_message returned";

    h.session.confirm_delivered(h.now, 33);
    h.drain();
    EXPECT_EQ(j.inbound, 33u);
    auto acks = h.sent<Ack>();
    ASSERT_EQ(acks.size(), 1u) << "ack_every was reached: due at once";
    EXPECT_EQ(acks[0].seq, 33u);

    h.session.confirm_delivered(h.now, 40);
    h.drain();
    EXPECT_TRUE(h.sent<Ack>().empty()) << "7 unacked: the ack waits for max_delay";
    h.advance(milliseconds(60));
    acks = h.sent<Ack>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].seq, 40u);
}

TEST(SessionJournal, ResumeTellsTheServerOnlyWhatWasProcessed) {
    Harness h;
    RecordingJournal j;
    h.session.attach_journal(&j);
    h.start_ready();
    for (std::uint64_t seq = 1; seq <= 5; ++seq) h.server_frame(msg(seq));
    h.session.confirm_delivered(h.now, 3);
    h.drain();
    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(milliseconds(200));
    const Hello hello = h.open(h.expect_open());
    ASSERT_TRUE(hello.resume);
    EXPECT_EQ(hello.resume->last_seq, 3u);
    EXPECT_TRUE(j.called("attempt 1")) << "the attempt is recorded before the hello goes out";
    // The server re-sends 4 and 5: already delivered in this process, dropped.
    h.server_frame(Harness::welcome("s1", true, 0));
    h.events.clear();
    h.server_frame(msg(4));
    EXPECT_TRUE(h.events_of<MessageReceived>().empty());
}

TEST(SessionJournal, ConfirmBeyondWhatWasDeliveredIsIgnored) {
    Harness h;
    RecordingJournal j;
    h.session.attach_journal(&j);
    h.start_ready();
    h.server_frame(msg(1));
    h.session.confirm_delivered(h.now, 9);
    h.session.confirm_delivered(h.now, 0);
    EXPECT_EQ(j.inbound, 0u);
}

RestoredState stored(std::uint64_t next_seq = 3) {
    RestoredState s;
    s.session = "s9";
    s.resume_token = "tok";
    s.resume_attempt = 4;
    s.inbound_last = 17;
    s.next_seq = next_seq;
    s.messages = {{2, "m-2", "2"}, {0, "m-3", "3"}, {0, "m-4", "4"}}; // seq 1 acked, 2 sent, 3-4 never numbered
    return s;
}

TEST(SessionJournal, RestoreResumesTheStoredSessionAndResendsExactlyTheUnacked) {
    Harness h;
    RecordingJournal j;
    ASSERT_FALSE(h.session.restore(stored()));
    h.session.attach_journal(&j);
    EXPECT_EQ(h.session.outbox_size(), 3u);
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    const Hello hello = h.open(h.expect_open());
    ASSERT_TRUE(hello.resume);
    EXPECT_EQ(hello.resume->session, "s9");
    EXPECT_EQ(hello.resume->resume_token, "tok");
    EXPECT_EQ(hello.resume->last_seq, 17u);
    EXPECT_EQ(hello.resume->attempt, 5u);
    h.server_frame(Harness::welcome("s9", true, 1));
    auto sent = h.sent<ClientMsg>();
    ASSERT_EQ(sent.size(), 3u);
    EXPECT_EQ(sent[0].seq, 2u);
    EXPECT_EQ(sent[0].id, "m-2");
    EXPECT_EQ(sent[1].seq, 3u);
    EXPECT_EQ(sent[1].id, "m-3");
    EXPECT_EQ(sent[2].seq, 4u);
    EXPECT_EQ(h.session.stats().frames_resent, 1u) << "only m-2 had been on the wire";
    EXPECT_TRUE(j.called("resumed s9 rt-1"));
    // Local ids 1..3 name the restored messages.
    h.server_frame(Ack{4});
    auto acked = h.events_of<MessageAcked>();
    ASSERT_EQ(acked.size(), 3u);
    EXPECT_EQ(acked[0].id, 1u);
    EXPECT_EQ(acked[2].id, 3u);
    // A new send continues after them.
    auto r = h.session.send(h.now, "5");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value(), 4u);
}

TEST(SessionJournal, AWelcomeAheadOfTheStoreStartsANewSessionAndResendsUnderTheSameIds) {
    Harness h;
    RecordingJournal j;
    ASSERT_FALSE(h.session.restore(stored()));
    h.session.attach_journal(&j);
    ASSERT_FALSE(h.session.start(h.now));
    h.drain();
    h.open(h.expect_open());
    h.server_frame(Harness::welcome("s9", true, 9)); // the server saw seqs we never stored
    EXPECT_EQ(h.session.state(), State::backoff);
    EXPECT_TRUE(j.called("ended"));
    EXPECT_EQ(h.last_error(), errc::session_lost);
    h.advance(milliseconds(0));
    const Hello hello = h.open(h.expect_open());
    EXPECT_FALSE(hello.resume) << "a fresh session, not the stale one";
    h.server_frame(Harness::welcome("s10"));
    auto sent = h.sent<ClientMsg>();
    ASSERT_EQ(sent.size(), 3u);
    EXPECT_EQ(sent[0].seq, 1u);
    EXPECT_EQ(sent[0].id, "m-2");
    auto lost = h.events_of<SessionLost>();
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_EQ(lost[0].previous_session, "s9");
    EXPECT_EQ(lost[0].new_session, "s10");
    EXPECT_EQ(h.session.backoff().failures(), 0u) << "not a failed attempt";
}

TEST(SessionJournal, RestoreIsOnlyForAFreshIdleSession) {
    Harness h;
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    EXPECT_EQ(h.session.restore(stored()), errc::invalid_state);
    Harness h2;
    RestoredState bad = stored();
    bad.resume_token.clear();
    EXPECT_EQ(h2.session.restore(bad), errc::invalid_argument);
}

TEST(SessionJournal, RestoredBytesCountAgainstTheOutboxBounds) {
    SessionConfig c = test_config();
    c.outbox.max_messages = 3;
    Harness h(c);
    ASSERT_FALSE(h.session.restore(stored()));
    auto r = h.session.send(h.now, "5");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), errc::outbox_full);
}

TEST(SessionJournal, CloseEndsTheSessionAndAbortClearsTheOutbox) {
    Harness h;
    RecordingJournal j;
    h.session.attach_journal(&j);
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    h.drain();
    ASSERT_FALSE(h.session.close(h.now, milliseconds(0)));
    h.advance(milliseconds(1));
    EXPECT_TRUE(j.called("ended"));
    EXPECT_TRUE(j.called("cleared"));

    Harness h2;
    RecordingJournal j2;
    h2.session.attach_journal(&j2);
    ASSERT_TRUE(h2.session.send(h2.now, "1").ok());
    ASSERT_FALSE(h2.session.abort(h2.now));
    EXPECT_TRUE(j2.called("cleared"));
    EXPECT_FALSE(j2.called("ended")) << "abort keeps the session resumable";
}

TEST(SessionJournal, WithoutAJournalAcksAreNotGated) {
    Harness h;
    h.start_ready();
    h.take<SendText>();
    for (std::uint64_t seq = 1; seq <= 32; ++seq) h.server_frame(msg(seq));
    auto acks = h.sent<Ack>();
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].seq, 32u);
}

} // namespace
} // namespace tether::core::testing
