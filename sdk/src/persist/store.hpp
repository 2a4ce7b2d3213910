// Store: a crash-safe copy of what a Client needs to continue after its
// process dies: the session (id, resume token, resume attempt), the inbound
// `last`, and every unacknowledged outbox message. One SQLite file, WAL mode.
// docs/persistence.md describes the format and the guarantees.
//
// Model
//   The caller stages changes as they happen (they apply to the Store's view
//   at once) and calls commit() once per io-loop turn: one transaction writes
//   everything staged since the last commit. A failed commit (disk full, I/O)
//   rolls back, leaves the stored state as it was, and keeps the staged
//   changes, so the next commit() retries them.
//
//   Outbox rows carry a position `pos` that rises by one per enqueue and is
//   never reused; rows are only removed from the front (acks) or all at once.
//   Seqs are not stored per row: like the Outbox, numbered messages are a
//   contiguous prefix with contiguous seqs, so the meta row's (sent_pos,
//   next_seq) gives every row's seq, and sending N messages rewrites one row
//   instead of N. A message enqueued and acked before the same commit is
//   never written.
//
//   Write-ahead rule for the integration: in each io-loop turn, run the
//   application callbacks, stage, commit(), and only then put the turn's
//   frames on the wire. So the server never sees a seq, an ack or a hello
//   the store does not hold:
//   - a msg with seq N goes out only once N is stored as numbered, so after
//     a restart no new message can reuse a seq the server already has;
//   - an ack (and hello.resume.last_seq) never exceeds the stored `last`,
//     which advances only after on_message returned, so the server never
//     frees a message the application has not processed: inbound delivery
//     is at-least-once across a crash, never with a gap;
//   - the hello carrying resume.attempt N goes out only once N is stored.
//
//   Why the stored resume token is always one the server accepts. The store
//   holds token T and attempt a; the hello that presented T (if any) carried
//   attempt <= a. The client sends hello{T, attempt a+1} after storing a+1.
//   The server accepts, rotates to T', and remembers "previous token T,
//   presented with attempt a+1" (docs/protocol.md §5). A crash now, before
//   T' is committed (welcome unread, or read but not yet committed), leaves
//   T and a+1 in the store; the restarted client sends hello{T, a+2}: T is
//   the previous token and a+2 > a+1, so the server accepts it and takes
//   over the dead connection. Once T' is committed, the next hello presents
//   T', the current token. The attempt is never reset, so it keeps rising
//   across sessions and restarts. A server that ignores `attempt` accepts
//   only the current token, and then a crash in that window costs the
//   session (welcome resumed:false, reported as session_lost), exactly as a
//   connection drop in the same window does without a crash.
//
//   When the store is behind the server. Under Durability::off or normal a
//   power cut can roll back the last commits, and a client that keeps
//   running while commits fail (disk full) lets the store fall behind. The
//   stored state is then an older but consistent prefix: an older token
//   gets resumed:false (session_lost); an older attempt is refused as stale
//   until the rising attempt passes the server's; an older `last` gets a
//   redelivery; an older next_seq shows as welcome.last_seq above the
//   stored last seq sent. The Session treats that welcome as "store
//   behind": it starts a new session (unacked messages re-sent with their
//   ids, at-least-once) and never resumes with the stored seqs, which the
//   server would take as duplicates.
//
//   Locking. A Store owns its file exclusively, three ways: a process-wide
//   registry of open files (device, inode), so a second opener in this
//   process is refused without opening the file (closing any descriptor of
//   a file drops the process's POSIX locks on it, SQLite's included); an
//   flock() on the database file, held until close, against other
//   processes; and SQLite's locking_mode=EXCLUSIVE with a write lock taken
//   at open, against any other SQLite user. In that mode SQLite keeps the
//   WAL index in its own memory: there is no -shm file. The application must
//   not open the store file itself while a Store has it open.
//
//   Damage. open() never repairs or rewrites a file it cannot read: a
//   truncated, corrupt, foreign or newer file is left as it is and reported
//   (store_errc). SQLite has no page checksums, so every row and the meta
//   row carry an FNV-1a checksum, and the rows must cover [head_pos,
//   next_pos) exactly. A new store is built under a temporary name and
//   linked into place, so the path never names a half-created file.
//
// Thread safety: none. One owner (the Client's io thread) uses a Store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/result.hpp"
#include "persist/store_error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace tether::persist {

