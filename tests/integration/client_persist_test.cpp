// The durable client end to end (ClientOptions::persistence): a store file
// survives the Client and the process; the next Client resumes from it.
// Against the reference chat-server (or $TETHER_TEST_SERVER) on 127.0.0.1.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "../support/sandbox.hpp"
#include "client_test_support.hpp"

extern char** environ;

namespace tether::itest {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

ClientOptions durable_options(const std::string& url, Recorder& rec, const std::string& store) {
    ClientOptions o = test_options(url, rec);
    o.persistence.path = store;
    return o;
}

bool all_acked(const Recorder& r, MessageId n) {
    for (MessageId id = 1; id <= n; ++id)
        if (!r.acked_set.count(id)) return false;
    return true;
}

TEST(ClientPersist, MessagesSentOfflineSurviveTheClientAndGoOutOnceFromTheNext) {
    ServerProcess server({"--echo"});
    TempDir dir;
    const std::string store = dir.file("client.db");
    {
        Recorder rec;
        Client offline(durable_options(server.url(), rec, store)); // never connects
        EXPECT_TRUE(offline.recovered().created);
        for (int i = 1; i <= 200; ++i) ASSERT_TRUE(offline.send({{"n", i}}, "m-" + std::to_string(i)));
    } // destroyed: the store keeps the session and the outbox

    Recorder rec;
    std::set<int> echoed;
    int echo_duplicates = 0;
    rec.on_message_hook = [&](const Message& m) {
        if (m.data.contains("echo") && !echoed.insert(m.data["echo"]["n"].get<int>()).second) ++echo_duplicates;
    };
    Client client(durable_options(server.url(), rec, store));
    const Recovered& r = client.recovered();
    EXPECT_FALSE(r.created);
    ASSERT_EQ(r.messages, 200u);
    EXPECT_EQ(r.queued_total, 200u);
    EXPECT_EQ(r.message_ids.front(), "m-1");
    EXPECT_EQ(r.message_ids.back(), "m-200");
    EXPECT_GT(r.bytes, 0u);
    ASSERT_FALSE(client.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(10000), [&](const Recorder& x) {
        return all_acked(x, 200) && echoed.size() == 200;
    })) << rec.summary();
    EXPECT_EQ(echo_duplicates, 0);
    EXPECT_EQ(client.stats().frames_resent, 0u) << "nothing had been on the wire";
}

TEST(ClientPersist, ANewClientOnTheStoreResumesTheStoredSession) {
    ServerProcess server({"--echo"});
    TempDir dir;
    const std::string store = dir.file("client.db");
    std::string session;
    {
        Recorder rec;
        Client first(durable_options(server.url(), rec, store));
        ASSERT_FALSE(first.connect());
        for (int i = 1; i <= 20; ++i) ASSERT_TRUE(first.send({{"n", i}}));
        ASSERT_TRUE(rec.wait_for(milliseconds(5000), [](const Recorder& x) { return all_acked(x, 20); }));
        // The echoes were processed; their acks go out after on_message returned.
        ASSERT_TRUE(rec.wait_for(milliseconds(5000), [](const Recorder& x) { return x.messages.size() >= 20; }));
        session = first.session_id();
    }
    Recorder rec;
    Client second(durable_options(server.url(), rec, store));
    EXPECT_EQ(second.recovered().session, session);
    EXPECT_EQ(second.recovered().messages, 0u);
    ASSERT_FALSE(second.connect());
    ASSERT_TRUE(rec.wait_for(milliseconds(5000), [](const Recorder& x) { return !x.resumed.empty(); }))
        << rec.summary();
    EXPECT_EQ(second.session_id(), session);
    EXPECT_EQ(second.stats().resumes, 1u);
    EXPECT_EQ(second.stats().sessions_lost, 0u);
    // The echoes the first client processed are not delivered again.
    ASSERT_TRUE(second.send({{"n", 21}}));
    ASSERT_TRUE(rec.wait_for(milliseconds(5000), [](const Recorder& x) { return x.messages.size() >= 1; }));
    rec.with_lock([](const Recorder& x) {
        ASSERT_EQ(x.messages.size(), 1u);
        EXPECT_EQ(x.messages[0].data["echo"]["n"], 21);
    });
}

