// libFuzzer target: the input bytes drive one Session on a virtual clock.
//
// The first bytes pick a SessionConfig (small outbox bounds, short timers);
// the rest is a sequence of operations: application calls (start, send,
// close, abort, reconnect_now, provide_token), transport inputs (open with a
// random subprotocol, text that is either fuzzed bytes or a well-formed
// server frame built from fuzzed fields, binary, pong, closes with random
// close codes / HTTP statuses / errors) and timer jumps, aimed at the current
// connection, an old one or a bogus one.
//
// After EVERY step all actions and events are drained and checked, and the
// Session's invariants are asserted (abort() on violation):
//   - the state is one of the 8 legal states and StateChanged events form a
//     chain that matches state(); closed and failed are never left;
//   - outbox_size() <= max_messages, stats().outbox_bytes <= max_bytes,
//     outbox_high_water <= max_messages, and the outbox holds exactly the
//     messages send() accepted that are neither acked nor failed: each
//     MessageAcked / MessageFailed names an id send() returned, once;
//   - on the wire: client msg seqs are numbered 1, 2, 3, ... per session
//     (a new seq is always the next one), a re-sent seq carries the same id
//     as before, and at most max_in_flight msgs are on a connection unacked
//     (the harness removes those an ack frame it delivered covers);
//   - a client ack never acknowledges a seq that was not delivered
//     (1 <= seq <= last_delivered_seq()), a hello's resume.last_seq is
//     last_delivered_seq(), and its resume.attempt rises with every resume
//     hello (a server tells a stale hello from the live one by it);
//   - MessageReceived seqs go 1, 2, 3, ... within a session (restart after
//     SessionLost) and match last_delivered_seq();
//   - every frame the client sends decodes as a client frame under the
//     default limits (what a conforming server accepts), transport actions
//     name a connection the session opened, connection ids only grow;
//   - a waiting state (connecting, authenticating, ready, backoff, closing)
//     always has a timer, a terminal state has none and an empty outbox, and
//     no timer is more than a year (kMaxDuration) ahead of now;
//   - a timer that fired re-arms in the future within a few calls (no busy
//     loop), and a call that returns an error changes nothing.
//
// Set TETHER_FUZZ_TRACE=1 to print every step (used to check the seeds).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <unordered_set>
#include <variant>

#include "core/codec.hpp"
#include "core/session.hpp"