// What a commit guarantees (docs/persistence.md has the table):
//   off    synchronous=OFF: survives a process crash; a power cut or OS
//          crash can lose recent commits and can corrupt the file.
//   normal synchronous=NORMAL: survives a process crash; a power cut can
//          roll back the commits since the last checkpoint, never corrupt.
//   full   synchronous=FULL: every commit is on the disk when commit()
//          returns (one fsync per commit).
enum class Durability { off, normal, full };
const char* to_string(Durability d) noexcept;

// The file format version written and read by this code (PRAGMA user_version).
inline constexpr int kFormatVersion = 1;
// PRAGMA application_id of a tether store: "teth".
inline constexpr std::int32_t kApplicationId = 0x74657468;

struct StoreOptions {
    std::string path;
    Durability durability = Durability::normal;
};

struct StoredMessage {
    std::uint64_t pos = 0; // store position: rises in enqueue order, never reused
    std::uint64_t seq = 0; // 0: not yet numbered in the current session
    std::string id;
    std::string data;      // the payload JSON text
};

// Everything the next connection needs: what open() recovered, and what the
// view holds after staging.
struct SessionRecord {
    std::string session;        // empty: nothing to resume
    std::string resume_token;
    std::uint64_t resume_attempt = 0; // highest hello.resume.attempt stored; the next hello uses +1
    std::uint64_t inbound_last = 0;   // `last` of server msgs (on_message returned)
};

struct Recovered {
    bool created = false;              // the file did not exist; a new store
    SessionRecord session;
    std::uint64_t next_seq = 1;        // seq the next numbered message gets
    std::uint64_t commits = 0;         // commits ever made to this file
    std::uint64_t enqueued_total = 0;  // messages ever queued in this file (the pos of the last one)
    std::vector<StoredMessage> messages; // unacknowledged, in send order
    // Outbox bounds accounting, counted as the Outbox does (id + payload
    // bytes). The outbox refuses new sends while these exceed its bounds.
    std::size_t message_bytes = 0;
    std::size_t message_count() const { return messages.size(); }
};

struct CommitInfo {
    std::uint64_t commit = 0;      // number of this commit in the file's history (0: none yet)
    // Every message with pos < durable_before is durable (at the store's
    // Durability) or already gone (acked, cleared). A message's pos comes
    // from stage_enqueue(); pos rises, so one number covers them all.
    std::uint64_t durable_before = 1;
    bool wrote = false;            // false: nothing was staged, no transaction ran
};

struct StoreStats {
    std::uint64_t transactions = 0;  // SQLite commits (counted by a commit hook)
    std::uint64_t failed_commits = 0;
    std::uint64_t rows_inserted = 0;
    std::uint64_t rows_deleted = 0;
    std::uint64_t rows_skipped = 0;  // enqueued and gone again before a commit: never written
};

// For diagnostics and tests: what SQLite actually runs with.
struct StoreDiagnostics {
    std::string journal_mode;  // "wal"
    std::string locking_mode;  // "exclusive"
    int synchronous = -1;      // 0 off, 1 normal, 2 full
    int user_version = 0;
    std::int64_t application_id = 0;
};

