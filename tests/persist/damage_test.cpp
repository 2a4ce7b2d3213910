// Damage: every kind of bad file gets its own error code, never a crash, and
// the failed open leaves the file byte for byte as it was. Then the file
// systems that refuse writes: read-only, and full (a private tmpfs; skipped
// with a message where the test cannot mount one).
#include <linux/capability.h>
#include <sys/syscall.h>

#include <sqlite3.h>

#include "persist_test_support.hpp"

namespace tether::persist::test {
namespace {

const std::string kToken = "rt-SECRET-TOKEN-0123456789";

std::string payload(int i) {
    char head[32];
    std::snprintf(head, sizeof head, "payload-%05d-", i);
    return std::string(head) + std::string(200, static_cast<char>('a' + i % 26));
}

// A store with a session and 300 messages spread over many pages, closed
// (checkpointed: everything is in the main file, no free pages).
struct Fixture {
    std::string bytes;
    int page_size = 0;
    int outbox_root = 0; // page number of the outbox table's root
};

Fixture make_fixture(const TempDir& dir) {
    const std::string path = dir.file("fixture.db");
    {
        auto o = open_ok(path);
        if (!o.store) return {};
        if (o.store->stage_new_session("s-damage", kToken)) ADD_FAILURE();
        for (int i = 0; i < 300; ++i)
            if (!o.store->stage_enqueue("id-" + std::to_string(i), payload(i))) ADD_FAILURE();
        if (o.store->stage_numbered_through(100) || o.store->stage_inbound_last(7)) ADD_FAILURE();
        commit_ok(*o.store);
    }
    Fixture f;
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT (SELECT page_size FROM pragma_page_size), rootpage FROM sqlite_schema"
                           " WHERE name = 'outbox'", -1, &st, nullptr);
    if (sqlite3_step(st) == SQLITE_ROW) {
        f.page_size = sqlite3_column_int(st, 0);
        f.outbox_root = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    f.bytes = read_file(path);
    return f;
}

std::string flip_at(std::string bytes, std::size_t offset) {
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
    return bytes;
}

std::string flip_in(const std::string& bytes, const std::string& needle, std::size_t into = 0) {
    const auto at = bytes.find(needle);
    if (at == std::string::npos) {
        ADD_FAILURE() << "fixture lacks " << needle;
        return bytes;
    }
    return flip_at(bytes, at + into);
}

std::string foreign_sqlite(const TempDir& dir) {
    const std::string path = dir.file("foreign.db");
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos VALUES (1, 'x');",
                 nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return read_file(path);
}

std::string with_user_version(std::string bytes, std::uint32_t version) {
    for (int i = 0; i < 4; ++i) bytes[static_cast<std::size_t>(60 + i)] = static_cast<char>(version >> (24 - 8 * i));
    return bytes;
}

struct Row {
    std::string name;
    std::string bytes;
    store_errc expected;
};

TEST(StoreDamage, EachDamagedFileGetsItsOwnErrorAndStaysUntouched) {
    TempDir dir;
    const Fixture f = make_fixture(dir);
    ASSERT_GT(f.page_size, 0);
    ASSERT_GT(f.outbox_root, 1);
    const auto page = static_cast<std::size_t>(f.page_size);
    const std::size_t pages = f.bytes.size() / page;
    ASSERT_GE(pages, 10u);
    // Sanity: the fixture opens (from a copy: the table's rows use copies too).
    write_file(dir.file("copy.db"), f.bytes);
    {
        auto good = Store::open(StoreOptions{dir.file("copy.db")});
        ASSERT_TRUE(good) << good.detail();
        ASSERT_EQ(good.value().recovered.message_count(), 300u);
    }

    const std::vector<Row> rows = {
        {"truncated to 0 bytes", "", store_errc::store_corrupt},
        {"truncated to 10 bytes", f.bytes.substr(0, 10), store_errc::store_corrupt},
        {"truncated inside the header (99 bytes)", f.bytes.substr(0, 99), store_errc::store_corrupt},
        {"truncated to the first page", f.bytes.substr(0, page), store_errc::store_corrupt},
        {"truncated to half", f.bytes.substr(0, page * (pages / 2)), store_errc::store_corrupt},
        {"truncated by the last page", f.bytes.substr(0, page * (pages - 1)), store_errc::store_corrupt},
        {"flipped byte in the meta table (token)", flip_in(f.bytes, kToken, 5), store_errc::store_corrupt},
        {"flipped byte in the meta table (session id)", flip_in(f.bytes, "s-damage", 0), store_errc::store_corrupt},
        {"flipped byte in an outbox row (payload)", flip_in(f.bytes, "payload-00150-", 12), store_errc::store_corrupt},
        {"flipped byte in an outbox row (id)", flip_in(f.bytes, "id-299", 4), store_errc::store_corrupt},
        {"flipped byte in the outbox b-tree page header",
         flip_at(f.bytes, (static_cast<std::size_t>(f.outbox_root) - 1) * page), store_errc::store_corrupt},
        {"flipped byte in the schema table", flip_in(f.bytes, "CREATE TABLE outbox"), store_errc::store_corrupt},
        {"flipped byte in the SQLite magic", flip_at(f.bytes, 3), store_errc::store_foreign},
        {"a text file", "hello, I am not a database\n", store_errc::store_foreign},
        {"a short binary file", std::string("\x89PNG\r\n", 6), store_errc::store_foreign},
        {"another application's SQLite database", foreign_sqlite(dir), store_errc::store_foreign},
        {"a newer format version", with_user_version(f.bytes, kFormatVersion + 1), store_errc::store_newer_schema},
        {"format version 0 with our application_id", with_user_version(f.bytes, 0), store_errc::store_corrupt},
    };
    ASSERT_GE(rows.size(), 10u);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Row& row = rows[i];
        SCOPED_TRACE(row.name);
        const std::string path = dir.file("row" + std::to_string(i) + ".db");
        write_file(path, row.bytes);
        auto opened = Store::open(StoreOptions{path});
        ASSERT_FALSE(opened) << "opened a damaged file";
        EXPECT_EQ(code_name(opened.error()), store_errc_name(row.expected)) << opened.detail();
        EXPECT_FALSE(opened.detail().empty());
        std::printf("%-48s -> %-18s %s\n", row.name.c_str(), code_name(opened.error()).c_str(),
                    opened.detail().substr(dir.path().size()).c_str());
        EXPECT_EQ(read_file(path), row.bytes) << "the failed open changed the file";
        EXPECT_FALSE(exists(path + "-shm"));
        // And again: an error is not sticky state, nor a crash the second time.
        auto again = Store::open(StoreOptions{path});
        EXPECT_EQ(again.error(), opened.error());
    }
}

TEST(StoreDamage, ADamagedWalFrameRollsBackToTheCommitBeforeIt) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    // A writer that dies without closing leaves both commits in the WAL.
    const ChildResult child = run_child([&] {
        auto o = Store::open(StoreOptions{path});
        if (!o) return std::string("open failed");
        Store& s = *o.value().store;
        if (s.stage_new_session("s", "t-first") || !s.stage_enqueue("a", "first") || !s.commit())
            return std::string("commit 1 failed");
        if (s.stage_resumed("s", "t-second") || !s.stage_enqueue("b", "second-commit-marker") || !s.commit())
            return std::string("commit 2 failed");
        ::_exit(0); // no destructor: no checkpoint
    });
    ASSERT_EQ(child.report, "");
    const std::string wal = read_file(path + "-wal");
    ASSERT_NE(wal.find("second-commit-marker"), std::string::npos);
    write_file(path + "-wal", flip_in(wal, "second-commit-marker", 3));
    // SQLite checksums WAL frames: recovery stops before the damaged commit,
    // so the store opens at the commit before it, whole.
    auto o = Store::open(StoreOptions{path});
    ASSERT_TRUE(o) << o.detail();
    EXPECT_EQ(o.value().recovered.commits, 1u);
    EXPECT_EQ(o.value().recovered.session.resume_token, "t-first");
    ASSERT_EQ(o.value().recovered.message_count(), 1u);
    EXPECT_EQ(o.value().recovered.messages[0].data, "first");
}

