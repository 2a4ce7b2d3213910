#include "core/outbox.hpp"

#include <limits>

namespace tether::core {

Result<MessageId> Outbox::push(MessageId local_id, std::string_view id, std::string_view data_json) {
    const std::size_t size = id.size() + data_json.size();
    if (data_json.size() > config_.max_message_bytes)
        return fail(errc::message_too_large, "message of " + std::to_string(data_json.size()) +
                                                 " bytes exceeds max_message_bytes " +
                                                 std::to_string(config_.max_message_bytes));
    if (id.size() > std::numeric_limits<std::uint32_t>::max()) return fail(errc::invalid_argument, "id too long");
    if (entries_.size() >= config_.max_messages)
        return fail(errc::outbox_full, "outbox holds max_messages " + std::to_string(config_.max_messages));
    if (bytes_ + size > config_.max_bytes)
        return fail(errc::outbox_full, "outbox would exceed max_bytes " + std::to_string(config_.max_bytes));

    Entry entry;
    entry.local_id = local_id;
    entry.id_len = static_cast<std::uint32_t>(id.size());
    entry.buf.reserve(size);
    entry.buf.append(id).append(data_json);
    entries_.push_back(std::move(entry));
    bytes_ += size;
    if (entries_.size() > high_water_) high_water_ = entries_.size();
    return local_id;
}

Outbox::Entry* Outbox::next_to_send() {
    if (cursor_ >= entries_.size() || cursor_ >= config_.max_in_flight) return nullptr;
    Entry& entry = entries_[cursor_++];
    if (entry.seq == 0) entry.seq = next_seq_++;
    return &entry;
}

void Outbox::trim_through(std::uint64_t seq, std::vector<MessageId>& acked) {
    while (!entries_.empty() && entries_.front().seq != 0 && entries_.front().seq <= seq) {
        acked.push_back(entries_.front().local_id);
        bytes_ -= entries_.front().buf.size();
        entries_.pop_front();
        if (cursor_ > 0) --cursor_;
    }
}

std::error_code Outbox::ack(std::uint64_t seq, std::vector<MessageId>& acked) {
    if (seq > last_seq_sent()) return make_error_code(errc::ack_out_of_range);
    trim_through(seq, acked);
    return {};
}

std::error_code Outbox::on_resumed(std::uint64_t server_last_seq, std::vector<MessageId>& acked) {
    if (server_last_seq > last_seq_sent()) return make_error_code(errc::ack_out_of_range);
    trim_through(server_last_seq, acked);
    cursor_ = 0;
    return {};
}

void Outbox::renumber_for_new_session() {
    for (Entry& entry : entries_) entry.seq = 0;
    next_seq_ = 1;
    cursor_ = 0;
}

std::deque<Outbox::Entry> Outbox::take_all() {
    std::deque<Entry> out;
    out.swap(entries_);
    cursor_ = 0;
    bytes_ = 0;
    return out;
}

} // namespace tether::core
