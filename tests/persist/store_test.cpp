// Store: round trips, the seq model, misuse, batching, durability settings,
// locking and file modes.
#include <sys/file.h>

#include <algorithm>

#include <sqlite3.h>

#include "persist_test_support.hpp"

namespace tether::persist::test {
namespace {

std::string payload(int i) { return "{\"n\":" + std::to_string(i) + ",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}"; }

TEST(Store, NewStoreIsEmptyAndReportsCreated) {
    TempDir dir;
    auto opened = open_ok(dir.file("s.db"));
    ASSERT_TRUE(opened.store);
    EXPECT_TRUE(opened.recovered.created);
    EXPECT_EQ(opened.recovered.message_count(), 0u);
    EXPECT_EQ(opened.recovered.message_bytes, 0u);
    EXPECT_EQ(opened.recovered.next_seq, 1u);
    EXPECT_TRUE(opened.recovered.session.session.empty());
    EXPECT_EQ(opened.recovered.commits, 0u);
    opened.store.reset();
    auto again = open_ok(dir.file("s.db"));
    EXPECT_FALSE(again.recovered.created);
}

TEST(Store, RoundTripsSessionTokenLastAndMessagesInOrder) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    {
        auto o = open_ok(path);
        Store& s = *o.store;
        ASSERT_FALSE(s.stage_resume_attempt(1));
        ASSERT_FALSE(s.stage_new_session("s-1", "rt-1"));
        for (int i = 1; i <= 5; ++i) {
            auto pos = s.stage_enqueue("id-" + std::to_string(i), payload(i));
            ASSERT_TRUE(pos);
            EXPECT_EQ(pos.value(), static_cast<std::uint64_t>(i));
        }
        ASSERT_FALSE(s.stage_numbered_through(3));
        ASSERT_FALSE(s.stage_acked_through(1));
        ASSERT_FALSE(s.stage_inbound_last(41));
        commit_ok(s);
    }
    auto o = open_ok(path);
    const Recovered& r = o.recovered;
    EXPECT_EQ(r.session.session, "s-1");
    EXPECT_EQ(r.session.resume_token, "rt-1");
    EXPECT_EQ(r.session.resume_attempt, 1u);
    EXPECT_EQ(r.session.inbound_last, 41u);
    EXPECT_EQ(r.next_seq, 4u);
    EXPECT_EQ(r.commits, 1u);
    EXPECT_EQ(r.enqueued_total, 5u) << "acked messages still count as ever queued";
    ASSERT_EQ(r.message_count(), 4u);
    const std::uint64_t want_seq[] = {2, 3, 0, 0};
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        const auto n = static_cast<int>(i) + 2;
        EXPECT_EQ(r.messages[i].pos, static_cast<std::uint64_t>(n));
        EXPECT_EQ(r.messages[i].seq, want_seq[i]);
        EXPECT_EQ(r.messages[i].id, "id-" + std::to_string(n));
        EXPECT_EQ(r.messages[i].data, payload(n));
        bytes += r.messages[i].id.size() + r.messages[i].data.size();
    }
    EXPECT_EQ(r.message_bytes, bytes); // counted as the Outbox counts: id + payload
    EXPECT_EQ(o.store->message_bytes(), bytes);
    // Positions keep rising after a restart.
    auto pos = o.store->stage_enqueue("id-6", payload(6));
    ASSERT_TRUE(pos);
    EXPECT_EQ(pos.value(), 6u);
}

TEST(Store, BinaryAndEmptyStringsSurvive) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    const std::string odd("a\0b\xff", 4);
    {
        auto o = open_ok(path);
        ASSERT_TRUE(o.store->stage_enqueue("", ""));
        ASSERT_TRUE(o.store->stage_enqueue(odd, odd));
        commit_ok(*o.store);
    }
    auto o = open_ok(path);
    ASSERT_EQ(o.recovered.message_count(), 2u);
    EXPECT_EQ(o.recovered.messages[0].id, "");
    EXPECT_EQ(o.recovered.messages[0].data, "");
    EXPECT_EQ(o.recovered.messages[1].id, odd);
    EXPECT_EQ(o.recovered.messages[1].data, odd);
}