TEST(StoreDamage, ADirectoryAtThePathIsNotAStore) {
    TempDir dir;
    ASSERT_EQ(::mkdir(dir.file("d.db").c_str(), 0700), 0);
    auto opened = Store::open(StoreOptions{dir.file("d.db")});
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error(), store_errc::store_foreign);
}

// Drops the capabilities that let root ignore file permissions.
bool drop_dac_override() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER}) {
        data[cap / 32].effective &= ~(1u << (cap % 32));
        data[cap / 32].permitted &= ~(1u << (cap % 32));
    }
    return ::syscall(SYS_capset, &header, data) == 0;
}

TEST(StoreDamage, AReadOnlyFileIsReportedAsReadOnly) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    open_ok(path);
    ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
    const std::string before = read_file(path);
    // In a child, so that root can give up its override of file modes.
    const ChildResult child = run_child([&] {
        if (::geteuid() == 0 && !drop_dac_override()) return std::string("skip: cannot drop CAP_DAC_OVERRIDE");
        auto opened = Store::open(StoreOptions{path});
        return opened ? std::string("opened") : code_name(opened.error()) + ": " + opened.detail();
    });
    if (child.report.rfind("skip", 0) == 0) GTEST_SKIP() << child.report;
    EXPECT_EQ(child.report.substr(0, child.report.find(':')), "store_read_only") << child.report;
    EXPECT_EQ(read_file(path), before);
}

