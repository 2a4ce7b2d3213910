// A Session on a fake clock with a scripted server side: tests feed frames
// and transport events by hand and read back what the session did.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "core/codec.hpp"
#include "core/session.hpp"
#include "test_support.hpp"

namespace tether::core::testing {

using tether::test::ScriptedRng;

inline SessionConfig test_config() {
    SessionConfig c;
    c.url = "ws://127.0.0.1:1/ws";
    c.heartbeat.interval = Duration(1000);
    c.backoff.base = Duration(100);
    c.backoff.max = Duration(10000);
    c.backoff.stable_after = Duration(5000);
    c.connect_timeout = Duration(3000);
    c.hello_timeout = Duration(2000);
    return c;
}

struct Harness {
    explicit Harness(SessionConfig config = test_config()) : session(std::move(config), rng) {}

    ScriptedRng rng{0};
    TimePoint now{std::chrono::hours(1)};
    Session session;
    std::vector<Action> actions;
    std::vector<Event> events;

    void drain() {
        while (auto a = session.poll_action()) actions.push_back(std::move(*a));
        while (auto e = session.poll_event()) events.push_back(std::move(*e));
    }

    // Advances virtual time, firing every timer due on the way, in order.
    void advance(Duration d) {
        const TimePoint end = now + d;
        for (int guard = 0; guard < 100000; ++guard) {
            auto t = session.poll_timeout();
            if (!t || *t > end) break;
            now = std::max(now, *t);
            session.on_timeout(now);
            drain();
        }
        now = end;
    }

    template <class T>
    std::vector<T> take() {
        std::vector<T> out;
        std::vector<Action> rest;
        for (auto& a : actions) {
            if (auto* x = std::get_if<T>(&a)) out.push_back(std::move(*x));
            else rest.push_back(std::move(a));
        }
        actions = std::move(rest);
        return out;
    }

    template <class T>
    std::vector<T> events_of() const {
        std::vector<T> out;
        for (auto& e : events)
            if (auto* x = std::get_if<T>(&e)) out.push_back(*x);
        return out;
    }

    std::vector<State> states() const {
        std::vector<State> out;
        for (auto& c : events_of<StateChanged>()) out.push_back(c.to);
        return out;
    }

    // Frames the client sent on the current connection, decoded.
    std::vector<ClientFrame> sent_frames() {
        std::vector<ClientFrame> out;
        for (auto& s : take<SendText>()) {
            auto f = decode_client_frame(s.text);
            EXPECT_TRUE(f.ok()) << s.text;
            if (f.ok()) out.push_back(std::move(f).value());
        }
        return out;
    }

    template <class T>
    std::vector<T> sent() {
        std::vector<T> out;
        for (auto& f : sent_frames())
            if (auto* x = std::get_if<T>(&f)) out.push_back(std::move(*x));
        return out;
    }

    ConnectionId expect_open() {
        auto opens = take<OpenTransport>();
        EXPECT_EQ(opens.size(), 1u);
        return opens.empty() ? 0 : opens.back().id;
    }

    // connecting -> authenticating: returns the hello the client sent.
    Hello open(ConnectionId id, std::string_view subprotocol = "tether.v1") {
        EXPECT_FALSE(session.on_transport_open(now, id, subprotocol));
        drain();
        auto hellos = sent<Hello>();
        EXPECT_EQ(hellos.size(), 1u);
        return hellos.empty() ? Hello{} : hellos.back();
    }

    void server(const std::string& text) {
        session.on_text(now, session.connection(), text);
        drain();
    }
    template <class F>
    void server_frame(const F& frame) { server(encode(frame)); }

    static Welcome welcome(std::string session = "s1", bool resumed = false, std::uint64_t last_seq = 0) {
        Welcome w;
        w.session = std::move(session);
        w.resume_token = "rt-" + std::to_string(last_seq);
        w.resumed = resumed;
        w.last_seq = last_seq;
        return w;
    }

    // idle -> ready on a fresh session.
    ConnectionId start_ready(Welcome w = welcome()) {
        EXPECT_FALSE(session.start(now));
        drain();
        return reconnect_ready(std::move(w));
    }

    // connecting -> ready (after start or after backoff fired).
    ConnectionId reconnect_ready(Welcome w) {
        const ConnectionId id = expect_open();
        open(id);
        server_frame(w);
        EXPECT_EQ(session.state(), State::ready);
        return id;
    }

    void close_transport(CloseInfo info) {
        session.on_transport_closed(now, session.connection(), info);
        drain();
    }
    static CloseInfo close_code(std::uint16_t code) {
        CloseInfo i;
        i.close_code = code;
        i.opened = true;
        return i;
    }
    static CloseInfo http(int status, std::optional<Duration> retry_after = std::nullopt) {
        CloseInfo i;
        i.error = make_error_code(errc::http_status);
        i.http_status = status;
        i.retry_after = retry_after;
        return i;
    }
    static CloseInfo transport_error(errc e) {
        CloseInfo i;
        i.error = make_error_code(e);
        return i;
    }

    std::error_code last_error() const {
        auto errs = events_of<ErrorEvent>();
        return errs.empty() ? std::error_code{} : errs.back().code;
    }
    // The first change into `to` with `reason`, if any.
    std::optional<StateChanged> entered(State to, errc reason) const {
        for (auto& c : events_of<StateChanged>())
            if (c.to == to && c.reason == reason) return c;
        return std::nullopt;
    }

    StateChanged last_change() const {
        for (auto it = events.rbegin(); it != events.rend(); ++it)
            if (auto* c = std::get_if<StateChanged>(&*it)) return *c;
        ADD_FAILURE() << "no state change";
        return {};
    }
};

} // namespace tether::core::testing
