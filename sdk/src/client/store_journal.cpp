#include "client/store_journal.hpp"

namespace tether::client_detail {

persist::Durability to_store_durability(Durability d) {
    switch (d) {
    case Durability::off: return persist::Durability::off;
    case Durability::normal: return persist::Durability::normal;
    case Durability::full: return persist::Durability::full;
    }
    return persist::Durability::normal;
}

core::Result<StoreJournal::Opened> StoreJournal::open(const PersistenceOptions& options) {
    auto opened = persist::Store::open(persist::StoreOptions{options.path, to_store_durability(options.durability)});
    if (!opened) return core::Failure{opened.error(), opened.detail()};
    persist::Recovered& rec = opened.value().recovered;

    Opened out;
    out.recovered.created = rec.created;
    out.recovered.session = rec.session.session;
    out.recovered.messages = rec.messages.size();
    out.recovered.bytes = rec.message_bytes;
    out.recovered.queued_total = rec.enqueued_total;
    out.recovered.message_ids.reserve(rec.messages.size());
    core::RestoredState& st = out.state;
    st.session = std::move(rec.session.session);
    st.resume_token = std::move(rec.session.resume_token);
    st.resume_attempt = rec.session.resume_attempt;
    st.inbound_last = rec.session.inbound_last;
    st.next_seq = rec.next_seq;
    st.messages.reserve(rec.messages.size());
    for (persist::StoredMessage& m : rec.messages) {
        out.recovered.message_ids.push_back(m.id);
        st.messages.push_back(core::RestoredMessage{m.seq, std::move(m.id), std::move(m.data)});
    }
    out.journal.reset(new StoreJournal(std::move(opened.value().store)));
    return out;
}

std::error_code StoreJournal::enqueued(core::MessageId local_id, std::string_view id, std::string_view data) {
    auto pos = store_->stage_enqueue(id, data);
    if (!pos) return pos.error();
    pending_.emplace_back(local_id, pos.value());
    return {};
}

std::error_code StoreJournal::numbered_through(std::uint64_t seq) { return store_->stage_numbered_through(seq); }
std::error_code StoreJournal::acked_through(std::uint64_t seq) { return store_->stage_acked_through(seq); }
std::error_code StoreJournal::new_session(std::string_view session, std::string_view resume_token) {
    return store_->stage_new_session(session, resume_token);
}
std::error_code StoreJournal::resumed(std::string_view session, std::string_view resume_token) {
    return store_->stage_resumed(session, resume_token);
}
std::error_code StoreJournal::resume_attempt(std::uint64_t attempt) { return store_->stage_resume_attempt(attempt); }
std::error_code StoreJournal::inbound_last(std::uint64_t seq) { return store_->stage_inbound_last(seq); }
void StoreJournal::outbox_cleared() { store_->stage_clear_outbox(); }
void StoreJournal::session_ended() { store_->stage_end_session(); }

StoreJournal::CommitOutcome StoreJournal::commit() {
    auto batch = store_->begin_commit();
    if (!batch) return {};
    auto failure = store_->write(*batch);
    return end_commit(std::move(*batch), std::move(failure));
}

StoreJournal::CommitOutcome StoreJournal::end_commit(persist::Store::Batch&& batch,
                                                     std::optional<core::Failure> failure) {
    CommitOutcome out;
    auto done = store_->end_commit(std::move(batch), std::move(failure));
    if (!done) {
        out.error = done.error();
        out.detail = done.detail();
        out.first_failure = !failing_;
        failing_ = true;
        return out;
    }
    out.recovered = failing_;
    failing_ = false;
    const std::uint64_t durable_before = done.value().durable_before;
    while (!pending_.empty() && pending_.front().second < durable_before) {
        out.durable_through = pending_.front().first;
        pending_.pop_front();
    }
    return out;
}

} // namespace tether::client_detail
