// Outbox: every application message from send() until the server acks it.
//
// Model: entries stay in send order. Each gets a seq when it first goes on the
// wire in a session (seqs are contiguous from 1 per session); a cumulative ack
// trims the front. A cursor marks how far the current connection has sent;
// at most `max_in_flight` entries are on the wire unacked at once. On a
// resume the cursor goes back to the front, so exactly the unacked range is
// re-sent with its original seqs. On a lost session, entries are renumbered
// from 1 (same ids) or handed back to be failed.
//
// Each entry is 32 bytes plus one heap block holding its id and payload;
// a generated id (the Session's prefix + local id) is not stored at all, so
// a queued 64 B message costs about 48 B beyond its payload.
//
// Thread safety: none; owned by one Session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace tether::core {

using MessageId = std::uint64_t; // local handle returned by send(); never 0

struct OutboxConfig {
    std::size_t max_messages = 100000;
    std::size_t max_bytes = 64 * 1024 * 1024; // sum of payload + id bytes
    std::size_t max_message_bytes = 1024 * 1024;
    std::size_t max_in_flight = 1024;
};

class Outbox {
public:
    class Entry {
    public:
        MessageId local_id = 0;
        std::uint64_t seq = 0;      // 0: not yet numbered in this session

        // The stored id: empty when the id was generated (see push()).
        std::string_view id() const { return generated_ ? std::string_view() : std::string_view(bytes_.get(), id_len_); }
        bool id_generated() const { return generated_; }
        std::string_view data() const {
            const std::size_t stored_id = generated_ ? 0 : id_len_;
            return std::string_view(bytes_.get() + stored_id, size_ - id_len_);
        }
        // Bytes counted against max_bytes: id (stored or not) + payload.
        std::size_t size() const { return size_; }

    private:
        friend class Outbox;
        std::unique_ptr<char[]> bytes_; // id (unless generated), then the payload
        std::uint32_t size_ = 0;
        std::uint16_t id_len_ = 0;
        bool generated_ = false;

    public:
        bool transmitted = false;   // went on the wire at least once (any session)
    };

    explicit Outbox(OutboxConfig config) : config_(config) {}

    // Checks the bounds (message_too_large, outbox_full) and queues.
    // `id_generated`: `id` is derived from `local_id` by the caller, which
    // can form it again, so only its length is kept (it still counts
    // against max_bytes).
    Result<MessageId> push(MessageId local_id, std::string_view id, std::string_view data_json,
                           bool id_generated = false);
    // A message recovered from a journal after a restart, in send order:
    // `seq` 0 for one never numbered. Bounds are not checked; its bytes
    // count against them, so push() refuses while they are exceeded.
    void restore(MessageId local_id, std::string_view id, std::string_view data_json, std::uint64_t seq);
    // The stored session numbered up to next_seq - 1 (some of those acked).
    void restore_next_seq(std::uint64_t next_seq);
    // The bound push() would refuse a message with these sizes for, if any.
    // Cheap: send() asks before validating the payload, so a caller spinning
    // on a full outbox does not pay for a validation each time.
    std::optional<Failure> check_bounds(std::size_t id_bytes, std::size_t data_bytes) const;

    // The next entry the current connection may transmit, numbered; nullptr
    // when everything is sent or the in-flight window is full.
    Entry* next_to_send();

    // Cumulative ack: removes entries with seq <= `seq`, appending their ids
    // to `acked`. An ack above the highest seq sent is ack_out_of_range.
    std::error_code ack(std::uint64_t seq, std::vector<MessageId>& acked);

    // Resumed with the server holding everything <= server_last_seq: trims
    // those as acked and rewinds to re-send the rest with the same seqs.
    std::error_code on_resumed(std::uint64_t server_last_seq, std::vector<MessageId>& acked);

    // A new session: renumber everything from 1 on the next sends.
    void renumber_for_new_session();
    // The connection is gone: nothing is in flight; unacked entries are sent
    // again on the next connection.
    void on_connection_lost() { cursor_ = 0; }

    // Removes and returns every entry (closing or failing them).
    std::deque<Entry> take_all();

    std::size_t size() const { return entries_.size(); }
    std::size_t bytes() const { return bytes_; }
    std::size_t in_flight() const { return cursor_; }
    std::size_t high_water() const { return high_water_; }
    std::uint64_t last_seq_sent() const { return next_seq_ - 1; }
    bool empty() const { return entries_.empty(); }
    const OutboxConfig& config() const { return config_; }

private:
    void append(MessageId local_id, std::string_view id, std::string_view data_json, bool id_generated);
    void trim_through(std::uint64_t seq, std::vector<MessageId>& acked);

    OutboxConfig config_;
    std::deque<Entry> entries_;
    std::size_t cursor_ = 0;       // entries_[0, cursor_) are on the wire unacked
    std::uint64_t next_seq_ = 1;
    std::size_t bytes_ = 0;
    std::size_t high_water_ = 0;
};

} // namespace tether::core
