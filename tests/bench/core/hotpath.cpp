// tether_hotpath: fixed-count loops over the per-message hot paths of the
// core and the reference server's hub, for instruction counts under
// callgrind (repeatable on a loaded machine, unlike timings):
//
//   valgrind --tool=callgrind --callgrind-out-file=/dev/null tether_hotpath client-send 200000
//
// Run each scenario at two counts and divide the difference in instructions
// (the "Collected" line) by the difference in counts: instructions per
// message, without start-up. docs/performance.md lists the figures.
//
// Scenarios (64 B JSON payloads):
//   client-send   Session::send (validated payload, generated id), the msg
//                 frame drained as an action, a cumulative ack every 32
//   client-recv   Session::on_text of a server msg, its event drained
//   hub-sink      ProtocolServer::on_text of a client msg in rooms mode (acked, no reply)
//   hub-echo      ProtocolServer::on_text of a client msg in echo mode (reply built)
//   validate      validate_json_value of the payload
//   decode-msg    decode_server_frame of a server msg
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>

#include "core/codec.hpp"
#include "core/session.hpp"
#include "hub.hpp"

namespace {

using namespace tether::core;

const std::string kPayload = R"({"i":"0000000042","p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})"; // 64 B

volatile std::size_t g_sink = 0;

// Drives `s` to ready; returns the connection id.
ConnectionId make_ready(Session& s) {
    ConnectionId conn = 0;
    const TimePoint now{};
    s.start(now);
    while (auto a = s.poll_action())
        if (auto* o = std::get_if<OpenTransport>(&*a)) conn = o->id;
    s.on_transport_open(now, conn, "tether.v1");
    Welcome w;
    w.session = "s";
    w.resume_token = "t";
    s.on_text(now, conn, encode(w));
    while (s.poll_action()) {
    }
    while (s.poll_event()) {
    }
    return conn;
}

SessionConfig config() {
    SessionConfig c;
    c.url = "ws://x/ws";
    return c;
}

void client_send(long n) {
    SplitMix64 rng(1);
    Session s(config(), rng);
    const ConnectionId conn = make_ready(s);
    const TimePoint now{};
    std::string ack;
    for (long i = 1; i <= n; ++i) {
        auto r = s.send(now, kPayload, {}, PayloadCheck::validate);
        g_sink += r.ok();
        while (auto a = s.poll_action()) g_sink += a->index();
        if (i % 32 == 0) {
            ack = "{\"type\":\"ack\",\"seq\":" + std::to_string(i) + "}";
            s.on_text(now, conn, ack);
            while (auto e = s.poll_event()) g_sink += e->index();
        }
    }
}

void client_recv(long n) {
    SplitMix64 rng(1);
    Session s(config(), rng);
    const ConnectionId conn = make_ready(s);
    const TimePoint now{};
    const std::string tail = R"(,"id":"0123456789abcdef-42","data":)" + kPayload + "}";
    std::string text;
    for (long i = 1; i <= n; ++i) {
        text = R"({"type":"msg","seq":)"; // what a server sends
        text += std::to_string(i);
        text += tail;
        s.on_text(now, conn, text);
        while (auto e = s.poll_event()) g_sink += e->index();
        while (auto a = s.poll_action()) g_sink += a->index();
    }
}

void hub(long n, bool echo) {
    tether::chat::ProtocolServerOptions o;
    o.echo = echo;
    int secrets = 0;
    tether::chat::ProtocolServer hub(o, [&secrets] { return "secret" + std::to_string(++secrets); });
    const TimePoint now{};
    hub.on_open(1, now);
    hub.on_text(1, R"({"type":"hello","v":1})", now);
    (void)hub.take_actions();
    std::string frame;
    for (long i = 1; i <= n; ++i) {
        frame.clear();
        append_client_msg(frame, static_cast<std::uint64_t>(i), "0123456789abcdef-42", kPayload);
        hub.on_text(1, frame, now);
        for (auto& a : hub.take_actions()) g_sink += a.text.size();
        if (echo && i % 32 == 0) hub.on_text(1, "{\"type\":\"ack\",\"seq\":" + std::to_string(i) + "}", now);
    }
}

void validate(long n) {
    for (long i = 0; i < n; ++i) g_sink += static_cast<std::size_t>(validate_json_value(kPayload, DecodeLimits{}).value());
}

void decode_msg(long n) {
    ServerMsg m;
    m.seq = 12345;
    m.data = nlohmann::json::parse(kPayload);
    m.id = "0123456789abcdef-42";
    const std::string text = encode(m);
    for (long i = 0; i < n; ++i) g_sink += decode_server_frame(text).ok();
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: tether_hotpath client-send|client-recv|hub-sink|hub-echo|validate|decode-msg N\n");
        return 2;
    }
    const std::string what = argv[1];
    const long n = std::strtol(argv[2], nullptr, 10);
    if (what == "client-send") client_send(n);
    else if (what == "client-recv") client_recv(n);
    else if (what == "hub-sink") hub(n, false);
    else if (what == "hub-echo") hub(n, true);
    else if (what == "validate") validate(n);
    else if (what == "decode-msg") decode_msg(n);
    else {
        std::fprintf(stderr, "unknown scenario %s\n", what.c_str());
        return 2;
    }
    std::printf("%s x %ld done (%zu)\n", what.c_str(), n, static_cast<std::size_t>(g_sink));
    return 0;
}