TEST(Store, NewSessionRenumbersAndResetsLast) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    {
        auto o = open_ok(path);
        Store& s = *o.store;
        ASSERT_FALSE(s.stage_new_session("s-1", "rt-1"));
        for (int i = 0; i < 4; ++i) ASSERT_TRUE(s.stage_enqueue("m" + std::to_string(i), "1"));
        ASSERT_FALSE(s.stage_numbered_through(4));
        ASSERT_FALSE(s.stage_acked_through(2));
        ASSERT_FALSE(s.stage_inbound_last(9));
        commit_ok(s);
        ASSERT_FALSE(s.stage_new_session("s-2", "rt-9")); // resumed:false
        commit_ok(s);
    }
    auto o = open_ok(path);
    EXPECT_EQ(o.recovered.session.session, "s-2");
    EXPECT_EQ(o.recovered.session.inbound_last, 0u);
    EXPECT_EQ(o.recovered.next_seq, 1u);
    ASSERT_EQ(o.recovered.message_count(), 2u);
    EXPECT_EQ(o.recovered.messages[0].id, "m2");
    EXPECT_EQ(o.recovered.messages[0].seq, 0u);
    EXPECT_EQ(o.recovered.messages[1].seq, 0u);
    // Numbered again from 1 in the new session.
    ASSERT_FALSE(o.store->stage_numbered_through(2));
    ASSERT_FALSE(o.store->stage_acked_through(1));
    EXPECT_EQ(o.store->message_count(), 1u);
}

TEST(Store, ResumeRotatesTokenOnlyForTheSameSession) {
    TempDir dir;
    auto o = open_ok(dir.file("s.db"));
    Store& s = *o.store;
    EXPECT_EQ(s.stage_resumed("s-1", "rt-2"), errc::invalid_argument); // no session yet
    ASSERT_FALSE(s.stage_new_session("s-1", "rt-1"));
    EXPECT_EQ(s.stage_resumed("s-other", "rt-2"), errc::invalid_argument);
    EXPECT_EQ(s.session().resume_token, "rt-1");
    ASSERT_FALSE(s.stage_resumed("s-1", "rt-2"));
    EXPECT_EQ(s.session().resume_token, "rt-2");
    s.stage_end_session();
    EXPECT_TRUE(s.session().session.empty());
}

TEST(Store, MisuseIsRefusedAndChangesNothing) {
    TempDir dir;
    auto o = open_ok(dir.file("s.db"));
    Store& s = *o.store;
    ASSERT_FALSE(s.stage_new_session("s", "t"));
    ASSERT_TRUE(s.stage_enqueue("a", "1"));
    ASSERT_TRUE(s.stage_enqueue("b", "2"));
    ASSERT_FALSE(s.stage_numbered_through(1));
    ASSERT_FALSE(s.stage_inbound_last(5));
    ASSERT_FALSE(s.stage_resume_attempt(3));
    commit_ok(s);

    EXPECT_EQ(s.stage_numbered_through(3), errc::invalid_argument); // only one unnumbered message
    EXPECT_EQ(s.stage_numbered_through(0), errc::invalid_argument); // backwards
    EXPECT_EQ(s.stage_acked_through(2), errc::invalid_argument);    // beyond the last numbered
    EXPECT_EQ(s.stage_inbound_last(4), errc::invalid_argument);     // backwards
    EXPECT_EQ(s.stage_resume_attempt(3), errc::invalid_argument);   // must rise
    EXPECT_EQ(s.stage_new_session("", "t"), errc::invalid_argument);
    EXPECT_EQ(s.stage_new_session("s", ""), errc::invalid_argument);
    EXPECT_EQ(s.stage_enqueue(std::string(70000, 'i'), "1").error(), errc::invalid_argument);
    EXPECT_FALSE(s.has_staged());
    EXPECT_EQ(s.next_seq(), 2u);
    EXPECT_EQ(s.message_count(), 2u);
    EXPECT_EQ(s.session().inbound_last, 5u);
    // Idempotent repeats are not changes either.
    EXPECT_FALSE(s.stage_numbered_through(1));
    EXPECT_FALSE(s.stage_inbound_last(5));
    EXPECT_FALSE(s.stage_acked_through(0)); // stale
    EXPECT_FALSE(s.has_staged());
}

