#include "core/inbox.hpp"

namespace tether::core {

Inbox::Verdict Inbox::on_msg(std::uint64_t seq, TimePoint now) {
    if (seq > last_ + 1) return Verdict::gap;
    if (seq <= last_) {
        reack_ = true;
        ack_due_ = now;
        return Verdict::duplicate;
    }
    last_ = seq;
    ++unacked_count_;
    if (unacked_count_ >= config_.ack_every) {
        ack_due_ = now;
    } else if (!ack_due_) {
        ack_due_ = now + config_.ack_delay;
    }
    return Verdict::deliver;
}

std::optional<std::uint64_t> Inbox::take_ack(TimePoint now, bool force) {
    const std::uint64_t ackable_now = ackable();
    const bool pending = ackable_now > acked_ || reack_;
    if (!pending) {
        ack_due_.reset(); // gated: confirm() arms it again
        return std::nullopt;
    }
    if (!force && (!ack_due_ || *ack_due_ > now)) return std::nullopt;
    acked_ = ackable_now;
    unacked_count_ = 0;
    reack_ = false;
    ack_due_.reset();
    return ackable_now;
}

void Inbox::confirm(std::uint64_t seq, TimePoint now) {
    if (seq <= confirmed_ || seq > last_) return;
    confirmed_ = seq;
    if (confirmed_ <= acked_) return;
    if (unacked_count_ >= config_.ack_every) {
        ack_due_ = now;
    } else if (!ack_due_) {
        ack_due_ = now + config_.ack_delay;
    }
}

void Inbox::reset_session() {
    last_ = 0;
    confirmed_ = 0;
    on_connection_lost();
}

void Inbox::on_connection_lost() {
    acked_ = ackable(); // the next hello's resume.last_seq tells the server as much
    unacked_count_ = 0;
    reack_ = false;
    ack_due_.reset();
}

} // namespace tether::core
