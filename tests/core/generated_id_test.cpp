// Generated message ids: the shape that keeps a 64 B message's frame under
// the 2-byte WebSocket header's 125 B, and the uniqueness the protocol needs
// (one id per application message; the same id on every re-send).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "session_harness.hpp"

namespace tether::core::testing {
namespace {

bool is_base64url(const std::string& s) {
    for (const char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    return true;
}

TEST(GeneratedIds, AreShortDistinctAndNeedNoEscaping) {
    auto c = test_config();
    c.outbox.max_in_flight = 5000;
    Harness h(c);
    h.start_ready();
    for (int i = 0; i < 5000; ++i) ASSERT_TRUE(h.session.send(h.now, "0").ok());
    h.drain();
    const auto msgs = h.sent<ClientMsg>();
    ASSERT_EQ(msgs.size(), 5000u);
    std::set<std::string> ids;
    const std::string prefix = msgs[0].id.substr(0, 11);
    for (const ClientMsg& m : msgs) {
        EXPECT_TRUE(is_base64url(m.id)) << m.id;
        EXPECT_EQ(m.id.substr(0, 11), prefix);
        // 11 digits of prefix + the local id (< 64^3 here) in at most 3 digits.
        EXPECT_GE(m.id.size(), 12u);
        EXPECT_LE(m.id.size(), 14u);
        ids.insert(m.id);
    }
    EXPECT_EQ(ids.size(), msgs.size());
}

TEST(GeneratedIds, AreTheSameOnAResend) {
    Harness h;
    h.start_ready();
    ASSERT_TRUE(h.session.send(h.now, "1").ok());
    h.drain();
    const auto first = h.sent<ClientMsg>();
    ASSERT_EQ(first.size(), 1u);
    h.close_transport(Harness::transport_error(errc::transport_closed));
    h.advance(Duration(200));
    h.reconnect_ready(Harness::welcome("s1", true, 0));
    const auto again = h.sent<ClientMsg>();
    ASSERT_FALSE(again.empty());
    EXPECT_EQ(again.back().id, first[0].id);
}

} // namespace
} // namespace tether::core::testing
