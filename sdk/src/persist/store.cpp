#include "persist/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

namespace tether::persist {

using core::Failure;
using core::Result;

namespace {

constexpr std::uint64_t kMaxSeq = (std::uint64_t{1} << 53) - 1;
constexpr std::uint64_t kMaxInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
constexpr char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

Failure store_fail(store_errc e, std::string detail) { return Failure{make_error_code(e), std::move(detail)}; }

store_errc errno_code(int err) {
    switch (err) {
    case ENOSPC:
    case EDQUOT: return store_errc::store_disk_full;
    case EROFS:
    case EACCES:
    case EPERM: return store_errc::store_read_only;
    default: return store_errc::store_io;
    }
}

Failure errno_fail(const char* call, const std::string& path, int err) {
    return store_fail(errno_code(err), std::string(call) + " " + path + ": " + std::strerror(err));
}

store_errc sqlite_code(int rc, int sys_errno) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return store_errc::store_locked;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
    case SQLITE_ERROR: // "no such table", a malformed schema: not a file we wrote
    case SQLITE_MISMATCH: return store_errc::store_corrupt;
    case SQLITE_FULL: return store_errc::store_disk_full;
    case SQLITE_READONLY:
    case SQLITE_PERM: return store_errc::store_read_only;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN: return sys_errno != 0 ? errno_code(sys_errno) : store_errc::store_io;
    default: return store_errc::store_io;
    }
}

Failure sqlite_fail(sqlite3* db, int rc, const std::string& what) {
    const int primary = rc & 0xff;
    const int sys = (db != nullptr && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN)) ? sqlite3_system_errno(db)
                                                                                              : 0;
    std::string detail = what + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) + " (sqlite " +
                         std::to_string(rc);
    if (sys != 0) detail += ", errno " + std::to_string(sys) + " " + std::strerror(sys);
    detail += ")";
    return store_fail(sqlite_code(rc, sys), std::move(detail));
}

Failure corrupt(const std::string& path, const std::string& what) {
    return store_fail(store_errc::store_corrupt, path + ": " + what);
}

// FNV-1a, 64 bit: every step is a bijection of the state, so a change in any
// single byte always changes the result. Integers are hashed little-endian.
class Fnv {
public:
    void bytes(const void* data, std::size_t n) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 1099511628211ull;
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            h_ = (h_ ^ (v & 0xff)) * 1099511628211ull;
            v >>= 8;
        }
    }
    void str(std::string_view s) {
        u64(s.size());
        bytes(s.data(), s.size());
    }
    std::int64_t value() const { return static_cast<std::int64_t>(h_); }

private:
    std::uint64_t h_ = 14695981039346656037ull;
};

std::int64_t row_checksum(std::uint64_t pos, std::string_view id, std::string_view data) {
    Fnv f;
    f.u64(pos);
    f.str(id);
    f.str(data);
    return f.value();
}

std::int64_t meta_checksum(const Store::Meta& m) {
    Fnv f;
    f.str(m.session.session);
    f.str(m.session.resume_token);
    for (std::uint64_t v : {m.session.resume_attempt, m.session.inbound_last, m.head_pos, m.sent_pos, m.next_pos,
                            m.next_seq, m.commits})
        f.u64(v);
    return f.value();
}

std::int64_t to_i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

int exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

// A BLOB column as bytes (SQLite returns a null pointer for an empty one).
std::string column_bytes(sqlite3_stmt* st, int col) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(st, col));
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
    return p != nullptr ? std::string(p, n) : std::string();
}

