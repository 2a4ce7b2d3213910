// A reader that stops reading while its room keeps talking: the proxy
// blackholes the reader's connection, so TCP buffers fill. The reference
// server hands a connection's transport at most --send-window-bytes of msgs it
// has not written yet; the rest waits in the session's replay buffer, and goes
// out as the transport drains (the server polls it while msgs are held).
// tether-gin-server's write pump takes the next msg from the replay buffer
// only when the socket took the last one (protocol.md §9). When the reader's
// path works again it gets every message exactly once, in order, on the same
// connection: the server's memory for a stalled reader is its replay buffer
// plus one window, not everything anyone sent it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client_test_support.hpp"
#include "fault_proxy/fault_proxy.hpp"

namespace tether::itest {
namespace {

using testing::FaultProxy;

constexpr std::uint64_t kMessages = 64;
constexpr std::size_t kFiller = 256 * 1024; // 16 MiB in all: many windows, more than the kernel buffers

std::vector<std::uint64_t> room_ns(const Recorder& r) {
    std::vector<std::uint64_t> out;
    for (const auto& m : r.messages)
        if (m.data.is_object() && m.data.contains("n")) out.push_back(m.data.at("n").get<std::uint64_t>());
    return out;
}

TEST(ClientSlowConsumer, AStalledReaderGetsEverythingOnceWhenItReadsAgain) {
    // No server pings: nothing but the reader's stall is going on.
    std::vector<std::string> args = {"--heartbeat-ms", "0"};
    if (server_has_option("--send-window-bytes")) args.insert(args.end(), {"--send-window-bytes", "1048576"});
    ServerProcess server(args);
    FaultProxy proxy("127.0.0.1", server.port());

    Recorder reader_rec;
    ClientOptions ro = test_options("ws://127.0.0.1:" + std::to_string(proxy.port()) + "/ws", reader_rec);
    ro.heartbeat.interval = milliseconds(60000); // the reader must not notice the stall itself
    ro.heartbeat.timeout = milliseconds(120000);
    Client reader(ro);
    Recorder talker_rec;
    Client talker(test_options(server.url(), talker_rec));

    ASSERT_FALSE(reader.connect());
    ASSERT_FALSE(talker.connect());
    for (Recorder* r : {&reader_rec, &talker_rec})
        ASSERT_TRUE(r->wait_for(milliseconds(10000), [](const Recorder& x) { return x.state == State::ready; }))
            << r->summary();
    reader.send(nlohmann::json{{"room", "r"}});
    talker.send(nlohmann::json{{"room", "r"}});
    for (Recorder* r : {&reader_rec, &talker_rec})
        ASSERT_TRUE(r->wait_for(milliseconds(10000), [](const Recorder& x) { return x.acked_set.size() == 1; }))
            << r->summary();

    proxy.set_mode(FaultProxy::Mode::blackhole);
    const std::string filler(kFiller, 'x');
    for (std::uint64_t n = 0; n < kMessages; ++n) talker.send(nlohmann::json{{"room", "r"}, {"text", filler}, {"n", n}});
    // The server relays each message to both members in one step: once the
    // talker has its own copy of the last one, the reader's are all queued.
    ASSERT_TRUE(talker_rec.wait_for(milliseconds(60000), [](const Recorder& r) { return room_ns(r).size() == kMessages; }))
        << talker_rec.summary();

    // Only the server's drain polling can release what it holds now: nobody sends any more.
    proxy.set_mode(FaultProxy::Mode::pass);
    ASSERT_TRUE(reader_rec.wait_for(milliseconds(60000), [](const Recorder& r) { return room_ns(r).size() >= kMessages; }))
        << reader_rec.summary() << reader_rec.log_tail();

    const Stats st = reader.stats();
    EXPECT_EQ(st.reconnects, 0u) << "a stalled reader is paced, not dropped";
    EXPECT_EQ(st.sessions_lost, 0u);
    reader_rec.with_lock([](const Recorder& r) {
        const auto ns = room_ns(r);
        ASSERT_EQ(ns.size(), kMessages) << "duplicates delivered";
        for (std::uint64_t n = 0; n < kMessages; ++n) EXPECT_EQ(ns[n], n);
    });
}

} // namespace
} // namespace tether::itest