TEST(Store, BatchingWritesOneTransactionPerCommit) {
    TempDir dir;
    auto o = open_ok(dir.file("s.db"));
    Store& s = *o.store;
    EXPECT_EQ(s.stats().transactions, 0u);
    auto idle = s.commit(); // nothing staged: no transaction
    ASSERT_TRUE(idle);
    EXPECT_FALSE(idle.value().wrote);
    EXPECT_EQ(s.stats().transactions, 0u);

    ASSERT_FALSE(s.stage_new_session("s", "t"));
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s.stage_enqueue("m" + std::to_string(i), payload(i)));
    ASSERT_FALSE(s.stage_numbered_through(600));
    ASSERT_FALSE(s.stage_acked_through(200)); // 200 never reach the file
    ASSERT_FALSE(s.stage_inbound_last(7));
    auto c = s.commit();
    ASSERT_TRUE(c) << c.detail();
    EXPECT_TRUE(c.value().wrote);
    EXPECT_EQ(c.value().commit, 1u);
    EXPECT_EQ(s.stats().transactions, 1u);
    EXPECT_EQ(s.stats().rows_inserted, 800u);
    EXPECT_EQ(s.stats().rows_skipped, 200u);
    EXPECT_EQ(c.value().durable_before, 1001u); // every message staged so far

    ASSERT_FALSE(s.stage_acked_through(600));
    ASSERT_TRUE(s.stage_enqueue("late", "1"));
    c = s.commit();
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().commit, 2u);
    EXPECT_EQ(c.value().durable_before, 1002u);
    EXPECT_EQ(s.stats().transactions, 2u);
    EXPECT_EQ(s.stats().rows_deleted, 400u);
    EXPECT_EQ(s.message_count(), 401u);
    o.store.reset();
    auto again = open_ok(dir.file("s.db"));
    EXPECT_EQ(again.recovered.commits, 2u);
    EXPECT_EQ(again.recovered.message_count(), 401u);
    EXPECT_EQ(again.recovered.messages.front().id, "m600");
    EXPECT_EQ(again.recovered.messages.back().id, "late");
}

TEST(Store, DurableBeforeOnlyAdvancesWithASuccessfulCommit) {
    TempDir dir;
    auto o = open_ok(dir.file("s.db"));
    Store& s = *o.store;
    auto a = s.stage_enqueue("a", "1");
    ASSERT_TRUE(a);
    auto c = s.commit();
    ASSERT_TRUE(c);
    EXPECT_GT(c.value().durable_before, a.value());
    auto b = s.stage_enqueue("b", "2");
    ASSERT_TRUE(b);
    EXPECT_LE(c.value().durable_before, b.value()); // b is only staged
    auto second = s.commit();
    ASSERT_TRUE(second);
    EXPECT_GT(second.value().durable_before, b.value());
    auto none = s.commit();
    ASSERT_TRUE(none);
    EXPECT_FALSE(none.value().wrote);
    EXPECT_EQ(none.value().durable_before, second.value().durable_before);
}

TEST(Store, ClearOutboxRemovesEverythingQueued) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    {
        auto o = open_ok(path);
        for (int i = 0; i < 10; ++i) ASSERT_TRUE(o.store->stage_enqueue("m", "1"));
        commit_ok(*o.store);
        o.store->stage_clear_outbox();
        ASSERT_TRUE(o.store->stage_enqueue("after", "2"));
        commit_ok(*o.store);
    }
    auto o = open_ok(path);
    ASSERT_EQ(o.recovered.message_count(), 1u);
    EXPECT_EQ(o.recovered.messages[0].id, "after");
    EXPECT_EQ(o.recovered.messages[0].pos, 11u);
}

TEST(Store, BoundsAccountingHoldsAcrossRestarts) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    std::size_t bytes = 0;
    {
        auto o = open_ok(path);
        for (int i = 0; i < 50; ++i) {
            const std::string id = "id" + std::to_string(i);
            ASSERT_TRUE(o.store->stage_enqueue(id, payload(i)));
            bytes += id.size() + payload(i).size();
        }
        ASSERT_FALSE(o.store->stage_numbered_through(10));
        ASSERT_FALSE(o.store->stage_acked_through(10));
        for (int i = 0; i < 10; ++i) bytes -= ("id" + std::to_string(i)).size() + payload(i).size();
        EXPECT_EQ(o.store->message_bytes(), bytes);
        commit_ok(*o.store);
    }
    auto o = open_ok(path);
    EXPECT_EQ(o.recovered.message_count(), 40u);
    EXPECT_EQ(o.recovered.message_bytes, bytes);
}

TEST(Store, DurabilitySettingsMapToSynchronousAndAllRoundTrip) {
    const std::pair<Durability, int> settings[] = {
        {Durability::off, 0}, {Durability::normal, 1}, {Durability::full, 2}};
    for (const auto& [durability, synchronous] : settings) {
        SCOPED_TRACE(to_string(durability));
        TempDir dir;
        const std::string path = dir.file("s.db");
        {
            auto o = open_ok(path, durability);
            const StoreDiagnostics d = o.store->diagnostics();
            EXPECT_EQ(d.synchronous, synchronous);
            EXPECT_EQ(d.journal_mode, "wal");
            EXPECT_EQ(d.locking_mode, "exclusive");
            EXPECT_EQ(d.user_version, kFormatVersion);
            EXPECT_EQ(d.application_id, kApplicationId);
            ASSERT_FALSE(o.store->stage_new_session("s", "t"));
            ASSERT_TRUE(o.store->stage_enqueue("x", "1"));
            commit_ok(*o.store);
        }
        auto o = open_ok(path, durability);
        EXPECT_EQ(o.recovered.session.session, "s");
        EXPECT_EQ(o.recovered.message_count(), 1u);
    }
}