namespace {

using namespace tether::core;
using tether::errc;
using tether::SessionLostPolicy;

[[noreturn]] void violation(const char* what, int line) {
    std::fprintf(stderr, "\nsession_fuzz: invariant violated at line %d: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) violation(#cond, __LINE__);                                                                       \
    } while (false)

bool trace_enabled() {
    static const bool on = std::getenv("TETHER_FUZZ_TRACE") != nullptr;
    return on;
}

#define TRACE(...)                                                                                                     \
    do {                                                                                                               \
        if (trace_enabled()) std::fprintf(stderr, __VA_ARGS__);                                                        \
    } while (false)

enum class Op : std::uint8_t {
    start,
    send_valid,
    send_fuzzed,
    send_trusted,
    close,
    abort,
    reconnect_now,
    provide_token,
    transport_open,
    text_fuzzed,
    text_welcome,
    text_msg,
    text_ack,
    text_error,
    text_other,
    binary,
    pong,
    transport_closed,
    fire_timer,
    jump_time,
    skip_time,
    // Appended, so the checked-in seeds keep their meaning.
    network_changed,
    suspend_detected,
    network_drop,
    kMaxValue = network_drop,
};

const char* op_name(Op op) {
    static const char* const names[] = {"start",        "send_valid",   "send_fuzzed", "send_trusted",  "close",
                                        "abort",        "reconnect_now", "provide_token", "transport_open",
                                        "text_fuzzed",  "text_welcome", "text_msg",    "text_ack",      "text_error",
                                        "text_other",   "binary",       "pong",        "transport_closed",
                                        "fire_timer",   "jump_time",    "skip_time",   "network_changed",
                                        "suspend_detected", "network_drop"};
    static_assert(sizeof names / sizeof *names == static_cast<std::size_t>(Op::kMaxValue) + 1, "a name per Op");
    return names[static_cast<std::size_t>(op)];
}

constexpr std::int64_t kMsPerYear = std::chrono::duration_cast<Duration>(kMaxDuration).count();
constexpr std::size_t kMaxSteps = 512;

const std::array<const char*, 10> kValidPayloads = {
    "1", "\"hello\"", "{\"text\":\"hi\",\"n\":[1,2,3]}", "null", "true", "[]", "{}", "-0.5e3",
    "{\"a\":{\"b\":{\"c\":[[[]]]}}}", "\"\\u00e9\\ud83d\\ude00\""};

const std::array<const char*, 12> kErrorCodes = {
    "unauthorized", "forbidden",  "token_expired",    "server_busy", "rate_limited", "session_taken_over",
    "protocol_version", "bad_frame", "internal",      "",            "going_away",   "server_error"};

const std::array<const char*, 14> kOtherFrames = {
    R"({"type":"pong"})",
    R"({"type":"hello","v":1})",
    R"({"type":"bye"})",
    R"({"type":"msg","seq":1.5,"data":1})",
    R"({"type":"msg","seq":"7","data":1})",
    R"({"type":"msg","seq":-1,"data":1})",
    R"({"type":"msg","seq":18446744073709551616,"data":1})",
    R"({"type":"msg","seq":9007199254740992,"data":1})",
    R"({"type":"ack","seq":9007199254740991})",
    R"({"type":"ack"})",
    R"({"type":"welcome","session":"s","resume_token":"r","resumed":false})",
    R"({"type":"future","x":[1,2,3]})",
    R"([{"type":"ack","seq":0}])",
    "{\"type\":\"msg\",\"seq\":1,\"data\":\"\xff\"}",
};

const std::array<std::uint16_t, 22> kCloseCodes = {0,    999,  1000, 1001, 1002, 1003, 1005, 1006, 1007, 1009, 1011,
                                                   1012, 1013, 1014, 1015, 4000, 4001, 4002, 4003, 4008, 4009, 5000};

const std::array<int, 14> kHttpStatuses = {0, 0, 0, 101, 200, 301, 400, 401, 403, 404, 429, 500, 503, 599};

const std::array<errc, 16> kCloseErrors = {
    errc::connect_failed, errc::connect_timeout, errc::dns_failed,       errc::tls_error,
    errc::tls_verify_failed, errc::handshake_failed, errc::http_status,  errc::not_found,
    errc::transport_closed, errc::proxy_error,   errc::message_too_big,  errc::bad_url,
    errc::protocol_version, errc::unauthorized,  errc::forbidden,        errc::server_busy};

bool terminal(State s) { return s == State::closed || s == State::failed; }

class Driver {
public:
    explicit Driver(FuzzedDataProvider& in) : in_(in), config_(make_config(in)), rng_(in.ConsumeIntegral<std::uint8_t>()),
                                               session_(config_, rng_) {
        TRACE("config: max_messages=%zu max_bytes=%zu max_message_bytes=%zu in_flight=%zu provider=%d token=%d\n",
              config_.outbox.max_messages, config_.outbox.max_bytes, config_.outbox.max_message_bytes,
              config_.outbox.max_in_flight, config_.has_token_provider ? 1 : 0, config_.token ? 1 : 0);
        check();
    }

    void run() {
        for (std::size_t step = 0; step < kMaxSteps && in_.remaining_bytes() > 0; ++step) {
            const Op op = in_.ConsumeEnum<Op>();
            TRACE("[%zu] t=%lld %s (state %s)\n", step, static_cast<long long>(elapsed_ms()), op_name(op),
                  to_string(session_.state()));
            if (!apply(op)) return;
            check();
        }
    }

private:
    // ---- configuration --------------------------------------------------------
    static SessionConfig make_config(FuzzedDataProvider& in) {
        SessionConfig c;
        c.url = "ws://fuzz.invalid/ws";
        c.headers.emplace_back("x-fuzz", "1");
        c.outbox.max_messages = in.ConsumeIntegralInRange<std::size_t>(1, 8);
        c.outbox.max_message_bytes = in.ConsumeIntegralInRange<std::size_t>(1, 256);
        c.outbox.max_bytes = c.outbox.max_message_bytes + in.ConsumeIntegralInRange<std::size_t>(0, 768);
        c.outbox.max_in_flight = in.ConsumeIntegralInRange<std::size_t>(1, 4);
        c.inbox.ack_every = in.ConsumeIntegralInRange<std::uint32_t>(1, 4);
        c.inbox.ack_delay = Duration(in.ConsumeIntegralInRange<std::int64_t>(0, 100));
        c.heartbeat.interval = Duration(in.ConsumeIntegralInRange<std::int64_t>(10, 2000));
        if (in.ConsumeBool())
            c.heartbeat.timeout = c.heartbeat.interval + Duration(in.ConsumeIntegralInRange<std::int64_t>(1, 2000));
        c.backoff.base = Duration(in.ConsumeIntegralInRange<std::int64_t>(1, 500));
        c.backoff.max = c.backoff.base * in.ConsumeIntegralInRange<std::int64_t>(1, 100);
        c.backoff.stable_after = Duration(in.ConsumeIntegralInRange<std::int64_t>(0, 10000));
        c.backoff.max_attempts = in.ConsumeIntegralInRange<std::uint32_t>(0, 5);
        c.has_token_provider = in.ConsumeBool();
        if (in.ConsumeBool()) c.token = "static-token";
        if (in.ConsumeBool()) c.client_info = ClientInfo{"fuzz", "0.0"};
        c.on_session_lost = in.ConsumeBool() ? SessionLostPolicy::fail : SessionLostPolicy::resend;
        c.connect_timeout = Duration(in.ConsumeIntegralInRange<std::int64_t>(1, 10000));
        c.hello_timeout = Duration(in.ConsumeIntegralInRange<std::int64_t>(1, 10000));
        c.close_timeout = Duration(in.ConsumeIntegralInRange<std::int64_t>(1, 10000));
        if (in.ConsumeBool()) {
            c.decode_limits.max_bytes = in.ConsumeIntegralInRange<std::size_t>(16, 512);
            c.decode_limits.max_depth = in.ConsumeIntegralInRange<std::size_t>(1, 8);
        }
        const std::string problem = validate(c);
        if (!problem.empty()) {
            std::fprintf(stderr, "config: %s\n", problem.c_str());
            violation("the fuzzer built an invalid config", __LINE__);
        }
        return c;
    }

    // ---- operations -------------------------------------------------------------
    // Returns false to end the run (virtual time ran too far).
    bool apply(Op op) {
        switch (op) {
        case Op::start: expect_no_change_on_error([&] { return session_.start(now_); }); break;
        case Op::send_valid: {
            const std::size_t pick = in_.ConsumeIntegralInRange<std::size_t>(0, kValidPayloads.size());
            std::string payload;
            if (pick == kValidPayloads.size()) {
                payload = "\"" + std::string(in_.ConsumeIntegralInRange<std::size_t>(0, 300), 'a') + "\"";
            } else {
                payload = kValidPayloads[pick];
            }
            do_send(payload, pick_id(), PayloadCheck::validate);
            break;
        }
        case Op::send_fuzzed: {
            const std::string payload = in_.ConsumeRandomLengthString(300);
            do_send(payload, pick_id(), PayloadCheck::validate);
            break;
        }
        case Op::send_trusted: {
            // One statement per read: argument evaluation order is unspecified,
            // and the seed generator relies on the order of the reads.
            const char* payload = kValidPayloads[in_.ConsumeIntegralInRange<std::size_t>(0, kValidPayloads.size() - 1)];
            do_send(payload, pick_id(), PayloadCheck::trusted);
            break;
        }
        case Op::close: {
            Duration drain(0);
            switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
            case 0: break;
            case 1: drain = Duration(in_.ConsumeIntegralInRange<std::int64_t>(0, 5000)); break;
            case 2: drain = Duration(in_.ConsumeIntegral<std::int64_t>()); break;
            default: drain = Duration::max(); break;
            }
            expect_no_change_on_error([&] { return session_.close(now_, drain); });
            break;
        }
        case Op::abort: expect_no_change_on_error([&] { return session_.abort(now_); }); break;
        case Op::reconnect_now: expect_no_change_on_error([&] { return session_.reconnect_now(now_); }); break;
        case Op::provide_token: {
            std::optional<std::string> token;
            switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
            case 0: token = "fresh-token"; break;
            case 1: break;
            case 2: token = in_.ConsumeRandomLengthString(64); break; // maybe invalid UTF-8
            default: token = std::string("\xc3\x28", 2); break;          // invalid UTF-8
            }
            expect_no_change_on_error([&] { return session_.provide_token(now_, token); });
            break;
        }
        case Op::transport_open: {
            const ConnectionId id = pick_conn();
            std::string sub;
            switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
            case 0:
            case 1: sub = kSubprotocol; break;
            case 2: break; // none selected
            default: sub = in_.ConsumeRandomLengthString(16); break;
            }
            expect_no_change_on_error([&] { return session_.on_transport_open(now_, id, sub); });
            break;
        }
        case Op::text_fuzzed: text(in_.ConsumeRandomLengthString(512)); break;
        case Op::text_welcome: text(encode(make_welcome())); break;
        case Op::text_msg: text(encode(make_msg())); break;
        case Op::text_ack: text(encode(Ack{pick_ack_seq()})); break;
        case Op::text_error: text(encode(make_error())); break;
        case Op::text_other:
            text(kOtherFrames[in_.ConsumeIntegralInRange<std::size_t>(0, kOtherFrames.size() - 1)]);
            break;
        case Op::binary: {
            const ConnectionId id = pick_conn();
            const auto bytes = in_.ConsumeIntegral<std::uint32_t>();
            expect_no_change_on_error([&] { return session_.on_binary(now_, id, bytes); });
            break;
        }
        case Op::pong: {
            const ConnectionId id = pick_conn();
            expect_no_change_on_error([&] { return session_.on_pong(now_, id); });
            break;
        }
        case Op::transport_closed: {
            const ConnectionId id = pick_conn();
            const CloseInfo info = make_close_info();
            expect_no_change_on_error([&] { return session_.on_transport_closed(now_, id, info); });
            break;
        }
        case Op::fire_timer:
            if (const auto t = session_.poll_timeout()) {
                if (*t > now_) now_ = *t;
                fire();
            }
            break;
        case Op::jump_time:
            now_ += pick_jump();
            fire();
            break;
        case Op::skip_time: now_ += pick_jump(); break;
        case Op::network_changed: expect_no_change_on_error([&] { return session_.network_changed(now_); }); break;
        case Op::suspend_detected: {
            // The driver saw the clock leap: time has moved on by the gap.
            const Duration gap = pick_jump();
            now_ += gap;
            expect_no_change_on_error([&] { return session_.on_suspend_detected(now_, gap); });
            break;
        }
        case Op::network_drop:
            expect_no_change_on_error([&] { return session_.simulate_network_drop(now_); });
            break;
        }
        // Keep virtual time far from TimePoint's range (about 292 years of ns).
        return now_ - start_ < std::chrono::hours(24 * 365 * 50);
    }