// Opens once per process, in (device, inode) terms: see "Locking" in store.hpp.
struct FileKey {
    dev_t dev;
    ino_t ino;
    bool operator<(const FileKey& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};
// Never destroyed: a store closed on a detached io thread during exit must
// not find them gone.
std::mutex& registry_mutex() {
    static auto* m = new std::mutex;
    return *m;
}
std::set<FileKey>& registry() {
    static auto* open_files = new std::set<FileKey>;
    return *open_files;
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

constexpr const char* kSchema =
    "CREATE TABLE meta ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " session BLOB NOT NULL, resume_token BLOB NOT NULL,"
    " resume_attempt INTEGER NOT NULL, inbound_last INTEGER NOT NULL,"
    " head_pos INTEGER NOT NULL, sent_pos INTEGER NOT NULL, next_pos INTEGER NOT NULL,"
    " next_seq INTEGER NOT NULL, commits INTEGER NOT NULL, crc INTEGER NOT NULL);"
    "CREATE TABLE outbox (pos INTEGER PRIMARY KEY, id BLOB NOT NULL, data BLOB NOT NULL, crc INTEGER NOT NULL);";
constexpr const char* kWriteMeta =
    "REPLACE INTO meta (one, session, resume_token, resume_attempt, inbound_last, head_pos, sent_pos, next_pos,"
    " next_seq, commits, crc) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

int write_meta(sqlite3_stmt* st, const Store::Meta& m) {
    sqlite3_reset(st);
    const auto& s = m.session;
    sqlite3_bind_blob(st, 1, s.session.data(), static_cast<int>(s.session.size()), SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, s.resume_token.data(), static_cast<int>(s.resume_token.size()), SQLITE_STATIC);
    int i = 3;
    for (std::uint64_t v : {s.resume_attempt, s.inbound_last, m.head_pos, m.sent_pos, m.next_pos, m.next_seq,
                            m.commits})
        sqlite3_bind_int64(st, i++, to_i64(v));
    sqlite3_bind_int64(st, i, meta_checksum(m));
    const int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void remove_quietly(const std::string& path) {
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
}

// Builds a new, empty store at a temporary name and links it into place, so
// `path` never names a half-written file. Returns true when this call
// created `path`, false when another opener got there first.
Result<bool> create_store_file(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    {
        Fd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (fd.get() < 0) return errno_fail("create", tmp, errno);
        // umask only removes bits; fchmod makes it exactly 0600 whatever the umask.
        if (::fchmod(fd.get(), 0600) != 0) {
            const int err = errno;
            remove_quietly(tmp);
            return errno_fail("fchmod", tmp, err);
        }
    }
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(tmp.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    std::optional<Failure> failed;
    if (rc != SQLITE_OK) failed = sqlite_fail(db, rc, "create " + tmp);
    if (!failed) {
        sqlite3_extended_result_codes(db, 1);
        const std::string init = std::string("PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=FULL;"
                                             " PRAGMA mmap_size=0; BEGIN; PRAGMA application_id=") +
                                 std::to_string(kApplicationId) +
                                 "; PRAGMA user_version=" + std::to_string(kFormatVersion) + ";" + kSchema;
        rc = exec(db, init.c_str());
        sqlite3_stmt* st = nullptr;
        if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, kWriteMeta, -1, &st, nullptr);
        if (rc == SQLITE_OK) rc = write_meta(st, Store::Meta{});
        sqlite3_finalize(st);
        if (rc == SQLITE_OK) rc = exec(db, "COMMIT; PRAGMA journal_mode=WAL;");
        if (rc != SQLITE_OK) failed = sqlite_fail(db, rc, "initialize " + tmp);
    }
    // Closing the only connection checkpoints and removes the WAL: the
    // schema is in `tmp` itself before it gets its final name.
    rc = sqlite3_close(db);
    if (!failed && rc != SQLITE_OK) failed = sqlite_fail(nullptr, rc, "close " + tmp);
    if (!failed) {
        Fd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0 || ::fsync(fd.get()) != 0) failed = errno_fail("fsync", tmp, errno);
    }
    bool created = false;
    if (!failed) {
        if (::link(tmp.c_str(), path.c_str()) == 0) {
            created = true;
        } else if (errno != EEXIST) {
            failed = errno_fail("link", path, errno);
        }
    }
    remove_quietly(tmp);
    if (failed) return std::move(*failed);
    Fd dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get()); // the new name survives a power cut
    return created;
}

// The file's first bytes: SQLite's magic or not.
std::optional<Failure> check_header(int fd, const std::string& path, off_t size) {
    if (size == 0) return corrupt(path, "empty file (truncated?)");
    char header[100];
    const ssize_t n = ::pread(fd, header, sizeof header, 0);
    if (n < 0) return errno_fail("read", path, errno);
    const auto got = static_cast<std::size_t>(n);
    const std::size_t magic_bytes = got < sizeof kMagic ? got : sizeof kMagic;
    if (std::memcmp(header, kMagic, magic_bytes) != 0)
        return store_fail(store_errc::store_foreign, path + ": not a SQLite database");
    if (got < sizeof header) return corrupt(path, "truncated to " + std::to_string(got) + " bytes");
    return std::nullopt;
}

} // namespace