TEST(Store, SecondOpenerInTheSameProcessIsRefused) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    auto first = open_ok(path);
    auto second = Store::open(StoreOptions{path});
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), store_errc::store_locked) << second.detail();
    // Through another name for the same file, too.
    ASSERT_EQ(::symlink(path.c_str(), dir.file("alias.db").c_str()), 0);
    auto alias = Store::open(StoreOptions{dir.file("alias.db")});
    ASSERT_FALSE(alias);
    EXPECT_EQ(alias.error(), store_errc::store_locked);
    // The refused opens did not disturb the first.
    ASSERT_TRUE(first.store->stage_enqueue("a", "1"));
    commit_ok(*first.store);
    first.store.reset();
    auto third = open_ok(path);
    EXPECT_EQ(third.recovered.message_count(), 1u);
}

TEST(Store, SecondOpenerInAnotherProcessIsRefused) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    auto first = open_ok(path);
    ASSERT_TRUE(first.store->stage_enqueue("a", "1"));
    commit_ok(*first.store);
    const ChildResult child = run_child([&] {
        auto opened = Store::open(StoreOptions{path});
        if (opened) return std::string("opened");
        return code_name(opened.error());
    });
    EXPECT_EQ(child.report, "store_locked");
    // A plain SQLite reader in another process is kept out as well.
    const ChildResult reader = run_child([&] {
        sqlite3* db = nullptr;
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
        const int rc = sqlite3_exec(db, "SELECT count(*) FROM outbox", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        return std::to_string(rc);
    });
    EXPECT_EQ(reader.report, std::to_string(SQLITE_BUSY));
    first.store.reset();
    const ChildResult after = run_child([&] {
        auto opened = Store::open(StoreOptions{path});
        return opened ? std::to_string(opened.value().recovered.message_count()) : code_name(opened.error());
    });
    EXPECT_EQ(after.report, "1");
}

TEST(Store, AnotherProcessHoldingTheFileLocksUsOut) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    open_ok(path); // create it
    int ready[2], release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        auto opened = Store::open(StoreOptions{path});
        const char c = opened ? 'y' : 'n';
        ssize_t w = ::write(ready[1], &c, 1);
        char ignored;
        w += ::read(release[0], &ignored, 1); // hold until the parent has tried
        ::_exit(w > 0 ? 0 : 1);
    }
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ASSERT_EQ(c, 'y');
    auto refused = Store::open(StoreOptions{path});
    EXPECT_FALSE(refused);
    EXPECT_EQ(refused.error(), store_errc::store_locked) << refused.detail();
    ASSERT_EQ(::write(release[1], "x", 1), 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
    EXPECT_TRUE(Store::open(StoreOptions{path})); // free again once it exited
}

TEST(Store, TwoProcessesCreatingAtOnceEndWithOneStoreAndOneRefusal) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    int go[2], results[2], release[2];
    ASSERT_EQ(::pipe(go), 0);
    ASSERT_EQ(::pipe(results), 0);
    ASSERT_EQ(::pipe(release), 0);
    pid_t pids[2];
    for (pid_t& pid : pids) {
        pid = ::fork();
        if (pid == 0) {
            char c;
            ssize_t io = ::read(go[0], &c, 1);
            auto opened = Store::open(StoreOptions{path});
            const char verdict = opened ? 'y' : (opened.error() == store_errc::store_locked ? 'l' : 'x');
            io += ::write(results[1], &verdict, 1);
            io += ::read(release[0], &c, 1); // hold the store until both have tried
            ::_exit(io == 3 ? 0 : 1);
        }
    }
    ASSERT_EQ(::write(go[1], "gg", 2), 2);
    std::string verdicts(2, ' ');
    ASSERT_EQ(::read(results[0], &verdicts[0], 1), 1);
    ASSERT_EQ(::read(results[0], &verdicts[1], 1), 1);
    ASSERT_EQ(::write(release[1], "rr", 2), 2);
    for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
    for (int fd : {go[0], go[1], results[0], results[1], release[0], release[1]}) ::close(fd);
    std::sort(verdicts.begin(), verdicts.end());
    EXPECT_EQ(verdicts, "ly"); // one store, one store_locked, nothing else
    auto o = open_ok(path);
    EXPECT_EQ(o.recovered.message_count(), 0u);
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
        EXPECT_TRUE(e.path().filename() == "s.db" || e.path().filename() == "s.db-wal") << e.path();
}