    // The driver's timer fired at now_ (possibly late). It must re-arm in the
    // future after a few calls at most, or a real driver would spin.
    void fire() {
        session_.on_timeout(now_);
        drain();
        for (int i = 0; i < 4; ++i) {
            const auto t = session_.poll_timeout();
            if (!t || *t > now_) return;
            TRACE("  timer still due, on_timeout again\n");
            session_.on_timeout(now_);
            drain();
        }
        const auto t = session_.poll_timeout();
        FUZZ_CHECK(!t || *t > now_);
    }

    template <class F>
    void expect_no_change_on_error(F&& call) {
        const State before = session_.state();
        const std::size_t outbox = session_.outbox_size();
        const std::error_code ec = call();
        if (ec) {
            TRACE("  -> %s\n", ec.message().c_str());
            FUZZ_CHECK(session_.state() == before);
            FUZZ_CHECK(session_.outbox_size() == outbox);
            FUZZ_CHECK(!session_.has_output());
        }
        drain();
    }

    void do_send(std::string_view payload, std::string_view id, PayloadCheck check_mode) {
        const State before = session_.state();
        const std::size_t outbox = session_.outbox_size();
        auto r = session_.send(now_, payload, id, check_mode);
        if (r.ok()) {
            const MessageId mid = r.value();
            TRACE("  send -> id %llu\n", static_cast<unsigned long long>(mid));
            FUZZ_CHECK(mid != 0);
            FUZZ_CHECK(returned_.insert(mid).second); // never handed out twice
            outstanding_.insert(mid);
            FUZZ_CHECK(session_.outbox_size() == outbox + 1);
            FUZZ_CHECK(payload.size() <= config_.outbox.max_message_bytes);
        } else {
            TRACE("  send -> %s (%s)\n", r.error().message().c_str(), r.detail().c_str());
            FUZZ_CHECK(session_.state() == before);
            FUZZ_CHECK(session_.outbox_size() == outbox);
            FUZZ_CHECK(!session_.has_output());
        }
        drain();
    }

