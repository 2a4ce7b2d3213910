#include "event_router.hpp"

#include <utility>

#include "errors.hpp"

namespace tether::c_abi {
namespace {

// Non-null while this thread runs a tether callback.
thread_local const void* t_in_callback = nullptr;

class CallbackScope {
public:
    explicit CallbackScope(const void* router) : saved_(t_in_callback) { t_in_callback = router; }
    ~CallbackScope() { t_in_callback = saved_; }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;

private:
    const void* saved_;
};

} // namespace

bool in_callback() noexcept { return t_in_callback != nullptr; }

void EventRecord::bind() {
    ev.struct_size = sizeof(tether_event);
    ev.data = data.c_str();
    ev.data_len = data.size();
    ev.message_id = has_message_id ? message_id.c_str() : nullptr;
    ev.detail = detail.c_str();
    ev.session = session.c_str();
    ev.previous_session = previous_session.c_str();
    ev.internal_ = nullptr;
}

template <class F>
void EventRouter::invoke(F&& f) {
    {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
        ++in_flight;
    }
    {
        CallbackScope scope(this);
        try {
            f();
        } catch (...) {
            // A C callback cannot throw; a C++ one that does is contained here.
        }
    }
    std::lock_guard<std::mutex> lock(mu);
    --in_flight;
    if (in_flight == 0) cv.notify_all();
}

void EventRouter::deliver(std::unique_ptr<EventRecord> rec) {
    rec->bind();
    if (event_cb != nullptr) {
        const tether_event* ev = &rec->ev;
        invoke([this, ev] { event_cb(ev, user_data); });
        return;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return;
    if (rec->ev.type == TETHER_EVENT_STATE && is_terminal_state(rec->ev.state_to)) final_queued = true;
    queue.push_back(std::move(rec));
    cv.notify_all();
}

void EventRouter::on_state(const StateChange& sc) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_STATE;
    rec->ev.state_from = static_cast<int32_t>(sc.from);
    rec->ev.state_to = static_cast<int32_t>(sc.to);
    rec->ev.error = to_c(sc.reason);
    rec->ev.attempt = sc.attempt;
    rec->ev.retry_in_ms = static_cast<int64_t>(sc.retry_in.count());
    rec->detail = sc.detail;
    {
        std::lock_guard<std::mutex> lock(mu);
        const int to = rec->ev.state_to;
        if (to >= 0 && to < kStateCount) {
            state = to;
            ++entered[static_cast<std::size_t>(to)];
            if (is_terminal_state(to)) terminal_reason = rec->ev.error;
        }
        cv.notify_all();
    }
    deliver(std::move(rec));
}

void EventRouter::on_message(const Message& m) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_MESSAGE;
    rec->ev.seq = m.seq;
    rec->data = m.data_json; // the client runs with MessageData::text (convert.cpp)
    if (m.id) {
        rec->has_message_id = true;
        rec->message_id = *m.id;
    }
    deliver(std::move(rec));
}

void EventRouter::on_acked(MessageId id) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_ACKED;
    rec->ev.id = id;
    deliver(std::move(rec));
}

void EventRouter::on_sent(MessageId id) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_SENT;
    rec->ev.id = id;
    deliver(std::move(rec));
}

void EventRouter::on_failed(MessageId id, const std::string& message_id, std::error_code ec) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_FAILED;
    rec->ev.id = id;
    rec->ev.error = to_c(ec);
    rec->has_message_id = true;
    rec->message_id = message_id;
    deliver(std::move(rec));
}

void EventRouter::on_resumed(const std::string& session) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_RESUMED;
    rec->session = session;
    deliver(std::move(rec));
}

void EventRouter::on_session_lost(const SessionLostInfo& info) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_SESSION_LOST;
    rec->previous_session = info.previous_session;
    rec->session = info.new_session;
    rec->ev.unacked = info.unacked;
    deliver(std::move(rec));
}

void EventRouter::on_durable(MessageId through) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_DURABLE;
    rec->ev.id = through;
    deliver(std::move(rec));
}

void EventRouter::on_error(std::error_code ec, const std::string& detail) {
    auto rec = std::make_unique<EventRecord>();
    rec->ev.type = TETHER_EVENT_ERROR;
    rec->ev.error = to_c(ec);
    rec->detail = detail;
    deliver(std::move(rec));
}

std::optional<std::string> EventRouter::on_token(bool refresh) {
    tether_token_request request;
    invoke([this, &request, refresh] { token_cb(&request, refresh ? 1 : 0, user_data); });
    request.magic = 0; // a pointer kept past the callback is refused, not used
    return std::move(request.token);
}

void EventRouter::on_log(LogLevel level, std::string_view message) {
    if (log_cb == nullptr) return;
    const std::string text(message);
    const int c_level = static_cast<int>(level) + 1;
    invoke([this, c_level, &text] { log_cb(c_level, text.c_str(), user_data); });
}

} // namespace tether::c_abi