const char* to_string(Durability d) noexcept {
    switch (d) {
    case Durability::off: return "off";
    case Durability::normal: return "normal";
    case Durability::full: return "full";
    }
    return "?";
}

struct Store::Registration {
    FileKey key;
    ~Registration() {
        std::lock_guard<std::mutex> lock(registry_mutex());
        registry().erase(key);
    }
};

struct Store::Statements {
    sqlite3_stmt* begin = nullptr;
    sqlite3_stmt* commit = nullptr;
    sqlite3_stmt* rollback = nullptr;
    sqlite3_stmt* trim = nullptr;
    sqlite3_stmt* insert = nullptr;
    sqlite3_stmt* meta = nullptr;
    ~Statements() {
        for (sqlite3_stmt* st : {begin, commit, rollback, trim, insert, meta}) sqlite3_finalize(st);
    }
};

Store::Store(std::string path, sqlite3* db, int lock_fd, std::unique_ptr<Registration> registration)
    : path_(std::move(path)), db_(db), lock_fd_(lock_fd), registration_(std::move(registration)) {}

Store::~Store() {
    stmts_.reset();
    sqlite3_close(db_);
    // After SQLite has let go of the file: closing a descriptor drops this
    // process's POSIX locks on it.
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<Store::Opened> Store::open(const StoreOptions& options) {
    const std::string& path = options.path;
    if (path.empty()) return core::fail(errc::invalid_argument, "store path is empty");
    std::unique_lock<std::mutex> lock(registry_mutex());

    bool created = false;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) return errno_fail("stat", path, errno);
        auto made = create_store_file(path);
        if (!made) return made.failure();
        created = made.value();
        if (::stat(path.c_str(), &st) != 0) return errno_fail("stat", path, errno);
    }
    if (!S_ISREG(st.st_mode)) return store_fail(store_errc::store_foreign, path + ": not a regular file");
    if (registry().count(FileKey{st.st_dev, st.st_ino}) != 0)
        return store_fail(store_errc::store_locked, path + ": already open in this process");

    Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd.get() < 0) return errno_fail("open", path, errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return store_fail(store_errc::store_locked, path + ": open in another process");
        return errno_fail("flock", path, errno);
    }
    if (::fstat(fd.get(), &st) != 0) return errno_fail("fstat", path, errno);
    // It holds a resume token: tighten a copy made with a looser mode.
    if ((st.st_mode & 077) != 0) ::fchmod(fd.get(), st.st_mode & 0700);
    if (auto bad = check_header(fd.get(), path, st.st_size)) return std::move(*bad);

    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        Failure f = sqlite_fail(db, rc, "open " + path);
        sqlite3_close(db);
        return f;
    }
    sqlite3_extended_result_codes(db, 1);
    const FileKey key{st.st_dev, st.st_ino};
    registry().insert(key);
    std::unique_ptr<Store> store(new Store(path, db, fd.release(), std::unique_ptr<Registration>(new Registration{key})));
    lock.unlock();

    auto recovered = store->load();
    if (!recovered) return recovered.failure();
    const char* sync = options.durability == Durability::off      ? "PRAGMA synchronous=OFF"
                       : options.durability == Durability::normal ? "PRAGMA synchronous=NORMAL"
                                                                  : "PRAGMA synchronous=FULL";
    if (int r = exec(store->db_, sync); r != SQLITE_OK) return sqlite_fail(store->db_, r, path);
    // A checkpoint syncs the WAL and the database (under normal and full), on
    // the committing thread: one per 32 MiB of WAL instead of SQLite's 4 MiB
    // keeps those syncs rare under a steady stream. The WAL is reset, not
    // grown, after each checkpoint.
    if (int r = exec(store->db_, "PRAGMA wal_autocheckpoint=8192"); r != SQLITE_OK)
        return sqlite_fail(store->db_, r, path);
    if (auto ec = store->prepare()) return Failure{ec, path + ": preparing statements: " + sqlite3_errmsg(store->db_)};
    sqlite3_commit_hook(
        store->db_,
        [](void* stats) {
            ++static_cast<StoreStats*>(stats)->transactions;
            return 0;
        },
        &store->stats_);
    Opened out{std::move(store), std::move(recovered.value())};
    out.recovered.created = created;
    return out;
}