    void text(const std::string& t) {
        const ConnectionId id = pick_conn();
        // What the session will make of it (same decoder, same limits), for
        // the wire bookkeeping: an ack frees the in-flight window, a fresh
        // (resumed:false) welcome that is accepted restarts the numbering.
        const auto decoded = decode_server_frame(t, config_.decode_limits);
        const auto* ack = decoded.ok() ? std::get_if<Ack>(&decoded.value()) : nullptr;
        const auto* welcome = decoded.ok() ? std::get_if<Welcome>(&decoded.value()) : nullptr;
        const bool fresh_welcome = welcome != nullptr && !welcome->resumed && session_.state() == State::authenticating &&
                                   id == session_.connection();
        expect_no_change_on_error([&] {
            const std::error_code ec = session_.on_text(now_, id, t);
            // Before drain() sees the msgs this call queued: a fresh session
            // numbers them afresh, and an ack freed room in the window (the
            // harness removes a superset of what the outbox trimmed, which
            // can only weaken the bound, never trip it falsely).
            if (fresh_welcome && session_.state() == State::ready) wire_ids_.clear();
            if (ack != nullptr) in_flight_.erase(in_flight_.begin(), in_flight_.upper_bound(ack->seq));
            return ec;
        });
    }

    // ---- fuzzed values --------------------------------------------------------------
    ConnectionId pick_conn() {
        switch (in_.ConsumeIntegralInRange<int>(0, 7)) {
        case 5: return prev_opened_;
        case 6: return 0;
        case 7: return last_opened_ + 1; // never opened
        default: return last_opened_;
        }
    }