TEST(ClientPersist, CloseEndsTheStoredSessionAndAbortFailsTheStoredMessages) {
    ServerProcess server({"--echo"});
    TempDir dir;
    const std::string store = dir.file("client.db");
    {
        Recorder rec;
        Client c(durable_options(server.url(), rec, store));
        ASSERT_FALSE(c.connect());
        ASSERT_TRUE(c.send({{"n", 1}}));
        ASSERT_TRUE(rec.wait_for(milliseconds(5000), [](const Recorder& x) { return x.state == State::ready; }));
        ASSERT_FALSE(c.close());
        EXPECT_EQ(c.wait_until_terminal(scaled(milliseconds(5000))), State::closed);
    }
    {
        Recorder rec;
        Client c(durable_options(server.url(), rec, store));
        EXPECT_TRUE(c.recovered().session.empty()) << "bye ended the session";
        EXPECT_EQ(c.recovered().messages, 0u);
        ASSERT_TRUE(c.send({{"n", 2}}));
        ASSERT_FALSE(c.abort());
    }
    Recorder rec;
    Client c(durable_options(server.url(), rec, store));
    EXPECT_EQ(c.recovered().messages, 0u) << "abort failed the message back to the application";
    EXPECT_EQ(c.recovered().queued_total, 2u);
}

TEST(ClientPersist, ASecondClientOnTheSameStoreIsRefusedAndTheFirstCarriesOn) {
    ServerProcess server({"--echo"});
    TempDir dir;
    const std::string store = dir.file("client.db");
    Recorder rec;
    Client first(durable_options(server.url(), rec, store));
    Recorder rec2;
    std::error_code ec;
    std::string detail;
    auto second = Client::create(durable_options(server.url(), rec2, store), ec, &detail);
    EXPECT_FALSE(second);
    EXPECT_EQ(ec, errc::store_locked) << detail;
    EXPECT_TRUE(ec == error_kind::storage);
    EXPECT_NE(detail.find("client.db"), std::string::npos) << detail;
    ASSERT_FALSE(first.connect());
    ASSERT_TRUE(first.send({{"n", 1}}));
    ASSERT_TRUE(rec.wait_for(milliseconds(5000), [](const Recorder& x) { return all_acked(x, 1); }));
}

TEST(ClientPersist, ADamagedOrForeignFileIsAClearErrorAndIsLeftAsItIs) {
    TempDir dir;
    Recorder rec;
    const std::string url = "ws://127.0.0.1:1/ws";
    struct Row {
        const char* name;
        std::string content;
        errc want;
    };
    std::string real;
    {
        const std::string path = dir.file("real.db");
        {
            Client c(durable_options(url, rec, path));
            for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.send({{"n", i}}));
        }
        real = read_file(path);
        ASSERT_GT(real.size(), 4096u);
    }
    const Row rows[] = {
        {"text file", "hello, this is not a database\n", errc::store_foreign},
        {"sqlite header only", std::string("SQLite format 3\0", 16), errc::store_corrupt},
        {"truncated to half", real.substr(0, real.size() / 2), errc::store_corrupt},
    };
    for (const Row& row : rows) {
        const std::string path = dir.file(std::string(row.name) + ".db");
        {
            std::ofstream out(path, std::ios::binary);
            out << row.content;
        }
        std::error_code ec;
        std::string detail;
        auto c = Client::create(durable_options(url, rec, path), ec, &detail);
        EXPECT_FALSE(c) << row.name;
        EXPECT_EQ(ec, row.want) << row.name << ": " << ec.message() << " " << detail;
        const std::string after = read_file(path);
        EXPECT_EQ(after, row.content) << row.name << ": the file must not be changed";
    }
}

TEST(ClientPersist, OnDurableReachesTheLastMessageSent) {
    TempDir dir;
    Recorder rec;
    std::atomic<MessageId> durable{0};
    ClientOptions o = durable_options("ws://127.0.0.1:1/ws", rec, dir.file("client.db"));
    o.callbacks.on_durable = [&](MessageId through) {
        EXPECT_GT(through, durable.load()) << "the watermark only rises";
        durable = through;
        rec.notify();
    };
    Client c(o);
    MessageId last = 0;
    for (int i = 0; i < 1000; ++i) {
        auto r = c.send({{"n", i}});
        ASSERT_TRUE(r);
        last = r.id;
    }
    EXPECT_TRUE(rec.wait_for(milliseconds(5000), [&](const Recorder&) { return durable.load() == last; }))
        << "durable through " << durable.load() << " of " << last;
}

