// Crash safety: a child process stages and commits a deterministic stream of
// changes and is killed with SIGKILL at 20 random points; after each kill the
// store must hold exactly the state after some commit c, with c at least the
// last commit the child reported (what was committed is there) and at most
// one more (nothing half-written). A plain reference model of the store's
// semantics gives the expected state, so this also checks the seq arithmetic.
#include <signal.h>
#include <sys/prctl.h>

#include <deque>
#include <random>

#include "persist_test_support.hpp"

namespace tether::persist::test {
namespace {

struct ModelMessage {
    std::uint64_t pos = 0, seq = 0;
    std::string id, data;
};

// What the store should hold, kept the simple way: a seq on every message.
struct Model {
    std::string session, token;
    std::uint64_t attempt = 0, last = 0, next_seq = 1, next_pos = 1, commits = 0;
    std::deque<ModelMessage> queue;
};

std::uint64_t pick(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
}

// The changes of commit number `k`, applied to the model and (if given) staged
// on the store. A function of (seed, k, model state) only.
void turn(std::uint64_t seed, std::uint64_t k, Model& m, Store* store) {
    std::mt19937_64 rng(seed * 1000003u + k);
    auto stage = [&](std::error_code ec) {
        if (ec) std::abort(); // the child dies: the parent's checks fail loudly
    };
    if (k == 1 || pick(rng, 0, 99) < 4) {
        const std::string s = "s-" + std::to_string(k), t = "t-" + std::to_string(k);
        m.session = s;
        m.token = t;
        m.last = 0;
        m.next_seq = 1;
        for (auto& msg : m.queue) msg.seq = 0;
        if (store) stage(store->stage_new_session(s, t));
    } else if (pick(rng, 0, 99) < 30) {
        m.token = "t-" + std::to_string(k);
        if (store) stage(store->stage_resumed(m.session, m.token));
    }
    if (pick(rng, 0, 99) < 15) {
        m.attempt += pick(rng, 1, 3);
        if (store) stage(store->stage_resume_attempt(m.attempt));
    }
    const std::uint64_t enqueues = pick(rng, 1, 40); // never an empty turn: each one is a commit
    for (std::uint64_t i = 0; i < enqueues; ++i) {
        const std::string id = "m-" + std::to_string(k) + "-" + std::to_string(i);
        const std::string data(pick(rng, 0, 100) < 5 ? pick(rng, 1000, 9000) : pick(rng, 0, 120),
                               static_cast<char>('a' + (k + i) % 26));
        m.queue.push_back(ModelMessage{m.next_pos++, 0, id, data});
        if (store && !store->stage_enqueue(id, data)) std::abort();
    }
    std::uint64_t unnumbered = 0;
    for (const auto& msg : m.queue) unnumbered += msg.seq == 0 ? 1 : 0;
    if (unnumbered > 0 && pick(rng, 0, 99) < 70) {
        std::uint64_t n = pick(rng, 1, unnumbered);
        for (auto& msg : m.queue)
            if (msg.seq == 0 && n > 0) {
                msg.seq = m.next_seq++;
                --n;
            }
        if (store) stage(store->stage_numbered_through(m.next_seq - 1));
    }
    if (m.next_seq > 1 && pick(rng, 0, 99) < 60) {
        const std::uint64_t through = pick(rng, 0, m.next_seq - 1);
        while (!m.queue.empty() && m.queue.front().seq != 0 && m.queue.front().seq <= through) m.queue.pop_front();
        if (store) stage(store->stage_acked_through(through));
    }
    if (pick(rng, 0, 99) < 50) {
        m.last += pick(rng, 1, 20);
        if (store) stage(store->stage_inbound_last(m.last));
    }
    if (pick(rng, 0, 99) < 2) {
        m.queue.clear();
        if (store) store->stage_clear_outbox();
    }
    m.commits = k;
}

Model replay(std::uint64_t seed, std::uint64_t commits) {
    Model m;
    for (std::uint64_t k = 1; k <= commits; ++k) turn(seed, k, m, nullptr);
    return m;
}

void expect_matches(const Recovered& r, const Model& m) {
    EXPECT_EQ(r.commits, m.commits);
    EXPECT_EQ(r.session.session, m.session);
    EXPECT_EQ(r.session.resume_token, m.token);
    EXPECT_EQ(r.session.resume_attempt, m.attempt);
    EXPECT_EQ(r.session.inbound_last, m.last);
    EXPECT_EQ(r.next_seq, m.next_seq);
    ASSERT_EQ(r.messages.size(), m.queue.size());
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < m.queue.size(); ++i) {
        const auto& got = r.messages[i];
        const auto& want = m.queue[i];
        ASSERT_EQ(got.pos, want.pos) << i;
        ASSERT_EQ(got.seq, want.seq) << i;
        ASSERT_EQ(got.id, want.id) << i;
        ASSERT_EQ(got.data, want.data) << i;
        bytes += want.id.size() + want.data.size();
    }
    EXPECT_EQ(r.message_bytes, bytes);
}

// Child: continue from the store, report every commit number on `out`.
[[noreturn]] void writer(const std::string& path, Durability durability, std::uint64_t seed, int out) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto opened = Store::open(StoreOptions{path, durability});
    if (!opened) ::_exit(3);
    Store& store = *opened.value().store;
    Model m = replay(seed, opened.value().recovered.commits);
    for (;;) {
        turn(seed, m.commits + 1, m, &store);
        if (!store.commit()) ::_exit(4);
        const std::uint64_t done = m.commits;
        if (::write(out, &done, sizeof done) != static_cast<ssize_t>(sizeof done)) ::_exit(5);
    }
}

TEST(StoreCrash, SigkillAtTwentyRandomPointsKeepsTheCommittedPrefix) {
    TempDir dir;
    const std::string path = dir.file("s.db");
    // TETHER_CRASH_SEED=N reproduces a run (the kill points still vary).
    const char* forced = std::getenv("TETHER_CRASH_SEED");
    const std::uint64_t seed = forced ? std::strtoull(forced, nullptr, 10) : std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const Durability settings[] = {Durability::off, Durability::normal, Durability::full};
    std::uint64_t reported = 0;
    int in_flight_recovered = 0; // kills after a commit's data was written but before it was reported
    for (int round = 0; round < 20; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            writer(path, settings[round % 3], seed, fds[1]);
        }
        ::close(fds[1]);
        const std::uint64_t target = reported + pick(rng, 1, 80);
        std::uint64_t value = 0;
        while (reported < target && ::read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value))
            reported = value;
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        while (::read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value)) reported = value;
        ::close(fds[0]);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            << "the writer ended on its own (status " << status << ")";
        ASSERT_GE(reported, target);

        auto opened = Store::open(StoreOptions{path});
        ASSERT_TRUE(opened) << opened.detail();
        const Recovered& r = opened.value().recovered;
        EXPECT_GE(r.commits, reported); // what was committed is there
        EXPECT_LE(r.commits, reported + 1); // at most the commit in flight, whole
        expect_matches(r, replay(seed, r.commits));
        if (HasFatalFailure()) return;
        in_flight_recovered += r.commits > reported ? 1 : 0;
        reported = r.commits;
    }
    std::printf("20 kills, %llu commits; %d kills landed after a commit completed and before it was reported\n",
                static_cast<unsigned long long>(reported), in_flight_recovered);
    // Only the store and (while it is closed, none) WAL are in the directory.
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
        EXPECT_TRUE(e.path().filename() == "s.db" || e.path().filename() == "s.db-wal") << e.path();
}

} // namespace
} // namespace tether::persist::test