Result<Recovered> Store::load() {
    // EXCLUSIVE before the first access: SQLite takes the file's lock for
    // good and keeps the WAL index in memory (no -shm file).
    int rc = exec(db_, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA mmap_size=0;");
    if (rc != SQLITE_OK) return sqlite_fail(db_, rc, path_);
    sqlite3_busy_timeout(db_, 0);
    rc = exec(db_, "BEGIN EXCLUSIVE");
    if (rc != SQLITE_OK) return sqlite_fail(db_, rc, path_ + ": taking the lock");
    struct Rollback {
        sqlite3* db;
        ~Rollback() {
            if (sqlite3_get_autocommit(db) == 0) exec(db, "ROLLBACK");
        }
    } rollback{db_};

    std::int64_t values[2] = {0, 0};
    const char* pragmas[2] = {"PRAGMA application_id", "PRAGMA user_version"};
    for (int i = 0; i < 2; ++i) {
        sqlite3_stmt* st = nullptr;
        rc = sqlite3_prepare_v2(db_, pragmas[i], -1, &st, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) values[i] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW) return sqlite_fail(db_, rc, path_ + ": reading the header");
    }
    if (values[0] != kApplicationId)
        return store_fail(store_errc::store_foreign,
                          path_ + ": a SQLite database of another application (application_id " +
                              std::to_string(values[0]) + ")");
    if (values[1] > kFormatVersion)
        return store_fail(store_errc::store_newer_schema, path_ + ": format version " + std::to_string(values[1]) +
                                                              " is newer than this tether's " +
                                                              std::to_string(kFormatVersion) + "; left untouched");
    if (values[1] < 1) return corrupt(path_, "format version " + std::to_string(values[1]));

    Recovered out;
    {
        sqlite3_stmt* st = nullptr;
        rc = sqlite3_prepare_v2(db_,
                                "SELECT session, resume_token, resume_attempt, inbound_last, head_pos, sent_pos,"
                                " next_pos, next_seq, commits, crc FROM meta WHERE one = 1",
                                -1, &st, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            sqlite3_finalize(st);
            if (rc == SQLITE_DONE) return corrupt(path_, "the meta row is missing");
            return sqlite_fail(db_, rc, path_ + ": reading meta");
        }
        bool types_ok = true;
        auto integer = [&](int col) -> std::uint64_t {
            if (sqlite3_column_type(st, col) != SQLITE_INTEGER || sqlite3_column_int64(st, col) < 0) types_ok = false;
            return static_cast<std::uint64_t>(sqlite3_column_int64(st, col));
        };
        Meta& m = committed_;
        m.session.session = column_bytes(st, 0);
        m.session.resume_token = column_bytes(st, 1);
        m.session.resume_attempt = integer(2);
        m.session.inbound_last = integer(3);
        m.head_pos = integer(4);
        m.sent_pos = integer(5);
        m.next_pos = integer(6);
        m.next_seq = integer(7);
        m.commits = integer(8);
        const bool crc_ok = sqlite3_column_type(st, 9) == SQLITE_INTEGER && sqlite3_column_int64(st, 9) == meta_checksum(m);
        sqlite3_finalize(st);
        if (!types_ok || !crc_ok) return corrupt(path_, "the meta row fails its checksum");
        if (!(1 <= m.head_pos && m.head_pos <= m.sent_pos && m.sent_pos <= m.next_pos && m.next_pos <= kMaxInt &&
              m.next_seq >= 1 && m.next_seq - 1 <= kMaxSeq && m.sent_pos - m.head_pos < m.next_seq &&
              m.session.inbound_last <= kMaxSeq))
            return corrupt(path_, "the meta row is inconsistent");
    }
    {
        sqlite3_stmt* st = nullptr;
        rc = sqlite3_prepare_v2(db_, "SELECT pos, id, data, crc FROM outbox ORDER BY pos", -1, &st, nullptr);
        if (rc != SQLITE_OK) return sqlite_fail(db_, rc, path_ + ": reading the outbox");
        view_ = committed_;
        out.messages.reserve(static_cast<std::size_t>(committed_.next_pos - committed_.head_pos));
        std::uint64_t expected = committed_.head_pos;
        std::optional<Failure> bad;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const std::int64_t pos = sqlite3_column_int64(st, 0);
            if (pos < 0 || static_cast<std::uint64_t>(pos) != expected) {
                bad = corrupt(path_, "outbox row at pos " + std::to_string(pos) + " where " +
                                         std::to_string(expected) + " was expected");
                break;
            }
            StoredMessage msg;
            msg.pos = expected++;
            msg.id = column_bytes(st, 1);
            msg.data = column_bytes(st, 2);
            if (sqlite3_column_int64(st, 3) != row_checksum(msg.pos, msg.id, msg.data)) {
                bad = corrupt(path_, "outbox row " + std::to_string(msg.pos) + " fails its checksum");
                break;
            }
            msg.seq = seq_of(msg.pos);
            const std::size_t size = msg.id.size() + msg.data.size();
            sizes_.push_back(static_cast<std::uint32_t>(size));
            out.message_bytes += size;
            out.messages.push_back(std::move(msg));
        }
        sqlite3_finalize(st);
        if (bad) return std::move(*bad);
        if (rc != SQLITE_DONE) return sqlite_fail(db_, rc, path_ + ": reading the outbox");
        if (expected != committed_.next_pos)
            return corrupt(path_, "outbox rows end before pos " + std::to_string(expected) + ", meta says " +
                                      std::to_string(committed_.next_pos));
    }
    rc = exec(db_, "COMMIT");
    if (rc != SQLITE_OK) return sqlite_fail(db_, rc, path_);

    // WAL is set at creation and persists in the file; put it back if a
    // tool changed it.
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode", -1, &st, nullptr);
    const bool wal = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && column_bytes(st, 0) == "wal";
    sqlite3_finalize(st);
    if (!wal && (rc = exec(db_, "PRAGMA journal_mode=WAL")) != SQLITE_OK) return sqlite_fail(db_, rc, path_);

    view_bytes_ = out.message_bytes;
    out.session = committed_.session;
    out.next_seq = committed_.next_seq;
    out.commits = committed_.commits;
    out.enqueued_total = committed_.next_pos - 1;
    return out;
}

