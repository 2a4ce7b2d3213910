// Journal: where a Session records, as it happens, every change a restarted
// process would need to continue the conversation (ClientOptions::
// persistence). The Session calls it; the driver makes it durable (the
// SQLite store) once per io-loop turn, before that turn's frames go out.
// The core knows nothing of files: tests use an in-memory journal.
//
// Each call mirrors one transition of the Session's own state, in order.
// A journal that cannot record (misuse, a bug) returns an error; the Session
// reports it and carries on from memory.
//
// Thread safety: none; called by the Session's owner only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/outbox.hpp"

namespace tether::core {

class Journal {
public:
    virtual ~Journal() = default;
    // A message was queued (after the outbox accepted it).
    virtual std::error_code enqueued(MessageId local_id, std::string_view id, std::string_view data) = 0;
    // Queued messages are numbered up to `seq` (their frames are about to go out).
    virtual std::error_code numbered_through(std::uint64_t seq) = 0;
    // The server holds everything up to `seq` (an ack, or welcome.last_seq).
    virtual std::error_code acked_through(std::uint64_t seq) = 0;
    // welcome{resumed:false}: seqs restart at 1; inbound last is 0.
    virtual std::error_code new_session(std::string_view session, std::string_view resume_token) = 0;
    // welcome{resumed:true}: a rotated token.
    virtual std::error_code resumed(std::string_view session, std::string_view resume_token) = 0;
    // on_message returned for every server msg up to `seq`.
    virtual std::error_code inbound_last(std::uint64_t seq) = 0;
    // A hello carrying resume.attempt = `attempt` is about to go out.
    virtual std::error_code resume_attempt(std::uint64_t attempt) = 0;
    // Every queued message was failed or closed back to the application.
    virtual void outbox_cleared() = 0;
    // bye sent: nothing to resume any more.
    virtual void session_ended() = 0;
};

// What a Session continues from after a restart (see Session::restore).
struct RestoredMessage {
    std::uint64_t seq = 0; // 0: not yet numbered in the stored session
    std::string id;
    std::string data;
};
struct RestoredState {
    std::string session; // empty: nothing to resume
    std::string resume_token;
    std::uint64_t resume_attempt = 0; // highest attempt stored; the next hello uses + 1
    std::uint64_t inbound_last = 0;
    std::uint64_t next_seq = 1;       // seq of the next message numbered
    std::vector<RestoredMessage> messages; // in send order; numbered ones first, contiguous
};

} // namespace tether::core
