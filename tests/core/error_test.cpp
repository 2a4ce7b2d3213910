#include <gtest/gtest.h>

#include "tether/error.hpp"

TEST(Error, CodesHaveNamesMessagesAndKinds) {
    const std::error_code local = tether::errc::outbox_full;
    EXPECT_EQ(local.category().name(), std::string("tether"));
    EXPECT_EQ(local.message(), "outbox is full (count or byte limit)");
    EXPECT_TRUE(local == tether::error_kind::local);
    EXPECT_FALSE(local == tether::error_kind::remote);

    const std::error_code remote = tether::errc::heartbeat_timeout;
    EXPECT_TRUE(remote == tether::error_kind::remote);
    EXPECT_STREQ(tether::errc_name(tether::errc::heartbeat_timeout), "heartbeat_timeout");
}

TEST(Error, UnknownValueStillHasAMessage) {
    const std::error_code unknown(9999, tether::error_category());
    EXPECT_EQ(unknown.message(), "unknown tether error 9999");
    EXPECT_STREQ(tether::errc_name(static_cast<tether::errc>(9999)), "unknown");
}