std::error_code Store::prepare() {
    stmts_ = std::make_unique<Statements>();
    auto prep = [&](const char* sql, sqlite3_stmt** out) {
        return sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, out, nullptr);
    };
    Statements& s = *stmts_;
    if (prep("BEGIN IMMEDIATE", &s.begin) != SQLITE_OK || prep("COMMIT", &s.commit) != SQLITE_OK ||
        prep("ROLLBACK", &s.rollback) != SQLITE_OK || prep("DELETE FROM outbox WHERE pos < ?", &s.trim) != SQLITE_OK ||
        prep("INSERT INTO outbox (pos, id, data, crc) VALUES (?, ?, ?, ?)", &s.insert) != SQLITE_OK ||
        prep(kWriteMeta, &s.meta) != SQLITE_OK)
        return make_error_code(store_errc::store_io);
    return {};
}

std::uint64_t Store::seq_of(std::uint64_t pos) const {
    const Meta& m = view_;
    return pos < m.sent_pos ? m.next_seq - (m.sent_pos - pos) : 0;
}

void Store::mark() { dirty_ = true; }

// ---- staging ------------------------------------------------------------------

Result<std::uint64_t> Store::stage_enqueue(std::string_view id, std::string_view data) {
    if (id.size() > std::numeric_limits<std::uint16_t>::max())
        return core::fail(errc::invalid_argument, "message id longer than 65535 bytes");
    if (data.size() > std::numeric_limits<std::uint32_t>::max() / 2 ||
        data.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) - id.size())
        return core::fail(errc::invalid_argument, "payload too large for the store");
    if (view_.next_pos >= kMaxInt) return core::fail(errc::invalid_argument, "store positions exhausted");
    const std::uint64_t pos = view_.next_pos++;
    staged_.push_back(Staged{pos, staged_bytes_.size(), static_cast<std::uint32_t>(id.size()),
                             static_cast<std::uint32_t>(data.size())});
    staged_bytes_.append(id);
    staged_bytes_.append(data);
    const auto size = static_cast<std::uint32_t>(id.size() + data.size());
    sizes_.push_back(size);
    view_bytes_ += size;
    mark();
    return pos;
}