// ~Client returns only when the client is gone: its store is released, so the
// next client on the file opens it. (A pump queued behind the teardown used to
// keep the client alive on the io thread; at exit that ran after main.)
TEST(ClientPersist, TheNextClientOpensTheStoreAsSoonAsTheLastIsDestroyed) {
    TempDir dir;
    const std::string store = dir.file("client.db");
    for (int round = 0; round < 200; ++round) {
        Recorder rec;
        std::error_code ec;
        std::string detail;
        auto c = Client::create(durable_options("ws://127.0.0.1:1/ws", rec, store), ec, &detail);
        ASSERT_TRUE(c) << "round " << round << ": " << ec.message() << " " << detail;
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(c->send({{"round", round}, {"n", i}}));
    }
}

// A full disk under a running client: one on_error(store_disk_full) for the
// streak, sends still accepted, nothing durable past the last commit; once
// space returns the same messages commit and on_durable reaches the last.
TEST(ClientPersist, AFullDiskIsReportedOnceAndTheMessagesCommitWhenSpaceReturns) {
    TempDir dir;
    const auto result = test::run_child([&]() -> std::string {
        test::Tmpfs fs(dir.path(), 4 << 20);
        if (!fs.error().empty()) return "skip: " + fs.error();
        Recorder rec;
        std::atomic<MessageId> durable{0};
        ClientOptions o = durable_options("ws://127.0.0.1:1/ws", rec, dir.file("client.db"));
        o.log_level = LogLevel::debug;
        o.callbacks.on_durable = [&](MessageId through) {
            durable = through;
            rec.notify();
        };
        auto c = std::make_unique<Client>(o);
        const MessageId first = c->send({{"n", 0}}).id;
        if (!rec.wait_for(milliseconds(5000), [&](const Recorder&) { return durable.load() == first; }))
            return "the first message never became durable";
        test::fill_file_system(dir.file("filler"));
        MessageId last = 0;
        for (int i = 1; i <= 300; ++i) {
            const SendResult r = c->send({{"n", i}, {"pad", std::string(2000, 'p')}});
            if (!r) return "send " + std::to_string(i) + " refused on a full disk: " + r.detail;
            last = r.id;
        }
        if (!rec.wait_for(milliseconds(5000),
                          [](const Recorder& x) { return x.count_errors(errc::store_disk_full) > 0; }))
            return "no store_disk_full error: " + rec.summary();
        if (durable.load() != first) return "durable moved on a full disk: " + std::to_string(durable.load());
        ::unlink(dir.file("filler").c_str());
        if (!rec.wait_for(milliseconds(10000), [&](const Recorder&) { return durable.load() == last; }))
            return "after space returned, durable through " + std::to_string(durable.load()) + " of " +
                   std::to_string(last) + "\n" + rec.log_tail();
        const std::size_t reported = rec.with_lock([](const Recorder& x) { return x.count_errors(errc::store_disk_full); });
        c.reset();
        const std::string log = rec.log_tail(400);
        const auto at = log.find(" failed commits");
        const auto from = log.rfind(' ', at == std::string::npos ? 0 : at - 1);
        return "ok reported=" + std::to_string(reported) +
               " failed_commits=" + (at == std::string::npos ? "?" : log.substr(from + 1, at - from - 1)) +
               " recovered_logged=" + (log.find("accepts commits again") != std::string::npos ? "1" : "0");
    });
    ASSERT_TRUE(WIFEXITED(result.status)) << "the child died: status " << result.status << " " << result.report;
    if (result.report.rfind("skip: ", 0) == 0) GTEST_SKIP() << result.report;
    ASSERT_EQ(result.report.rfind("ok ", 0), 0u) << result.report;
    EXPECT_NE(result.report.find("reported=1 "), std::string::npos) << "one error per streak: " << result.report;
    EXPECT_NE(result.report.find("recovered_logged=1"), std::string::npos) << result.report;
    std::printf("%s\n", result.report.c_str());
}

// ---- the crash loop: kill -9 tether-cli at 20 points --------------------------