    std::string pick_id() {
        switch (in_.ConsumeIntegralInRange<int>(0, 5)) {
        case 4: return "fixed-id";
        case 5: return in_.ConsumeRandomLengthString(300); // maybe too long or invalid UTF-8
        default: return {};                                // generated
        }
    }

    Duration pick_jump() {
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: return Duration(in_.ConsumeIntegralInRange<std::int64_t>(0, 100));
        case 1: return Duration(in_.ConsumeIntegralInRange<std::int64_t>(0, 5000));
        case 2: return Duration(in_.ConsumeIntegralInRange<std::int64_t>(0, 120000));
        default: return Duration(in_.ConsumeIntegralInRange<std::int64_t>(0, 2 * kMsPerYear));
        }
    }

    // An optional number: absent, small (up to `small_max`) or anywhere up to kMaxSeq.
    std::optional<std::uint64_t> maybe_u53(std::uint64_t small_max) {
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
        case 1: return in_.ConsumeIntegralInRange<std::uint64_t>(0, small_max);
        case 2: return in_.ConsumeIntegralInRange<std::uint64_t>(0, kMaxSeq);
        default: return std::nullopt;
        }
    }

    std::uint64_t near(std::uint64_t base) {
        switch (in_.ConsumeIntegralInRange<int>(0, 7)) {
        case 0:
        case 1:
        case 2: return base;
        case 3: return base == 0 ? 0 : base - 1;
        case 4: return base + 1;
        case 5: return 0;
        case 6: return base + 2;
        default: return in_.ConsumeIntegralInRange<std::uint64_t>(0, kMaxSeq);
        }
    }

    Welcome make_welcome() {
        Welcome w;
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: w.session = session_.session_id().empty() ? "s1" : session_.session_id(); break;
        case 1: w.session = "s" + std::to_string(++server_sessions_ + 1); break;
        case 2: w.session = in_.ConsumeRandomLengthString(16); break;
        default: break; // empty: a violation
        }
        w.resume_token = in_.ConsumeIntegralInRange<int>(0, 7) == 0 ? "" : "rt";
        w.resumed = in_.ConsumeBool();
        w.last_seq = near(last_client_seq_);
        w.heartbeat_ms = maybe_u53(5000);
        if (in_.ConsumeBool()) w.session_ttl_ms = in_.ConsumeIntegralInRange<std::uint64_t>(0, kMaxSeq);
        return w;
    }

    ServerMsg make_msg() {
        ServerMsg m;
        m.seq = near(delivered_ + 1);
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: m.data = delivered_; break;
        case 1: m.data = in_.ConsumeRandomLengthString(32); break; // dumped with replacement if not UTF-8
        case 2: m.data = nlohmann::json{{"room", "r"}, {"text", "hi"}}; break;
        default: break; // null
        }
        if (in_.ConsumeBool()) m.id = "relay-" + std::to_string(m.seq);
        return m;
    }

    std::uint64_t pick_ack_seq() { return near(last_client_seq_); }

    ErrorFrame make_error() {
        ErrorFrame e;
        const std::size_t pick = in_.ConsumeIntegralInRange<std::size_t>(0, kErrorCodes.size());
        e.code = pick == kErrorCodes.size() ? in_.ConsumeRandomLengthString(24) : kErrorCodes[pick];
        if (in_.ConsumeBool()) e.message = "fuzz";
        e.retry_after_ms = maybe_u53(10000);
        return e;
    }

    CloseInfo make_close_info() {
        CloseInfo info;
        const std::size_t err = in_.ConsumeIntegralInRange<std::size_t>(0, kCloseErrors.size() + 3);
        if (err < kCloseErrors.size()) info.error = make_error_code(kCloseErrors[err]);
        else if (err == kCloseErrors.size()) info.error = std::make_error_code(std::errc::connection_reset);
        // else: a clean close, no error
        const std::size_t code = in_.ConsumeIntegralInRange<std::size_t>(0, kCloseCodes.size());
        info.close_code = code == kCloseCodes.size() ? in_.ConsumeIntegral<std::uint16_t>() : kCloseCodes[code];
        const std::size_t status = in_.ConsumeIntegralInRange<std::size_t>(0, kHttpStatuses.size());
        info.http_status = status == kHttpStatuses.size() ? in_.ConsumeIntegral<int>() : kHttpStatuses[status];
        switch (in_.ConsumeIntegralInRange<int>(0, 3)) {
        case 1: info.retry_after = Duration(in_.ConsumeIntegralInRange<std::int64_t>(0, 10000)); break;
        case 2: info.retry_after = Duration(in_.ConsumeIntegral<std::int64_t>()); break;
        default: break;
        }
        if (in_.ConsumeBool()) info.reason = in_.ConsumeRandomLengthString(32);
        info.opened = in_.ConsumeBool();
        return info;
    }

    // ---- draining and invariants -------------------------------------------------------
    void drain() {
        while (auto a = session_.poll_action()) on_action(*a);
        while (auto e = session_.poll_event()) on_event(*e);
        FUZZ_CHECK(!session_.has_output());
    }

    void check_conn(ConnectionId id) {
        FUZZ_CHECK(id != 0);
        FUZZ_CHECK(id <= last_opened_);
    }

    void on_action(const Action& action) {
        if (std::holds_alternative<FetchToken>(action)) {
            TRACE("  action FetchToken\n");
        } else if (const auto* open = std::get_if<OpenTransport>(&action)) {
            TRACE("  action OpenTransport %llu\n", static_cast<unsigned long long>(open->id));
            FUZZ_CHECK(open->id > last_opened_);
            FUZZ_CHECK(open->url == config_.url);
            FUZZ_CHECK(open->subprotocol == kSubprotocol);
            prev_opened_ = last_opened_;
            last_opened_ = open->id;
        } else if (const auto* send = std::get_if<SendText>(&action)) {
            TRACE("  action SendText %llu %.120s\n", static_cast<unsigned long long>(send->id), send->text.c_str());
            check_conn(send->id);
            // Whatever the client sends, a conforming server must accept.
            auto decoded = decode_client_frame(send->text);
            if (!decoded.ok()) std::fprintf(stderr, "sent: %s\n%s\n", send->text.c_str(), decoded.detail().c_str());
            FUZZ_CHECK(decoded.ok());
            if (const auto* msg = std::get_if<ClientMsg>(&decoded.value())) {
                FUZZ_CHECK(msg->seq >= 1);
                last_client_seq_ = msg->seq;
                on_wire_msg(send->id, *msg);
            } else if (const auto* ack = std::get_if<Ack>(&decoded.value())) {
                FUZZ_CHECK(ack->seq >= 1);
                FUZZ_CHECK(ack->seq <= session_.last_delivered_seq());
            } else if (const auto* hello = std::get_if<Hello>(&decoded.value())) {
                if (hello->resume) {
                    FUZZ_CHECK(hello->resume->last_seq == session_.last_delivered_seq());
                    FUZZ_CHECK(hello->resume->attempt > last_resume_attempt_);
                    last_resume_attempt_ = hello->resume->attempt;
                }
            }
            FUZZ_CHECK(!std::holds_alternative<UnknownFrame>(decoded.value()));
        } else if (const auto* ping = std::get_if<SendPing>(&action)) {
            TRACE("  action SendPing\n");
            check_conn(ping->id);
        } else if (const auto* close = std::get_if<CloseTransport>(&action)) {
            TRACE("  action CloseTransport %u\n", close->code);
            check_conn(close->id);
            FUZZ_CHECK(close->code == 1000);
        } else if (const auto* abort_transport = std::get_if<AbortTransport>(&action)) {
            TRACE("  action AbortTransport\n");
            check_conn(abort_transport->id);
        }
    }

    // A client msg on the wire: numbering, id stability, in-flight window.
    void on_wire_msg(ConnectionId conn, const ClientMsg& msg) {
        const auto known = wire_ids_.find(msg.seq);
        if (known != wire_ids_.end()) {
            FUZZ_CHECK(known->second == msg.id); // a re-send keeps its seq and id
        } else {
            // A new seq is the next one of this session.
            FUZZ_CHECK(msg.seq == (wire_ids_.empty() ? 1 : wire_ids_.rbegin()->first + 1));
            wire_ids_.emplace(msg.seq, msg.id);
        }
        if (conn != in_flight_conn_) {
            in_flight_conn_ = conn;
            in_flight_.clear();
        }
        FUZZ_CHECK(in_flight_.insert(msg.seq).second); // never twice on one connection
        FUZZ_CHECK(in_flight_.size() <= config_.outbox.max_in_flight);
    }

    void on_event(const Event& event) {
        if (const auto* c = std::get_if<StateChanged>(&event)) {
            TRACE("  event state %s -> %s (%s) retry_in=%lld\n", to_string(c->from), to_string(c->to),
                  c->reason.message().c_str(), static_cast<long long>(c->retry_in.count()));
            FUZZ_CHECK(c->from == state_);
            FUZZ_CHECK(c->to != c->from);
            FUZZ_CHECK(static_cast<int>(c->to) >= 0 && static_cast<int>(c->to) <= static_cast<int>(State::failed));
            FUZZ_CHECK(!terminal(c->from));
            FUZZ_CHECK(c->to != State::idle);
            if (c->to == State::backoff) FUZZ_CHECK(c->retry_in >= Duration::zero() && c->retry_in <= kMaxDuration);
            state_ = c->to;
        } else if (const auto* m = std::get_if<MessageReceived>(&event)) {
            TRACE("  event MessageReceived %llu\n", static_cast<unsigned long long>(m->seq));
            FUZZ_CHECK(m->seq == delivered_ + 1);
            delivered_ = m->seq;
        } else if (const auto* a = std::get_if<MessageAcked>(&event)) {
            TRACE("  event MessageAcked %llu\n", static_cast<unsigned long long>(a->id));
            finish(a->id);
            ++acked_;
        } else if (const auto* f = std::get_if<MessageFailed>(&event)) {
            TRACE("  event MessageFailed %llu (%s)\n", static_cast<unsigned long long>(f->id),
                  f->error.message().c_str());
            finish(f->id);
            FUZZ_CHECK(static_cast<bool>(f->error));
            ++failed_;
        } else if (const auto* lost = std::get_if<SessionLost>(&event)) {
            TRACE("  event SessionLost %s -> %s\n", lost->previous_session.c_str(), lost->new_session.c_str());
            delivered_ = 0;
        } else if (std::holds_alternative<SessionResumed>(event)) {
            TRACE("  event SessionResumed\n");
        } else if (const auto* err = std::get_if<ErrorEvent>(&event)) {
            TRACE("  event Error %s: %s\n", err->code.message().c_str(), err->detail.c_str());
            FUZZ_CHECK(static_cast<bool>(err->code));
        }
    }

    void finish(MessageId id) {
        FUZZ_CHECK(returned_.count(id) == 1);   // an id send() returned
        FUZZ_CHECK(outstanding_.erase(id) == 1); // reported once
    }

    void check() {
        drain();
        const State s = session_.state();
        FUZZ_CHECK(static_cast<int>(s) >= 0 && static_cast<int>(s) <= static_cast<int>(State::failed));
        FUZZ_CHECK(s == state_);

        const Stats st = session_.stats();
        FUZZ_CHECK(session_.outbox_size() <= config_.outbox.max_messages);
        FUZZ_CHECK(st.outbox_bytes <= config_.outbox.max_bytes);
        FUZZ_CHECK(st.outbox_high_water <= config_.outbox.max_messages);
        FUZZ_CHECK(st.outbox_depth == session_.outbox_size());
        FUZZ_CHECK(session_.outbox_size() == outstanding_.size());
        FUZZ_CHECK(st.messages_acked == acked_);
        FUZZ_CHECK(st.messages_failed == failed_);
        FUZZ_CHECK(st.messages_sent == returned_.size());
        FUZZ_CHECK(session_.last_delivered_seq() == delivered_);

        const auto timeout = session_.poll_timeout();
        if (timeout) FUZZ_CHECK(*timeout <= now_ + kMaxDuration);
        switch (s) {
        case State::idle: FUZZ_CHECK(session_.connection() == 0); break;
        case State::connecting:
        case State::authenticating:
        case State::backoff:
        case State::closing: FUZZ_CHECK(timeout.has_value()); break;
        case State::ready:
            FUZZ_CHECK(timeout.has_value());
            FUZZ_CHECK(session_.connection() != 0);
            FUZZ_CHECK(session_.heartbeat().active());
            break;
        case State::closed:
        case State::failed:
            FUZZ_CHECK(!timeout.has_value());
            FUZZ_CHECK(session_.outbox_size() == 0);
            FUZZ_CHECK(session_.connection() == 0);
            break;
        }
    }

    std::int64_t elapsed_ms() const { return std::chrono::duration_cast<Duration>(now_ - start_).count(); }

    FuzzedDataProvider& in_;
    SessionConfig config_;
    SplitMix64 rng_;
    Session session_;
    const TimePoint start_{std::chrono::hours(1)};
    TimePoint now_{start_};

    State state_ = State::idle;
    ConnectionId last_opened_ = 0;
    ConnectionId prev_opened_ = 0;
    std::unordered_set<MessageId> returned_;    // every id send() returned
    std::unordered_set<MessageId> outstanding_; // returned, not yet acked or failed
    std::uint64_t acked_ = 0;
    std::uint64_t failed_ = 0;
    std::uint64_t delivered_ = 0;       // last MessageReceived seq in this session
    std::uint64_t last_client_seq_ = 0; // seq of the last client msg sent
    std::uint64_t server_sessions_ = 0;
    std::uint64_t last_resume_attempt_ = 0;         // hello.resume.attempt of the last resume hello
    std::map<std::uint64_t, std::string> wire_ids_; // client msg seq -> id, this session
    ConnectionId in_flight_conn_ = 0;               // the connection in_flight_ is about
    std::set<std::uint64_t> in_flight_;             // msg seqs sent on it, not covered by an ack
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    try {
        Driver driver(in);
        driver.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "exception: %s\n", e.what());
        violation("an exception escaped the session", __LINE__);
    } catch (...) {
        violation("an exception escaped the session", __LINE__);
    }
    return 0;
}