std::error_code Store::stage_numbered_through(std::uint64_t seq) {
    const std::uint64_t last = view_.next_seq - 1;
    if (seq == last) return {};
    if (seq < last || seq > kMaxSeq || seq - last > view_.next_pos - view_.sent_pos)
        return make_error_code(errc::invalid_argument);
    view_.sent_pos += seq - last;
    view_.next_seq = seq + 1;
    mark();
    return {};
}

std::error_code Store::stage_acked_through(std::uint64_t seq) {
    if (seq > view_.next_seq - 1) return make_error_code(errc::invalid_argument);
    if (view_.head_pos == view_.sent_pos) return {}; // nothing numbered is queued
    const std::uint64_t head_seq = seq_of(view_.head_pos);
    if (seq < head_seq) return {}; // stale
    const std::uint64_t n = std::min(seq - head_seq + 1, view_.sent_pos - view_.head_pos);
    for (std::uint64_t i = 0; i < n; ++i) {
        view_bytes_ -= sizes_.front();
        sizes_.pop_front();
    }
    view_.head_pos += n;
    mark();
    return {};
}

std::error_code Store::stage_new_session(std::string_view session, std::string_view resume_token) {
    if (session.empty() || resume_token.empty()) return make_error_code(errc::invalid_argument);
    view_.session.session.assign(session);
    view_.session.resume_token.assign(resume_token);
    view_.session.inbound_last = 0;
    view_.next_seq = 1;
    view_.sent_pos = view_.head_pos;
    mark();
    return {};
}

std::error_code Store::stage_resumed(std::string_view session, std::string_view resume_token) {
    if (resume_token.empty() || view_.session.session.empty() || session != view_.session.session)
        return make_error_code(errc::invalid_argument);
    view_.session.resume_token.assign(resume_token);
    mark();
    return {};
}

std::error_code Store::stage_resume_attempt(std::uint64_t attempt) {
    if (attempt <= view_.session.resume_attempt || attempt > kMaxSeq) return make_error_code(errc::invalid_argument);
    view_.session.resume_attempt = attempt;
    mark();
    return {};
}

std::error_code Store::stage_inbound_last(std::uint64_t seq) {
    if (seq == view_.session.inbound_last) return {};
    if (seq < view_.session.inbound_last || seq > kMaxSeq) return make_error_code(errc::invalid_argument);
    view_.session.inbound_last = seq;
    mark();
    return {};
}

void Store::stage_clear_outbox() {
    view_.head_pos = view_.sent_pos = view_.next_pos;
    sizes_.clear();
    view_bytes_ = 0;
    mark();
}

void Store::stage_end_session() {
    view_.session.session.clear();
    view_.session.resume_token.clear();
    view_.session.inbound_last = 0;
    view_.next_seq = 1;
    view_.sent_pos = view_.head_pos;
    mark();
}

// ---- commit -------------------------------------------------------------------

int Store::write_staged(const Batch& batch) {
    Statements& s = *stmts_;
    int rc = SQLITE_OK;
    const Meta& view = batch.target;
    const std::uint64_t trim_to = std::min(view.head_pos, batch.base.next_pos);
    if (trim_to > batch.base.head_pos) {
        sqlite3_reset(s.trim);
        sqlite3_bind_int64(s.trim, 1, to_i64(trim_to));
        rc = sqlite3_step(s.trim);
        sqlite3_reset(s.trim);
        if (rc != SQLITE_DONE) return rc;
    }
    for (const Staged& row : batch.rows) {
        if (row.pos < view.head_pos) continue;
        const std::string_view id(batch.bytes.data() + row.offset, row.id_len);
        const std::string_view data(batch.bytes.data() + row.offset + row.id_len, row.data_len);
        sqlite3_stmt* st = s.insert;
        sqlite3_bind_int64(st, 1, to_i64(row.pos));
        sqlite3_bind_blob(st, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, row_checksum(row.pos, id, data));
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) return rc;
    }
    Meta target = view;
    target.commits = batch.base.commits + 1;
    return write_meta(s.meta, target);
}

