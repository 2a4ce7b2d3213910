// StoreJournal: the Session's Journal on the SQLite store (persist::Store),
// and what the driver needs around it: opening and loading the file into a
// core::RestoredState, the per-turn commit, and the durability watermark in
// MessageId terms for Callbacks::on_durable.
//
// Thread safety: none; the Client calls it under its session lock.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/journal.hpp"
#include "core/result.hpp"
#include "persist/store.hpp"
#include "tether/client.hpp"

namespace tether::client_detail {

class StoreJournal final : public core::Journal {
public:
    struct Opened;
    // Opens (or creates) the store; errors are tether::errc store_* codes.
    static core::Result<Opened> open(const PersistenceOptions& options);

    std::error_code enqueued(core::MessageId local_id, std::string_view id, std::string_view data) override;
    std::error_code numbered_through(std::uint64_t seq) override;
    std::error_code acked_through(std::uint64_t seq) override;
    std::error_code new_session(std::string_view session, std::string_view resume_token) override;
    std::error_code resumed(std::string_view session, std::string_view resume_token) override;
    std::error_code resume_attempt(std::uint64_t attempt) override;
    std::error_code inbound_last(std::uint64_t seq) override;
    void outbox_cleared() override;
    void session_ended() override;

    struct CommitOutcome {
        std::error_code error;     // the commit failed (disk full, I/O); staged changes kept for the next
        std::string detail;
        bool first_failure = false; // error, and the commit before it had succeeded: report it
        bool recovered = false;     // succeeded after one or more failed commits
        std::optional<core::MessageId> durable_through; // on_durable to report, if it advanced
    };
    // Writes what was staged, if anything (one transaction).
    CommitOutcome commit();
    bool has_staged() const { return store_->has_staged(); }
    // commit() in three steps: begin and end under the session lock, write
    // without it (persist::Store::begin_commit). One batch at a time.
    std::optional<persist::Store::Batch> begin_commit() { return store_->begin_commit(); }
    std::optional<core::Failure> write(const persist::Store::Batch& batch) { return store_->write(batch); }
    CommitOutcome end_commit(persist::Store::Batch&& batch, std::optional<core::Failure> failure);
    const persist::StoreStats& stats() const { return store_->stats(); }

private:
    explicit StoreJournal(std::unique_ptr<persist::Store> store) : store_(std::move(store)) {}

    std::unique_ptr<persist::Store> store_;
    // Messages not yet reported durable: (local id, store pos), in send order.
    std::deque<std::pair<core::MessageId, std::uint64_t>> pending_;
    bool failing_ = false; // the last commit failed
};

struct StoreJournal::Opened {
    std::unique_ptr<StoreJournal> journal;
    core::RestoredState state;
    Recovered recovered;
};

persist::Durability to_store_durability(Durability d);

} // namespace tether::client_detail
