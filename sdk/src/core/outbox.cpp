#include "core/outbox.hpp"

#include <cstring>
#include <limits>

namespace tether::core {

// Per-message overhead is a target (docs/performance.md): keep the entry small.
static_assert(sizeof(void*) != 8 || sizeof(Outbox::Entry) == 32, "Outbox::Entry grew");

std::optional<Failure> Outbox::check_bounds(std::size_t id_bytes, std::size_t data_bytes) const {
    if (data_bytes > config_.max_message_bytes || data_bytes > std::numeric_limits<std::uint32_t>::max() / 2)
        return fail(errc::message_too_large, "message of " + std::to_string(data_bytes) +
                                                 " bytes exceeds max_message_bytes " +
                                                 std::to_string(config_.max_message_bytes));
    if (id_bytes > std::numeric_limits<std::uint16_t>::max()) return fail(errc::invalid_argument, "id too long");
    if (entries_.size() >= config_.max_messages)
        return fail(errc::outbox_full, "outbox holds max_messages " + std::to_string(config_.max_messages));
    if (bytes_ + id_bytes + data_bytes > config_.max_bytes)
        return fail(errc::outbox_full, "outbox would exceed max_bytes " + std::to_string(config_.max_bytes));
    return std::nullopt;
}

Result<MessageId> Outbox::push(MessageId local_id, std::string_view id, std::string_view data_json,
                               bool id_generated) {
    if (auto refused = check_bounds(id.size(), data_json.size())) return std::move(*refused);
    append(local_id, id, data_json, id_generated);
    return local_id;
}

void Outbox::restore(MessageId local_id, std::string_view id, std::string_view data_json, std::uint64_t seq) {
    append(local_id, id, data_json, false);
    Entry& entry = entries_.back();
    entry.seq = seq;
    entry.transmitted = seq != 0;
    if (seq != 0) next_seq_ = seq + 1;
}

void Outbox::restore_next_seq(std::uint64_t next_seq) {
    if (next_seq > next_seq_) next_seq_ = next_seq;
}

void Outbox::append(MessageId local_id, std::string_view id, std::string_view data_json, bool id_generated) {
    const std::size_t size = id.size() + data_json.size();
    const std::size_t stored = id_generated ? data_json.size() : size;

    Entry entry;
    entry.local_id = local_id;
    entry.size_ = static_cast<std::uint32_t>(size);
    entry.id_len_ = static_cast<std::uint16_t>(id.size());
    entry.generated_ = id_generated;
    entry.bytes_ = std::unique_ptr<char[]>(new char[stored == 0 ? 1 : stored]);
    char* out = entry.bytes_.get();
    if (!id_generated) {
        std::memcpy(out, id.data(), id.size());
        out += id.size();
    }
    if (!data_json.empty()) std::memcpy(out, data_json.data(), data_json.size());
    entries_.push_back(std::move(entry));
    bytes_ += size;
    if (entries_.size() > high_water_) high_water_ = entries_.size();
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
        bytes_ -= entries_.front().size();
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