class Store {
public:
    struct Opened;
    // Opens `options.path`, creating a new store (mode 0600) when it does not
    // exist. Errors: store_errc (see store_error.hpp) or invalid_argument.
    static core::Result<Opened> open(const StoreOptions& options);
    ~Store(); // staged changes not yet committed are discarded

    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // ---- staging: applies to the view at once; written by commit() ----
    // Queues a message at the back; returns its pos.
    core::Result<std::uint64_t> stage_enqueue(std::string_view id, std::string_view data);
    // Messages were numbered (handed their seq for the wire) up to `seq`:
    // the unnumbered ones at the front of the rest get next_seq .. seq.
    std::error_code stage_numbered_through(std::uint64_t seq);
    // Cumulative ack (an ack frame, or welcome.last_seq on a resume).
    std::error_code stage_acked_through(std::uint64_t seq);
    // welcome{resumed:false}: a new session. Seqs restart at 1 (every queued
    // message becomes unnumbered) and inbound_last becomes 0.
    std::error_code stage_new_session(std::string_view session, std::string_view resume_token);
    // welcome{resumed:true}: the same session, a rotated token.
    std::error_code stage_resumed(std::string_view session, std::string_view resume_token);
    // A hello carrying resume.attempt = `attempt` is about to be sent.
    std::error_code stage_resume_attempt(std::uint64_t attempt);
    // on_message returned for every server msg up to `seq`.
    std::error_code stage_inbound_last(std::uint64_t seq);
    // Every queued message was closed or failed back to the application.
    void stage_clear_outbox();
    // bye sent: nothing to resume any more.
    void stage_end_session();

    // Writes everything staged in one transaction (none when nothing is).
    core::Result<CommitInfo> commit();
    bool has_staged() const { return dirty_; }

    // The same in three steps, so that an owner that stages under a lock
    // can write without holding it: begin_commit() and end_commit() under
    // the owner's lock, write() outside it. Staging may go on meanwhile (it
    // goes into the next batch); only write() touches the database, and one
    // batch is in flight at a time. A failed write() hands its changes back
    // to the next batch.
    struct Batch;
    std::optional<Batch> begin_commit();                   // nullopt: nothing staged
    std::optional<core::Failure> write(const Batch& batch); // nullopt: written
    core::Result<CommitInfo> end_commit(Batch&& batch, std::optional<core::Failure> failure);

    // ---- the view (stored state + staged changes) ----
    const SessionRecord& session() const { return view_.session; }
    std::uint64_t next_seq() const { return view_.next_seq; }
    std::size_t message_count() const { return static_cast<std::size_t>(view_.next_pos - view_.head_pos); }
    std::size_t message_bytes() const { return view_bytes_; }
    std::uint64_t commits() const { return committed_.commits; }
    const StoreStats& stats() const { return stats_; }
    StoreDiagnostics diagnostics() const;
    const std::string& path() const { return path_; }

    // The state of the meta row, in memory. Public for the implementation's
    // free functions (checksums, binding); not part of the API.
    struct Meta {
        SessionRecord session;
        std::uint64_t head_pos = 1; // first pos still queued
        std::uint64_t sent_pos = 1; // first pos not yet numbered (head_pos <= sent_pos <= next_pos)
        std::uint64_t next_pos = 1; // pos of the next enqueue
        std::uint64_t next_seq = 1; // seq of the message at sent_pos once numbered
        std::uint64_t commits = 0;
    };

private:
    struct Staged {
        std::uint64_t pos;
        std::size_t offset; // into staged_bytes_: id, then data
        std::uint32_t id_len;
        std::uint32_t data_len;
    };
    struct Statements;
    struct Registration;

    Store(std::string path, sqlite3* db, int lock_fd, std::unique_ptr<Registration> registration);
    core::Result<Recovered> load();
    std::error_code prepare();
    std::uint64_t seq_of(std::uint64_t pos) const; // 0 when not numbered
    int write_staged(const Batch& batch); // an SQLite result code
    void mark(); // a change is staged

    std::string path_;
    sqlite3* db_ = nullptr;
    int lock_fd_ = -1;
    std::unique_ptr<Registration> registration_;
    std::unique_ptr<Statements> stmts_;

    Meta committed_;
    Meta view_;
    std::size_t view_bytes_ = 0;
    // Byte sizes of the queued messages, front = view_.head_pos, so acks
    // keep view_bytes_ exact without reading rows back.
    std::deque<std::uint32_t> sizes_;
    std::vector<Staged> staged_;
    std::string staged_bytes_;
    bool dirty_ = false;
    StoreStats stats_;
};

struct Store::Batch {
    Meta base;   // the committed state the batch applies to
    Meta target; // the view when the batch was taken
    std::vector<Staged> rows;
    std::string bytes;
};

struct Store::Opened {
    std::unique_ptr<Store> store;
    Recovered recovered;
};

} // namespace tether::persist
