// The event record and router of the C ABI.
//
// Model: each tether_client owns a tether::Client whose callbacks capture a
// shared EventRouter (not the handle: the C++ client may outlive the handle
// when its teardown is deferred). On the SDK thread every event first
// updates the router's mirror of the state (for tether_client_wait_state),
// then goes either to the application's callback or to the poll queue.
//
// Callback rules: a thread_local marks "inside a tether callback"; blocking
// or destroying calls are refused there. Destroy sets `stopping`, waits for a
// running callback to return, then destroys the C++ client; callbacks that
// start after `stopping` are skipped, so none runs after destroy returns.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "tether/events.hpp"
#include "tether/options.hpp"
#include "tether/tether.h"

// Lives on the SDK thread's stack for one token callback.
struct tether_token_request {
    static constexpr std::uint32_t kMagic = 0x746f6b6eu; // "tokn"
    std::uint32_t magic = kMagic;
    std::optional<std::string> token;
};

namespace tether::c_abi {

// An event that owns its strings; `ev`'s pointers point into this object,
// which never moves (heap-allocated, handed out as internal_).
struct EventRecord {
    tether_event ev{};
    std::string data, message_id, detail, session, previous_session;
    bool has_message_id = false;

    void bind();
};

// True while this thread runs a tether callback.
bool in_callback() noexcept;

inline bool is_terminal_state(int c_state) noexcept {
    return c_state == TETHER_STATE_CLOSED || c_state == TETHER_STATE_FAILED;
}

// State shared between the handle and the C++ client's callbacks.
class EventRouter {
public:
    tether_event_fn event_cb = nullptr;
    tether_log_fn log_cb = nullptr;
    tether_token_fn token_cb = nullptr;
    void* user_data = nullptr;

    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::unique_ptr<EventRecord>> queue; // queue mode only
    bool final_queued = false;                      // a terminal state event was queued
    bool stopping = false;                          // destroy began: no more callbacks
    int in_flight = 0;                              // application callbacks running
    int state = TETHER_STATE_IDLE;                  // as dispatched
    int terminal_reason = TETHER_OK;
    std::array<std::uint64_t, kStateCount> entered{}; // times each state was entered

    void on_state(const StateChange& sc);
    void on_message(const Message& m);
    void on_acked(MessageId id);
    void on_sent(MessageId id);
    void on_failed(MessageId id, const std::string& message_id, std::error_code ec);
    void on_resumed(const std::string& session);
    void on_session_lost(const SessionLostInfo& info);
    void on_error(std::error_code ec, const std::string& detail);
    void on_durable(MessageId through);
    std::optional<std::string> on_token(bool refresh);
    void on_log(LogLevel level, std::string_view message);

private:
    // Runs an application callback unless destroy has begun.
    template <class F>
    void invoke(F&& f);
    void deliver(std::unique_ptr<EventRecord> rec);
};

} // namespace tether::c_abi