TEST(Store, FilesAreCreated0600WhateverTheUmaskAndNoShmExists) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    const mode_t old = ::umask(0);
    auto o = open_ok(path);
    ::umask(old);
    ASSERT_TRUE(o.store->stage_enqueue("a", std::string(10000, 'x')));
    commit_ok(*o.store);
    EXPECT_EQ(mode_of(path), 0600u);
    ASSERT_TRUE(exists(path + "-wal")); // a commit went to the WAL
    EXPECT_EQ(mode_of(path + "-wal"), 0600u);
    EXPECT_FALSE(exists(path + "-shm")); // exclusive locking: the WAL index is in memory
    // No temporary file is left behind.
    std::size_t entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++entries;
        EXPECT_TRUE(e.path().filename() == "s.db" || e.path().filename() == "s.db-wal") << e.path();
    }
    EXPECT_EQ(entries, 2u);
    o.store.reset();
    EXPECT_FALSE(exists(path + "-wal")); // checkpointed and removed at close
}

TEST(Store, ALooserModeOnAnExistingStoreIsTightened) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    open_ok(path);
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    auto o = open_ok(path);
    EXPECT_EQ(mode_of(path), 0600u);
}

TEST(Store, EmptyPathIsInvalid) {
    auto o = Store::open(StoreOptions{});
    ASSERT_FALSE(o);
    EXPECT_EQ(o.error(), errc::invalid_argument);
}

TEST(Store, ErrorCodesAreTheStorageBlockOfTetherErrc) {
    for (int v = 500; v <= 506; ++v) {
        const auto e = static_cast<store_errc>(v);
        EXPECT_STRNE(store_errc_name(e), "unknown");
        EXPECT_EQ(make_error_code(e), make_error_code(static_cast<tether::errc>(v)));
        EXPECT_TRUE(make_error_code(e) == tether::error_kind::storage) << v;
        EXPECT_FALSE(make_error_code(e) == tether::error_kind::local) << v;
        EXPECT_FALSE(make_error_code(e).message().empty());
    }
}

} // namespace
} // namespace tether::persist::test

namespace tether::persist::test {
namespace {

TEST(Store, ThreeStepCommitLetsStagingGoOnWhileABatchIsWritten) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    {
        auto o = open_ok(path);
        Store& s = *o.store;
        ASSERT_TRUE(s.stage_enqueue("a", "1"));
        auto batch = s.begin_commit();
        ASSERT_TRUE(batch);
        EXPECT_FALSE(s.has_staged());
        EXPECT_FALSE(s.begin_commit()) << "nothing new staged";
        // Staged while the batch is being written: goes into the next one.
        ASSERT_TRUE(s.stage_enqueue("b", "2"));
        ASSERT_FALSE(s.stage_numbered_through(2));
        EXPECT_FALSE(s.write(*batch));
        auto info = s.end_commit(std::move(*batch), std::nullopt);
        ASSERT_TRUE(info);
        EXPECT_EQ(info.value().durable_before, 2u) << "a is durable, b not yet";
        EXPECT_TRUE(s.has_staged());
        // A failed write hands its changes back, in front of newer ones.
        ASSERT_TRUE(s.stage_enqueue("c", "3"));
        auto second = s.begin_commit();
        ASSERT_TRUE(second);
        ASSERT_TRUE(s.stage_enqueue("d", "4"));
        auto failed = s.end_commit(std::move(*second), core::Failure{make_error_code(store_errc::store_disk_full), "test"});
        ASSERT_FALSE(failed);
        EXPECT_EQ(failed.error(), store_errc::store_disk_full);
        EXPECT_EQ(s.stats().failed_commits, 1u);
        commit_ok(s);
    }
    auto o = open_ok(path);
    ASSERT_EQ(o.recovered.message_count(), 4u);
    const char* ids[] = {"a", "b", "c", "d"};
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(o.recovered.messages[i].id, ids[i]);
        EXPECT_EQ(o.recovered.messages[i].pos, i + 1);
    }
    EXPECT_EQ(o.recovered.messages[1].seq, 2u);
    EXPECT_EQ(o.recovered.messages[2].seq, 0u);
}

} // namespace
} // namespace tether::persist::test