std::size_t count_lines(const std::string& path) {
    const std::string text = read_file(path);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// tether-cli as a child with stdout and stderr to files; killed if still running.
class CliProcess {
public:
    CliProcess(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
        std::vector<std::string> storage{TETHER_CLI};
        storage.insert(storage.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& s : storage) argv.push_back(s.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn tether-cli");
    }
    ~CliProcess() {
        if (pid_ > 0) kill9();
    }
    // The exit status if it has exited (waited for), else nullopt.
    std::optional<int> exited() {
        int status = 0;
        if (pid_ <= 0 || ::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    int wait() {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    void kill9() {
        ::kill(pid_, SIGKILL);
        wait();
    }

private:
    pid_t pid_ = -1;
};

// The value of " name=N" in chat-server's stats line ("" when absent).
std::string stat_field(const std::string& log, const std::string& name) {
    const std::string key = " " + name + "=";
    const auto at = log.find(key, log.find("chat-server: stats "));
    if (at == std::string::npos) return "";
    const auto begin = at + key.size();
    return log.substr(begin, log.find_first_not_of("0123456789", begin) - begin);
}

TEST(ClientPersistCrash, KillNineAtTwentyPointsLosesAndDuplicatesNothing) {
    TempDir dir;
    const std::string server_log = dir.file("server.err");
    ServerProcess server({"--echo", "--verbose"}, server_log);
    const std::string store = dir.file("cli.db");
    const std::string echoes = store + ".echoes";
    const std::vector<std::string> args{"--url", server.url(), "--count", "10000", "--store", store,
                                        "--expect-echo", "--backoff-base-ms", "20", "--backoff-max-ms", "200",
                                        "--timeout-s", "60"};
    // 20 kill points over the run, by progress (echo lines delivered), so
    // that each lands while messages are in flight.
    const auto seed = std::random_device{}();
    std::mt19937 rng(seed);
    std::vector<std::size_t> points(20);
    for (auto& p : points) p = std::uniform_int_distribution<std::size_t>(1, 9800)(rng);
    std::sort(points.begin(), points.end());
    SCOPED_TRACE("seed " + std::to_string(seed));

    int killed = 0;
    for (std::size_t k = 0; k < points.size(); ++k) {
        const std::string tag = dir.file("run" + std::to_string(k));
        CliProcess cli(args, tag + ".out", tag + ".err");
        const auto deadline = Clock::now() + scaled(milliseconds(30000));
        bool done = false;
        while (Clock::now() < deadline) {
            if (auto rc = cli.exited()) { // finished before its kill point
                done = true;
                EXPECT_EQ(*rc, 0) << read_file(tag + ".err");
                break;
            }
            if (count_lines(echoes) >= points[k]) break;
            ::usleep(500); // polling a file the child appends to, under a deadline
        }
        if (done) break;
        ASSERT_LT(Clock::now(), deadline) << "run " << k << " made no progress: " << read_file(tag + ".err");
        cli.kill9();
        ++killed;
    }
    EXPECT_GE(killed, 15) << "most kill points must land before the run completes";

    const std::string tag = dir.file("final");
    CliProcess last(args, tag + ".out", tag + ".err");
    ASSERT_EQ(last.wait(), 0) << read_file(tag + ".err") << read_file(tag + ".out");
    const auto summary = nlohmann::json::parse(read_file(tag + ".out"));
    EXPECT_EQ(summary["sent"], 10000) << summary.dump();
    EXPECT_EQ(summary["acked"], 10000) << summary.dump();
    EXPECT_EQ(summary["echoes"], 10000) << summary.dump();
    EXPECT_EQ(summary["echo_gap"], false);

    // The client saw each echo at least once, with no gap in the server's seqs.
    std::set<std::uint64_t> seqs, ns;
    std::size_t lines = 0;
    {
        std::ifstream in(echoes);
        std::string word;
        std::uint64_t seq = 0, n = 0;
        while (in >> word >> seq >> n) {
            ASSERT_EQ(word, "SERVER_SEQ");
            seqs.insert(seq);
            ns.insert(n);
            ++lines;
        }
    }
    EXPECT_EQ(ns.size(), 10000u);
    EXPECT_EQ(*ns.begin(), 1u);
    EXPECT_EQ(*ns.rbegin(), 10000u);
    EXPECT_EQ(seqs.size(), *seqs.rbegin()) << "a gap in the delivered server seqs";
    RecordProperty("kills", killed);
    RecordProperty("echo_lines", static_cast<int>(lines));

    // The server's application saw each message exactly once, in one session.
    if (server_is_reference()) {
        ASSERT_TRUE(server.terminate(scaled(milliseconds(5000))).has_value());
        const std::string log = read_file(server_log);
        ASSERT_NE(log.find("chat-server: stats "), std::string::npos) << log;
        EXPECT_EQ(stat_field(log, "sessions"), "1") << log;
        EXPECT_EQ(stat_field(log, "resume_misses"), "0") << log;
        EXPECT_EQ(stat_field(log, "msgs_in"), "10000") << "msgs_in: every id processed exactly once; " << log;
    }
    std::cout << "crash loop: kills=" << killed << " echo lines=" << lines << " (duplicates " << lines - ns.size()
              << ") seed=" << seed << "\n";
}

} // namespace
} // namespace tether::itest
