#include "core/heartbeat.hpp"

#include <algorithm>

namespace tether::core {

std::string Heartbeat::validate(const HeartbeatConfig& config) {
    if (config.interval < kMinInterval || config.interval > kMaxInterval)
        return "heartbeat interval must be within [10 ms, 1 h]";
    if (config.timeout != Duration::zero()) {
        if (config.timeout <= config.interval)
            return "heartbeat timeout must exceed the interval (else an idle healthy connection is declared dead)";
        if (config.timeout > 2 * kMaxInterval) return "heartbeat timeout must be at most 2 h";
    }
    if (config.probe_timeout < kMinInterval || config.probe_timeout > kMaxInterval)
        return "heartbeat probe_timeout must be within [10 ms, 1 h]";
    return {};
}

void Heartbeat::start(TimePoint now, std::optional<Duration> server_interval) {
    interval_ = config_.interval;
    if (server_interval) interval_ = std::clamp(*server_interval, kMinServerInterval, kMaxInterval);
    if (config_.timeout == Duration::zero()) {
        timeout_ = 2 * interval_;
    } else if (server_interval) {
        // Keep the configured timeout unless the server's interval would make
        // it fire on a healthy idle link.
        timeout_ = std::max(config_.timeout, interval_ + interval_ / 2);
    } else {
        timeout_ = config_.timeout;
    }
    active_ = true;
    last_inbound_ = now;
    next_ping_ = now + interval_;
}

} // namespace tether::core
