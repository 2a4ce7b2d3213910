// Inbox: the receiving side of one session direction (server -> client).
//
// Rules: seq <= last is a duplicate (not delivered, acked again at once);
// seq == last + 1 is delivered; seq > last + 1 is a gap, a protocol error.
// Acks are cumulative and batched: one goes out after `ack_every` deliveries
// or `ack_delay` after the first unacked one, whichever comes first, and
// before a graceful close.
//
// Thread safety: none; owned by one Session.
#pragma once

#include <cstdint>
#include <optional>

#include "core/time.hpp"

namespace tether::core {

struct InboxConfig {
    std::uint32_t ack_every = 32;
    Duration ack_delay{50};
};

class Inbox {
public:
    enum class Verdict { deliver, duplicate, gap };

    explicit Inbox(InboxConfig config) : config_(config) {}

    Verdict on_msg(std::uint64_t seq, TimePoint now);

    // The seq to ack now, if one is due at `now` (or `force`d), and marks it sent.
    std::optional<std::uint64_t> take_ack(TimePoint now, bool force = false);
    std::optional<TimePoint> ack_deadline() const { return ack_due_; }

    std::uint64_t last_delivered() const { return last_; }

    // Gated (a journal is attached): acks and hello.resume.last_seq never
    // exceed the seq the application confirmed it processed (confirm()),
    // so the server frees nothing a crash could still lose.
    void set_gated(bool gated) { gated_ = gated; }
    void confirm(std::uint64_t seq, TimePoint now);
    // The highest seq the server may be told we hold.
    std::uint64_t ackable() const { return gated_ && confirmed_ < last_ ? confirmed_ : last_; }
    // After a restart: everything up to `last` was processed and acked.
    void restore(std::uint64_t last) { last_ = acked_ = confirmed_ = last; }

    // A new session: numbering restarts at 1.
    void reset_session();
    // The connection ended: nothing pending can be acked on it any more (the
    // server re-sends what we have not acked, and we ack it then).
    void on_connection_lost();

private:
    InboxConfig config_;
    std::uint64_t last_ = 0;
    std::uint64_t acked_ = 0;          // highest seq acked on this connection
    std::uint32_t unacked_count_ = 0;
    bool reack_ = false;
    bool gated_ = false;
    std::uint64_t confirmed_ = 0;      // gated: processed by the application               // a duplicate arrived: the server missed our ack
    std::optional<TimePoint> ack_due_;
};

} // namespace tether::core
