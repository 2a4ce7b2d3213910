// tether_client_options -> tether::ClientOptions: each C field reaches its C++
// option, zero takes the SDK default, and a bad value names its field.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "convert.hpp"

namespace tether::c_abi {
namespace {

using std::chrono::milliseconds;

tether_client_options base() {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    o.url = "ws://127.0.0.1:9/ws";
    return o;
}

ClientOptions convert(const tether_client_options& o) {
    return to_client_options(o, std::make_shared<EventRouter>());
}

std::string refusal(const tether_client_options& o) {
    try {
        convert(o);
    } catch (const OptionError& e) {
        EXPECT_EQ(e.code, TETHER_E_INVALID_ARGUMENT) << e.message;
        return e.message;
    }
    return "accepted";
}

TEST(CAbiConvert, ZeroTakesTheDefaultOfEveryDuration) {
    const ClientOptions c = convert(base());
    const ClientOptions d;
    EXPECT_EQ(c.heartbeat.interval, d.heartbeat.interval);
    EXPECT_EQ(c.heartbeat.timeout, d.heartbeat.timeout);
    EXPECT_EQ(c.heartbeat.probe_timeout, d.heartbeat.probe_timeout);
    EXPECT_EQ(c.persistence.commit_interval, d.persistence.commit_interval);
    EXPECT_EQ(c.timeouts.close_drain, d.timeouts.close_drain);
}

TEST(CAbiConvert, CommitIntervalAndProbeTimeoutReachTheClient) {
    tether_client_options o = base();
    o.persistence_commit_interval_ms = 40;
    o.heartbeat_probe_timeout_ms = 750;
    ClientOptions c = convert(o);
    EXPECT_EQ(c.persistence.commit_interval, milliseconds(40));
    EXPECT_EQ(c.heartbeat.probe_timeout, milliseconds(750));

    o.persistence_commit_interval_ms = TETHER_COMMIT_EVERY_TURN;
    c = convert(o);
    EXPECT_EQ(c.persistence.commit_interval, milliseconds(0));
}

TEST(CAbiConvert, ANegativeCommitIntervalOrProbeTimeoutNamesItsField) {
    tether_client_options o = base();
    o.persistence_commit_interval_ms = -2;
    EXPECT_NE(refusal(o).find("persistence_commit_interval_ms"), std::string::npos) << refusal(o);
    o.persistence_commit_interval_ms = 0;
    o.heartbeat_probe_timeout_ms = -1;
    EXPECT_NE(refusal(o).find("heartbeat_probe_timeout_ms"), std::string::npos) << refusal(o);
}

} // namespace
} // namespace tether::c_abi
