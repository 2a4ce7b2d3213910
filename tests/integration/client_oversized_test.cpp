// An inbound message over the client's limit: the client closes with 1009,
// reports message_too_big, and reconnects with backoff (resuming the
// session). The server replays the message on every resume, so after three
// such closes in a row the client fails with message_too_big and a detail
// that says what to change. Nothing over the limit is ever delivered.
#include <gtest/gtest.h>

#include "client_test_support.hpp"

namespace tether::itest {
namespace {

TEST(ClientOversized, InboundMessageOverTheLimitIsRetriedThenFailsClearly) {
    ServerProcess server({"--echo"});
    Recorder rec;
    ClientOptions o = test_options(server.url(), rec);
    o.max_inbound_message_bytes = 64 * 1024;
    o.outbox.max_message_bytes = 1024 * 1024; // the 100 KiB send itself is fine
    Client client(o);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.state == State::ready; }))
        << rec.summary();
    const std::string session = client.session_id();

    const SendResult small = client.send(nlohmann::json{{"n", 0}});
    ASSERT_TRUE(small);
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) { return r.messages.size() == 1; }));

    const SendResult big = client.send(nlohmann::json{{"blob", std::string(100 * 1024, 'x')}});
    ASSERT_TRUE(big) << big.detail;
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [](const Recorder& r) {
        return r.count_errors(errc::message_too_big) >= 1;
    })) << rec.summary() << rec.log_tail();

    // The server did receive the big message: it is acked (by the resumed
    // welcome's last_seq), and the client came back to ready on the same session.
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [&big](const Recorder& r) {
        return r.acked_set.count(big.id) == 1 && r.ready_count >= 2;
    })) << rec.summary() << rec.log_tail();
    EXPECT_EQ(client.session_id(), session);

    // The server keeps the oversized echo until the client acks it, and the
    // client can never deliver (so never ack) it: every resume replays it and
    // gets 1009 again. After kOversizedRepeatsBeforeFail such closes in a row
    // with no progress the client fails with a clear error instead of looping.
    EXPECT_EQ(client.wait_until_terminal(scaled(milliseconds(15000))), State::failed) << rec.summary();

    rec.with_lock([](const Recorder& r) {
        // 3 closes in a row, plus 1 when the server's ack of the big message
        // came only with the resumed welcome (that ack was progress).
        const std::size_t closes = r.count_errors(errc::message_too_big);
        EXPECT_TRUE(closes == 3u || closes == 4u) << closes;
        ASSERT_FALSE(r.states.empty());
        const auto& last = r.states.back().change;
        EXPECT_EQ(last.to, State::failed);
        EXPECT_EQ(last.reason, make_error_code(errc::message_too_big));
        EXPECT_NE(last.detail.find("raise max_inbound_message_bytes"), std::string::npos) << last.detail;
        EXPECT_TRUE(r.failed.empty()) << "both messages were acked before the failure";
        EXPECT_TRUE(r.lost.empty());
        // Nothing over the limit was delivered.
        for (const auto& m : r.messages) EXPECT_LT(m.data.dump().size(), 64u * 1024);
        // 1009 is a protocol error: backoff, not a going-away.
        for (const auto& s : r.states)
            if (s.change.to == State::backoff && s.change.reason == errc::message_too_big) return;
        ADD_FAILURE() << "no backoff with reason message_too_big";
    });
    EXPECT_EQ(client.stats().protocol_errors, rec.with_lock([](const Recorder& r) {
        return static_cast<std::uint64_t>(r.count_errors(errc::message_too_big));
    }));
}

} // namespace
} // namespace tether::itest
