// Heartbeat: when to ping, and when a silent connection is declared dead.
//
// Model: while ready, a ping goes out every `interval`; any inbound frame
// (message, ack, pong, anything) proves liveness. If nothing arrives for
// `timeout`, the connection is dead. For the deadline to be meaningful the
// timeout must exceed the interval (else an idle healthy link always trips
// it), and both are bounded (so the deadline always fires eventually);
// validate() enforces that, and a server's heartbeat_ms is clamped into range.
//
// Thread safety: none; owned by one Session.
#pragma once

#include <optional>
#include <string>

#include "core/time.hpp"

namespace tether::core {

struct HeartbeatConfig {
    Duration interval{15000};
    Duration timeout{0}; // 0: 2 x interval
    Duration probe_timeout{3000}; // a suspect connection must answer a ping within this
};

class Heartbeat {
public:
    static constexpr Duration kMinInterval{10};
    static constexpr Duration kMaxInterval{std::chrono::hours(1)};
    static constexpr Duration kMinServerInterval{250}; // a server may not make us ping faster

    // Empty string when valid; otherwise what is wrong.
    static std::string validate(const HeartbeatConfig& config);

    explicit Heartbeat(HeartbeatConfig config) : config_(config) {}

    // The connection became ready at `now`. A server-suggested interval
    // replaces the configured one (clamped); the timeout follows it.
    void start(TimePoint now, std::optional<Duration> server_interval);
    void stop() { active_ = false; }
    void on_inbound(TimePoint now) { last_inbound_ = now; }
    void on_ping_sent(TimePoint now) { next_ping_ = now + interval_; }

    bool active() const { return active_; }
    TimePoint next_ping() const { return next_ping_; }
    TimePoint liveness_deadline() const { return last_inbound_ + timeout_; }
    Duration interval() const { return interval_; }
    Duration timeout() const { return timeout_; }

private:
    HeartbeatConfig config_;
    bool active_ = false;
    Duration interval_{0};
    Duration timeout_{0};
    TimePoint next_ping_{};
    TimePoint last_inbound_{};
};

} // namespace tether::core