TEST(StoreDamage, AReadOnlyFileSystemIsReportedAsReadOnly) {
    TempDir dir;
    Tmpfs tmpfs(dir.path(), 4 << 20);
    if (!tmpfs.error().empty()) GTEST_SKIP() << tmpfs.error();
    const std::string path = dir.file("s.db");
    {
        auto o = open_ok(path);
        ASSERT_TRUE(o.store->stage_enqueue("a", "1"));
        commit_ok(*o.store);
    }
    ASSERT_EQ(::mount("tmpfs", dir.path().c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr), 0) << std::strerror(errno);
    auto opened = Store::open(StoreOptions{path});
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error(), store_errc::store_read_only) << opened.detail();
    auto fresh = Store::open(StoreOptions{dir.file("new.db")});
    ASSERT_FALSE(fresh);
    EXPECT_EQ(fresh.error(), store_errc::store_read_only) << fresh.detail();
}


TEST(StoreDamage, AFullDiskFailsTheCommitAndKeepsTheStoredState) {
    TempDir dir;
    Tmpfs tmpfs(dir.path(), 1 << 20);
    if (!tmpfs.error().empty()) GTEST_SKIP() << tmpfs.error();
    const std::string path = dir.file("s.db");
    const std::string filler = dir.file("filler");
    auto stage_big_batch = [](Store& s) {
        for (int i = 0; i < 400; ++i) ASSERT_TRUE(s.stage_enqueue("big-" + std::to_string(i), std::string(1000, 'b')));
        ASSERT_FALSE(s.stage_resumed("s", "t-after"));
    };
    {
        auto o = open_ok(path);
        ASSERT_FALSE(o.store->stage_new_session("s", "t-before"));
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(o.store->stage_enqueue("m" + std::to_string(i), payload(i)));
        commit_ok(*o.store);
        tether::test::fill_file_system(filler);
        stage_big_batch(*o.store);
        auto failed = o.store->commit();
        ASSERT_FALSE(failed) << "a commit of 400 KB fit on a full file system";
        EXPECT_EQ(failed.error(), store_errc::store_disk_full) << failed.detail();
        EXPECT_TRUE(o.store->has_staged()); // kept for a retry
        EXPECT_EQ(o.store->stats().failed_commits, 1u);
    } // closed without the retry: the staged batch is dropped
    {
        auto o = open_ok(path); // opens on the full disk
        ASSERT_TRUE(o.store);
        EXPECT_EQ(o.recovered.session.resume_token, "t-before");
        ASSERT_EQ(o.recovered.message_count(), 20u);
        EXPECT_EQ(o.recovered.messages[19].data, payload(19));
        stage_big_batch(*o.store);
        auto failed = o.store->commit();
        ASSERT_FALSE(failed);
        EXPECT_EQ(failed.error(), store_errc::store_disk_full);
        ASSERT_EQ(::unlink(filler.c_str()), 0); // space again: the same staged changes commit
        auto retried = o.store->commit();
        ASSERT_TRUE(retried) << retried.detail();
        EXPECT_EQ(o.store->message_count(), 420u);
    }
    auto o = open_ok(path);
    EXPECT_EQ(o.recovered.session.resume_token, "t-after");
    EXPECT_EQ(o.recovered.message_count(), 420u);
}

TEST(StoreDamage, AFullDiskAtCreationLeavesNoFileBehind) {
    TempDir dir;
    Tmpfs tmpfs(dir.path(), 256 << 10);
    if (!tmpfs.error().empty()) GTEST_SKIP() << tmpfs.error();
    tether::test::fill_file_system(dir.file("filler"));
    auto opened = Store::open(StoreOptions{dir.file("s.db")});
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error(), store_errc::store_disk_full) << opened.detail();
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
        EXPECT_EQ(e.path().filename(), "filler") << "left behind: " << e.path();
}

} // namespace
} // namespace tether::persist::test