Result<CommitInfo> Store::commit() {
    auto batch = begin_commit();
    if (!batch) return CommitInfo{committed_.commits, committed_.next_pos, false};
    auto failure = write(*batch);
    return end_commit(std::move(*batch), std::move(failure));
}

std::optional<Store::Batch> Store::begin_commit() {
    if (!dirty_) return std::nullopt;
    Batch b;
    b.base = committed_;
    b.target = view_;
    b.rows.swap(staged_);
    b.bytes.swap(staged_bytes_);
    dirty_ = false;
    return b;
}

std::optional<Failure> Store::write(const Batch& batch) {
    Statements& s = *stmts_;
    int rc = sqlite3_step(s.begin);
    sqlite3_reset(s.begin);
    if (rc == SQLITE_DONE) {
        rc = write_staged(batch);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(s.commit);
            sqlite3_reset(s.commit);
            if (rc == SQLITE_DONE) rc = SQLITE_OK;
        }
    }
    if (rc == SQLITE_OK) return std::nullopt;
    Failure f = sqlite_fail(db_, rc, path_ + ": commit");
    if (sqlite3_get_autocommit(db_) == 0) {
        sqlite3_step(s.rollback);
        sqlite3_reset(s.rollback);
    }
    return f;
}

Result<CommitInfo> Store::end_commit(Batch&& batch, std::optional<Failure> failure) {
    if (failure) {
        Failure f = std::move(*failure);
        ++stats_.failed_commits;
        // Hand the batch back: its rows go before anything staged since.
        for (Staged& row : staged_) row.offset += batch.bytes.size();
        batch.rows.insert(batch.rows.end(), staged_.begin(), staged_.end());
        batch.bytes += staged_bytes_;
        staged_.swap(batch.rows);
        staged_bytes_.swap(batch.bytes);
        dirty_ = true;
        return f;
    }
    const Meta& target = batch.target;
    for (const Staged& row : batch.rows) ++(row.pos < target.head_pos ? stats_.rows_skipped : stats_.rows_inserted);
    stats_.rows_deleted += std::min(target.head_pos, batch.base.next_pos) - std::min(batch.base.head_pos,
                                                                                      batch.base.next_pos);
    committed_ = target;
    committed_.commits = batch.base.commits + 1;
    view_.commits = committed_.commits;
    // Reuse the batch's buffers for the next one unless a huge message grew them.
    if (staged_.empty() && staged_bytes_.empty() && batch.bytes.capacity() <= (std::size_t{1} << 20)) {
        batch.rows.clear();
        batch.bytes.clear();
        staged_.swap(batch.rows);
        staged_bytes_.swap(batch.bytes);
    }
    return CommitInfo{committed_.commits, committed_.next_pos, true};
}

StoreDiagnostics Store::diagnostics() const {
    StoreDiagnostics d;
    auto query = [&](const char* sql, auto&& read) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) read(st);
        sqlite3_finalize(st);
    };
    auto text = [](sqlite3_stmt* st) {
        const unsigned char* t = sqlite3_column_text(st, 0);
        return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
    };
    query("PRAGMA journal_mode", [&](sqlite3_stmt* st) { d.journal_mode = text(st); });
    query("PRAGMA locking_mode", [&](sqlite3_stmt* st) { d.locking_mode = text(st); });
    query("PRAGMA synchronous", [&](sqlite3_stmt* st) { d.synchronous = sqlite3_column_int(st, 0); });
    query("PRAGMA user_version", [&](sqlite3_stmt* st) { d.user_version = sqlite3_column_int(st, 0); });
    query("PRAGMA application_id", [&](sqlite3_stmt* st) { d.application_id = sqlite3_column_int64(st, 0); });
    return d;
}

} // namespace tether::persist
