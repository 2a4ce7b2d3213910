// The C ABI over tether::Client.
//
// Model: each tether_client owns a tether::Client whose callbacks capture a
// shared `Hub` (not the handle: the C++ client may outlive the handle when
// its teardown is deferred). On the SDK thread every event first updates the
// hub's view of the state (for tether_client_wait_state), then goes either to
// the application's callback or to the poll queue.
//
// Callback rules: a thread_local marks "inside a tether callback"; blocking
// or destroying calls are refused there. Destroy sets `stopping`, waits for a
// running callback to return, then destroys the C++ client; callbacks that
// start after `stopping` are skipped, so none runs after destroy returns.
//
// Every extern "C" body catches everything and returns a code.
#include "tether/tether.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/utf8.hpp"
#include "tether/client.hpp"
#include "tether/version.hpp"

static_assert(TETHER_VERSION_NUM == TETHER_VERSION_MAJOR * 10000 + TETHER_VERSION_MINOR * 100 + TETHER_VERSION_PATCH);

namespace {

using tether::errc;

// Every errc, with its C value: the compiler checks the 1:1 mapping.
struct CodeEntry {
    int c;
    errc e;
};
#define TETHER_CODE(C, E)                                                                                            \
    CodeEntry { C, errc::E }
constexpr CodeEntry kCodes[] = {
    TETHER_CODE(TETHER_E_INVALID_ARGUMENT, invalid_argument),
    TETHER_CODE(TETHER_E_INVALID_STATE, invalid_state),
    TETHER_CODE(TETHER_E_OUTBOX_FULL, outbox_full),
    TETHER_CODE(TETHER_E_MESSAGE_TOO_LARGE, message_too_large),
    TETHER_CODE(TETHER_E_INVALID_JSON, invalid_json),
    TETHER_CODE(TETHER_E_CLOSED, closed),
    TETHER_CODE(TETHER_E_IN_CALLBACK, in_callback),
    TETHER_CODE(TETHER_E_INVALID_UTF8, invalid_utf8),
    TETHER_CODE(TETHER_E_CONNECT_FAILED, connect_failed),
    TETHER_CODE(TETHER_E_CONNECT_TIMEOUT, connect_timeout),
    TETHER_CODE(TETHER_E_DNS_FAILED, dns_failed),
    TETHER_CODE(TETHER_E_TLS_ERROR, tls_error),
    TETHER_CODE(TETHER_E_TLS_VERIFY_FAILED, tls_verify_failed),
    TETHER_CODE(TETHER_E_HANDSHAKE_FAILED, handshake_failed),
    TETHER_CODE(TETHER_E_HTTP_STATUS, http_status),
    TETHER_CODE(TETHER_E_NOT_FOUND, not_found),
    TETHER_CODE(TETHER_E_TRANSPORT_CLOSED, transport_closed),
    TETHER_CODE(TETHER_E_HEARTBEAT_TIMEOUT, heartbeat_timeout),
    TETHER_CODE(TETHER_E_AUTH_TIMEOUT, auth_timeout),
    TETHER_CODE(TETHER_E_PROXY_ERROR, proxy_error),
    TETHER_CODE(TETHER_E_MESSAGE_TOO_BIG, message_too_big),
    TETHER_CODE(TETHER_E_BAD_URL, bad_url),
    TETHER_CODE(TETHER_E_BAD_FRAME, bad_frame),
    TETHER_CODE(TETHER_E_PROTOCOL_VERSION, protocol_version),
    TETHER_CODE(TETHER_E_UNEXPECTED_FRAME, unexpected_frame),
    TETHER_CODE(TETHER_E_SEQ_GAP, seq_gap),
    TETHER_CODE(TETHER_E_ACK_OUT_OF_RANGE, ack_out_of_range),
    TETHER_CODE(TETHER_E_BINARY_FRAME, binary_frame),
    TETHER_CODE(TETHER_E_FRAME_INVALID_JSON, frame_invalid_json),
    TETHER_CODE(TETHER_E_FRAME_NOT_OBJECT, frame_not_object),
    TETHER_CODE(TETHER_E_FRAME_MISSING_FIELD, frame_missing_field),
    TETHER_CODE(TETHER_E_FRAME_WRONG_TYPE, frame_wrong_type),
    TETHER_CODE(TETHER_E_FRAME_SEQ_OUT_OF_RANGE, frame_seq_out_of_range),
    TETHER_CODE(TETHER_E_FRAME_TOO_LARGE, frame_too_large),
    TETHER_CODE(TETHER_E_FRAME_TOO_DEEP, frame_too_deep),
    TETHER_CODE(TETHER_E_UNAUTHORIZED, unauthorized),
    TETHER_CODE(TETHER_E_FORBIDDEN, forbidden),
    TETHER_CODE(TETHER_E_TOKEN_EXPIRED, token_expired),
    TETHER_CODE(TETHER_E_SERVER_BUSY, server_busy),
    TETHER_CODE(TETHER_E_RATE_LIMITED, rate_limited),
    TETHER_CODE(TETHER_E_SESSION_TAKEN_OVER, session_taken_over),
    TETHER_CODE(TETHER_E_GOING_AWAY, going_away),
    TETHER_CODE(TETHER_E_SERVER_ERROR, server_error),
    TETHER_CODE(TETHER_E_SESSION_LOST, session_lost),
    TETHER_CODE(TETHER_E_MAX_ATTEMPTS_EXCEEDED, max_attempts_exceeded),
    TETHER_CODE(TETHER_E_NO_TOKEN, no_token),
};
#undef TETHER_CODE

constexpr bool codes_match() {
    for (const auto& entry : kCodes)
        if (entry.c != -static_cast<int>(entry.e)) return false;
    return true;
}
static_assert(codes_match(), "TETHER_E_* must equal -tether::errc");

struct CLayerCode {
    int c;
    const char* name;
    const char* message;
};
constexpr CLayerCode kCLayerCodes[] = {
    {TETHER_E_TIMEOUT, "timeout", "timed out waiting (no event, or the state was not reached)"},
    {TETHER_E_NO_MEMORY, "no_memory", "out of memory"},
    {TETHER_E_INTERNAL, "internal", "internal error in the tether library"},
};

const std::map<int, std::string>& messages() {
    static const std::map<int, std::string> table = [] {
        std::map<int, std::string> m;
        m[TETHER_OK] = "success";
        for (const auto& entry : kCodes) m[entry.c] = tether::make_error_code(entry.e).message();
        for (const auto& entry : kCLayerCodes) m[entry.c] = entry.message;
        return m;
    }();
    return table;
}

bool known_code(int code) {
    for (const auto& entry : kCodes)
        if (entry.c == code) return true;
    return false;
}

int to_c(std::error_code ec) {
    if (!ec) return TETHER_OK;
    if (ec.category() == tether::error_category() && known_code(-ec.value())) return -ec.value();
    return TETHER_E_INTERNAL;
}

constexpr int kStateCount = 8;
constexpr std::uint32_t kClientMagic = 0x74657468u; // "teth"
constexpr std::uint32_t kTokenRequestMagic = 0x746f6b6eu; // "tokn"

bool terminal(int state) { return state == TETHER_STATE_CLOSED || state == TETHER_STATE_FAILED; }

// An event that owns its strings; `ev`'s pointers point into this object,
// which never moves (heap-allocated, handed out as internal_).
struct Record {
    tether_event ev{};
    std::string data, message_id, detail, session, previous_session;
    bool has_message_id = false;

    void bind() {
        ev.struct_size = sizeof(tether_event);
        ev.data = data.c_str();
        ev.data_len = data.size();
        ev.message_id = has_message_id ? message_id.c_str() : nullptr;
        ev.detail = detail.c_str();
        ev.session = session.c_str();
        ev.previous_session = previous_session.c_str();
        ev.internal_ = nullptr;
    }
};

// Non-null while this thread runs a tether callback.
thread_local const void* t_in_callback = nullptr;

class CallbackScope {
public:
    explicit CallbackScope(const void* hub) : saved_(t_in_callback) { t_in_callback = hub; }
    ~CallbackScope() { t_in_callback = saved_; }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;

private:
    const void* saved_;
};

} // namespace

// Lives on the SDK thread's stack for one token callback.
struct tether_token_request {
    std::uint32_t magic = kTokenRequestMagic;
    std::optional<std::string> token;
};

namespace {

// State shared between the handle and the C++ client's callbacks.
struct Hub {
    tether_event_fn event_cb = nullptr;
    tether_log_fn log_cb = nullptr;
    tether_token_fn token_cb = nullptr;
    void* user_data = nullptr;

    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::unique_ptr<Record>> queue; // queue mode only
    bool final_queued = false;                 // a terminal state event was queued
    bool stopping = false;                     // destroy began: no more callbacks
    int in_flight = 0;                         // application callbacks running
    int state = TETHER_STATE_IDLE;             // as dispatched
    int terminal_reason = TETHER_OK;
    std::array<std::uint64_t, kStateCount> entered{}; // times each state was entered

    // Runs an application callback unless destroy has begun.
    template <class F>
    void invoke(F&& f) {
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

    void deliver(std::unique_ptr<Record> rec) {
        rec->bind();
        if (event_cb != nullptr) {
            const tether_event* ev = &rec->ev;
            invoke([this, ev] { event_cb(ev, user_data); });
            return;
        }
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) return;
        if (rec->ev.type == TETHER_EVENT_STATE && terminal(rec->ev.state_to)) final_queued = true;
        queue.push_back(std::move(rec));
        cv.notify_all();
    }

    void on_state(const tether::StateChange& sc) {
        auto rec = std::make_unique<Record>();
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
                if (terminal(to)) terminal_reason = rec->ev.error;
            }
            cv.notify_all();
        }
        deliver(std::move(rec));
    }

    void on_message(const tether::Message& m) {
        auto rec = std::make_unique<Record>();
        rec->ev.type = TETHER_EVENT_MESSAGE;
        rec->ev.seq = m.seq;
        // The codec accepted this value, so it dumps; replace rather than throw.
        rec->data = m.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (m.id) {
            rec->has_message_id = true;
            rec->message_id = *m.id;
        }
        deliver(std::move(rec));
    }

    void on_acked(tether::MessageId id) {
        auto rec = std::make_unique<Record>();
        rec->ev.type = TETHER_EVENT_ACKED;
        rec->ev.id = id;
        deliver(std::move(rec));
    }

    void on_failed(tether::MessageId id, const std::string& message_id, std::error_code ec) {
        auto rec = std::make_unique<Record>();
        rec->ev.type = TETHER_EVENT_FAILED;
        rec->ev.id = id;
        rec->ev.error = to_c(ec);
        rec->has_message_id = true;
        rec->message_id = message_id;
        deliver(std::move(rec));
    }

    void on_resumed(const std::string& session) {
        auto rec = std::make_unique<Record>();
        rec->ev.type = TETHER_EVENT_RESUMED;
        rec->session = session;
        deliver(std::move(rec));
    }

    void on_session_lost(const tether::SessionLostInfo& info) {
        auto rec = std::make_unique<Record>();
        rec->ev.type = TETHER_EVENT_SESSION_LOST;
        rec->previous_session = info.previous_session;
        rec->session = info.new_session;
        rec->ev.unacked = info.unacked;
        deliver(std::move(rec));
    }

    void on_error(std::error_code ec, const std::string& detail) {
        auto rec = std::make_unique<Record>();
        rec->ev.type = TETHER_EVENT_ERROR;
        rec->ev.error = to_c(ec);
        rec->detail = detail;
        deliver(std::move(rec));
    }

    std::optional<std::string> on_token(bool refresh) {
        tether_token_request request;
        invoke([this, &request, refresh] { token_cb(&request, refresh ? 1 : 0, user_data); });
        request.magic = 0; // a pointer kept past the callback is refused, not used
        return std::move(request.token);
    }

    void on_log(tether::LogLevel level, std::string_view message) {
        if (log_cb == nullptr) return;
        const std::string text(message);
        const int c_level = static_cast<int>(level) + 1;
        invoke([this, c_level, &text] { log_cb(c_level, text.c_str(), user_data); });
    }
};

} // namespace

struct tether_client {
    std::uint32_t magic = kClientMagic;
    std::shared_ptr<Hub> hub;
    std::unique_ptr<tether::Client> client;
    std::mutex error_mu;
    std::string last_error; // guarded by error_mu
};

namespace {

thread_local std::string t_create_error; // tether_client_last_error(NULL)
thread_local std::string t_error_copy;   // what tether_client_last_error returns

bool valid(const tether_client* c) { return c != nullptr && c->magic == kClientMagic && c->client; }

// Records `message` as the client's last error (or the thread's, without a
// client) and returns `code`. Never throws.
int fail(tether_client* c, int code, std::string_view message) noexcept {
    try {
        if (valid(c)) {
            std::lock_guard<std::mutex> lock(c->error_mu);
            c->last_error.assign(message);
        } else {
            t_create_error.assign(message);
        }
    } catch (...) {
    }
    return code;
}

// The C code of `ec`, recording the failure (if any) as fail() does.
int result(tether_client* c, std::error_code ec, const std::string& detail) noexcept {
    if (!ec) return TETHER_OK;
    try {
        return fail(c, to_c(ec), detail.empty() ? ec.message() : ec.message() + ": " + detail);
    } catch (...) {
        return to_c(ec);
    }
}

int result(tether_client* c, std::error_code ec) noexcept { return result(c, ec, std::string()); }

template <class F>
int guarded(tether_client* c, F&& f) noexcept {
    try {
        return f();
    } catch (const std::bad_alloc&) {
        return fail(c, TETHER_E_NO_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return fail(c, TETHER_E_INTERNAL, e.what());
    } catch (...) {
        return fail(c, TETHER_E_INTERNAL, "unknown exception");
    }
}

// The common prologue of client calls.
#define TETHER_CHECK_CLIENT(c)                                                                                       \
    do {                                                                                                             \
        if ((c) == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "client is NULL");                       \
        if (!valid(c)) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "not a live tether_client");                  \
    } while (0)

// ---- options ---------------------------------------------------------------------

struct OptionError {
    int code;
    std::string message;
};

std::optional<std::string> opt_string(const char* s, const char* field, bool utf8 = true) {
    if (s == nullptr) return std::nullopt;
    std::string v(s);
    if (utf8 && !tether::core::is_valid_utf8(v))
        throw OptionError{TETHER_E_INVALID_UTF8, std::string(field) + " is not valid UTF-8"};
    return v;
}

tether::Milliseconds duration(int64_t ms, tether::Milliseconds fallback, const char* field) {
    if (ms < 0) throw OptionError{TETHER_E_INVALID_ARGUMENT, std::string(field) + " must not be negative"};
    return ms == 0 ? fallback : tether::Milliseconds(ms);
}

template <class T>
T count(uint64_t v, T fallback) {
    return v == 0 ? fallback : static_cast<T>(v);
}

std::vector<std::string> string_list(const char* const* items, size_t n, const char* field, bool utf8) {
    std::vector<std::string> out;
    if (n == 0) return out;
    if (items == nullptr) throw OptionError{TETHER_E_INVALID_ARGUMENT, std::string(field) + " is NULL but its count is not 0"};
    for (size_t i = 0; i < n; ++i) {
        if (items[i] == nullptr) throw OptionError{TETHER_E_INVALID_ARGUMENT, std::string(field) + " has a NULL entry"};
        out.push_back(*opt_string(items[i], field, utf8));
    }
    return out;
}

std::string trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string_view::npos) return {};
    const auto e = s.find_last_not_of(" \t");
    return std::string(s.substr(b, e - b + 1));
}

tether::ClientOptions convert(const tether_client_options& o, const std::shared_ptr<Hub>& hub) {
    if (o.url == nullptr) throw OptionError{TETHER_E_INVALID_ARGUMENT, "url is NULL"};
    tether::ClientOptions out;
    out.url = *opt_string(o.url, "url");
    out.token = opt_string(o.token, "token");
    out.client_name = opt_string(o.client_name, "client_name").value_or("tether-c");
    out.client_version = opt_string(o.client_version, "client_version").value_or(TETHER_VERSION_STRING);
    for (const std::string& h : string_list(o.headers, o.header_count, "headers", true)) {
        const auto colon = h.find(':');
        if (colon == std::string::npos || trim(std::string_view(h).substr(0, colon)).empty())
            throw OptionError{TETHER_E_INVALID_ARGUMENT, "header '" + h + "' is not 'Name: value'"};
        if (h.find_first_of("\r\n") != std::string::npos)
            throw OptionError{TETHER_E_INVALID_ARGUMENT, "header contains CR or LF"};
        out.headers.emplace_back(trim(std::string_view(h).substr(0, colon)), trim(std::string_view(h).substr(colon + 1)));
    }

    const tether::ClientOptions d;
    out.heartbeat.interval = duration(o.heartbeat_interval_ms, d.heartbeat.interval, "heartbeat_interval_ms");
    out.heartbeat.timeout = duration(o.heartbeat_timeout_ms, d.heartbeat.timeout, "heartbeat_timeout_ms");
    out.backoff.base = duration(o.backoff_base_ms, d.backoff.base, "backoff_base_ms");
    out.backoff.max = duration(o.backoff_max_ms, d.backoff.max, "backoff_max_ms");
    out.backoff.stable_after = duration(o.backoff_stable_after_ms, d.backoff.stable_after, "backoff_stable_after_ms");
    out.backoff.max_attempts = o.backoff_max_attempts;
    switch (o.session_lost_policy) {
    case TETHER_SESSION_LOST_RESEND: out.outbox.on_session_lost = tether::SessionLostPolicy::resend; break;
    case TETHER_SESSION_LOST_FAIL: out.outbox.on_session_lost = tether::SessionLostPolicy::fail; break;
    default: throw OptionError{TETHER_E_INVALID_ARGUMENT, "session_lost_policy is out of range"};
    }
    out.outbox.max_messages = count<std::size_t>(o.outbox_max_messages, d.outbox.max_messages);
    out.outbox.max_bytes = count<std::size_t>(o.outbox_max_bytes, d.outbox.max_bytes);
    out.outbox.max_message_bytes = count<std::size_t>(o.outbox_max_message_bytes, d.outbox.max_message_bytes);
    out.outbox.max_in_flight = count<std::size_t>(o.outbox_max_in_flight, d.outbox.max_in_flight);
    out.acks.every_messages = count<std::uint32_t>(o.ack_every_messages, d.acks.every_messages);
    out.acks.max_delay = duration(o.ack_max_delay_ms, d.acks.max_delay, "ack_max_delay_ms");
    out.timeouts.connect = duration(o.connect_timeout_ms, d.timeouts.connect, "connect_timeout_ms");
    out.timeouts.hello = duration(o.hello_timeout_ms, d.timeouts.hello, "hello_timeout_ms");
    out.timeouts.close_drain = duration(o.close_drain_ms, d.timeouts.close_drain, "close_drain_ms");
    out.max_inbound_message_bytes = count<std::size_t>(o.max_inbound_message_bytes, d.max_inbound_message_bytes);

    out.tls.ca_file = opt_string(o.tls_ca_file, "tls_ca_file", false).value_or("");
    out.tls.ca_dir = opt_string(o.tls_ca_dir, "tls_ca_dir", false).value_or("");
    out.tls.cert_file = opt_string(o.tls_cert_file, "tls_cert_file", false).value_or("");
    out.tls.key_file = opt_string(o.tls_key_file, "tls_key_file", false).value_or("");
    out.tls.pinned_spki_sha256 = string_list(o.tls_pinned_spki_sha256, o.tls_pinned_spki_count, "tls_pinned_spki_sha256", true);
    if (o.tls_insecure_skip_verify != 0 && o.tls_insecure_skip_verify != 1)
        throw OptionError{TETHER_E_INVALID_ARGUMENT, "tls_insecure_skip_verify must be 0 or 1"};
    out.tls.insecure_skip_verify = o.tls_insecure_skip_verify == 1;
    if (o.reserved0_ != 0) throw OptionError{TETHER_E_INVALID_ARGUMENT, "reserved0_ must be 0"};
    out.proxy.url = opt_string(o.proxy_url, "proxy_url").value_or("");
    out.proxy.username = opt_string(o.proxy_username, "proxy_username").value_or("");
    out.proxy.password = opt_string(o.proxy_password, "proxy_password").value_or("");

    switch (o.log_level) {
    case TETHER_LOG_DEFAULT: out.log_level = tether::LogLevel::info; break;
    case TETHER_LOG_TRACE: out.log_level = tether::LogLevel::trace; break;
    case TETHER_LOG_DEBUG: out.log_level = tether::LogLevel::debug; break;
    case TETHER_LOG_INFO: out.log_level = tether::LogLevel::info; break;
    case TETHER_LOG_WARN: out.log_level = tether::LogLevel::warn; break;
    case TETHER_LOG_ERROR: out.log_level = tether::LogLevel::error; break;
    default: throw OptionError{TETHER_E_INVALID_ARGUMENT, "log_level is out of range"};
    }
    if (o.token_callback != nullptr)
        out.token_provider = [hub](bool refresh) { return hub->on_token(refresh); };
    if (o.log_callback != nullptr)
        out.log = [hub](tether::LogLevel level, std::string_view message) { hub->on_log(level, message); };

    tether::Callbacks& cb = out.callbacks;
    cb.on_state = [hub](const tether::StateChange& sc) { hub->on_state(sc); };
    cb.on_message = [hub](const tether::Message& m) { hub->on_message(m); };
    cb.on_acked = [hub](tether::MessageId id) { hub->on_acked(id); };
    cb.on_failed = [hub](tether::MessageId id, const std::string& mid, std::error_code ec) { hub->on_failed(id, mid, ec); };
    cb.on_resumed = [hub](const std::string& session) { hub->on_resumed(session); };
    cb.on_session_lost = [hub](const tether::SessionLostInfo& info) { hub->on_session_lost(info); };
    cb.on_error = [hub](std::error_code ec, const std::string& detail) { hub->on_error(ec, detail); };
    return out;
}

tether_stats to_c(const tether::Stats& s) {
    tether_stats o{};
    o.struct_size = sizeof(tether_stats);
    o.connect_attempts = s.connect_attempts;
    o.connects = s.connects;
    o.reconnects = s.reconnects;
    o.resumes = s.resumes;
    o.sessions_lost = s.sessions_lost;
    o.messages_sent = s.messages_sent;
    o.messages_acked = s.messages_acked;
    o.messages_failed = s.messages_failed;
    o.messages_received = s.messages_received;
    o.frames_resent = s.frames_resent;
    o.duplicates_dropped = s.duplicates_dropped;
    o.protocol_errors = s.protocol_errors;
    o.unknown_frames = s.unknown_frames;
    o.caller_errors = s.caller_errors;
    o.pings_sent = s.pings_sent;
    o.acks_sent = s.acks_sent;
    o.frames_in = s.frames_in;
    o.frames_out = s.frames_out;
    o.bytes_in = s.bytes_in;
    o.bytes_out = s.bytes_out;
    o.outbox_depth = s.outbox_depth;
    o.outbox_bytes = s.outbox_bytes;
    o.outbox_high_water = s.outbox_high_water;
    return o;
}

// Writes our struct into the caller's, keeping the caller's struct_size
// (which may be larger: a newer header).
template <class T>
void copy_out(T* dst, const T& src) {
    const size_t caller_size = dst->struct_size;
    std::memcpy(static_cast<void*>(dst), &src, sizeof(T));
    dst->struct_size = caller_size;
}

} // namespace

extern "C" {

TETHER_API int tether_version_number(void) { return tether::version_number(); }
TETHER_API const char* tether_version_string(void) { return tether::version_string(); }

TETHER_API const char* tether_strerror(int code) {
    try {
        const auto& m = messages();
        const auto it = m.find(code);
        return it == m.end() ? "unknown error" : it->second.c_str();
    } catch (...) {
        return "unknown error";
    }
}

TETHER_API const char* tether_error_name(int code) {
    if (code == TETHER_OK) return "ok";
    for (const auto& entry : kCodes)
        if (entry.c == code) return tether::errc_name(entry.e);
    for (const auto& entry : kCLayerCodes)
        if (entry.c == code) return entry.name;
    return "unknown";
}

TETHER_API int tether_error_is_local(int code) { return code <= -1 && code >= -99 && known_code(code) ? 1 : 0; }

TETHER_API const char* tether_state_name(int state) {
    if (state < 0 || state >= kStateCount) return "unknown";
    return tether::to_string(static_cast<tether::State>(state));
}

TETHER_API void tether_event_free(tether_event* event) {
    if (event == nullptr) return;
    delete static_cast<Record*>(event->internal_);
    const size_t size = event->struct_size;
    const size_t n = std::min(size, sizeof(tether_event));
    if (n > 0) std::memset(static_cast<void*>(event), 0, n);
    event->struct_size = size;
}

TETHER_API int tether_token_request_set(tether_token_request* request, const char* token, size_t token_len) {
    return guarded(nullptr, [&]() -> int {
        if (request == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "request is NULL");
        if (request->magic != kTokenRequestMagic)
            return fail(nullptr, TETHER_E_INVALID_ARGUMENT,
                        "not a live token request (it is valid only until the token callback returns)");
        if (token == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "token is NULL");
        std::string value(token, token_len);
        if (!tether::core::is_valid_utf8(value)) return fail(nullptr, TETHER_E_INVALID_UTF8, "token is not valid UTF-8");
        request->token = std::move(value);
        return TETHER_OK;
    });
}

TETHER_API int tether_client_create(const tether_client_options* options, tether_client** out) {
    return guarded(nullptr, [&]() -> int {
        if (out != nullptr) *out = nullptr;
        if (options == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "options is NULL");
        if (out == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "out is NULL");
        const size_t size = options->struct_size;
        if (size != sizeof(tether_client_options) && size != TETHER_CLIENT_OPTIONS_SIZE_V1)
            return fail(nullptr, TETHER_E_INVALID_ARGUMENT,
                        "options struct_size is " + std::to_string(size) + ", expected " +
                            std::to_string(sizeof(tether_client_options)) + " or the layout-1 size " +
                            std::to_string(TETHER_CLIENT_OPTIONS_SIZE_V1) + " (use TETHER_CLIENT_OPTIONS_INIT)");
        tether_client_options o{}; // fields the caller's layout lacks stay zero: their defaults
        std::memcpy(static_cast<void*>(&o), options, size);
        auto hub = std::make_shared<Hub>();
        hub->event_cb = o.event_callback;
        hub->log_cb = o.log_callback;
        hub->token_cb = o.token_callback;
        hub->user_data = o.user_data;
        tether::ClientOptions cpp;
        try {
            cpp = convert(o, hub);
        } catch (const OptionError& e) {
            return fail(nullptr, e.code, e.message);
        }
        std::error_code ec;
        std::string detail;
        auto client = tether::Client::create(std::move(cpp), ec, &detail);
        if (!client) return result(nullptr, ec ? ec : tether::make_error_code(errc::invalid_argument), detail);
        auto handle = std::make_unique<tether_client>();
        handle->hub = std::move(hub);
        handle->client = std::move(client);
        *out = handle.release();
        return TETHER_OK;
    });
}

TETHER_API int tether_client_destroy(tether_client* client) {
    if (client == nullptr) return TETHER_OK;
    TETHER_CHECK_CLIENT(client);
    if (t_in_callback != nullptr)
        return fail(client, TETHER_E_IN_CALLBACK, "tether_client_destroy from inside a tether callback");
    return guarded(client, [&]() -> int {
        Hub& hub = *client->hub;
        {
            std::unique_lock<std::mutex> lock(hub.mu);
            hub.stopping = true;
            hub.cv.wait(lock, [&] { return hub.in_flight == 0; });
        }
        client->client.reset(); // aborts; waits for the io thread to let go
        {
            std::lock_guard<std::mutex> lock(hub.mu);
            hub.queue.clear();
            hub.final_queued = true;
            hub.cv.notify_all();
        }
        client->magic = 0;
        delete client;
        return TETHER_OK;
    });
}

TETHER_API int tether_client_connect(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->connect()); });
}

TETHER_API int tether_client_send(tether_client* client, const char* json, size_t json_len, const char* message_id,
                                  uint64_t* id_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (id_out != nullptr) *id_out = 0;
        if (json == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "json is NULL");
        const std::string_view mid = message_id == nullptr ? std::string_view() : std::string_view(message_id);
        tether::SendResult r = client->client->send_json(std::string_view(json, json_len), mid);
        if (!r) return result(client, r.error, r.detail);
        if (id_out != nullptr) *id_out = r.id;
        return TETHER_OK;
    });
}

TETHER_API int tether_client_close(tether_client* client, int64_t drain_ms) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] {
        std::optional<tether::Milliseconds> drain;
        if (drain_ms >= 0) drain = tether::Milliseconds(drain_ms);
        return result(client, client->client->close(drain));
    });
}

TETHER_API int tether_client_abort(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->abort()); });
}

TETHER_API int tether_client_reconnect_now(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->reconnect_now()); });
}

TETHER_API int tether_client_simulate_network_drop(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->simulate_network_drop()); });
}

TETHER_API int tether_client_state(tether_client* client, int* state_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (state_out == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "state_out is NULL");
        *state_out = static_cast<int>(client->client->state());
        return TETHER_OK;
    });
}

TETHER_API int tether_client_stats(tether_client* client, tether_stats* stats) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (stats == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "stats is NULL");
        if (stats->struct_size < sizeof(tether_stats))
            return fail(client, TETHER_E_INVALID_ARGUMENT, "stats struct_size is too small (use TETHER_STATS_INIT)");
        copy_out(stats, to_c(client->client->stats()));
        return TETHER_OK;
    });
}

TETHER_API int tether_client_session_id(tether_client* client, char* buf, size_t buf_size, size_t* len_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (buf == nullptr && buf_size > 0) return fail(client, TETHER_E_INVALID_ARGUMENT, "buf is NULL");
        const std::string id = client->client->session_id();
        if (len_out != nullptr) *len_out = id.size();
        if (buf_size > 0) {
            const size_t n = std::min(id.size(), buf_size - 1);
            std::memcpy(buf, id.data(), n);
            buf[n] = '\0';
        }
        return TETHER_OK;
    });
}

TETHER_API const char* tether_client_last_error(tether_client* client) {
    try {
        if (client == nullptr) {
            t_error_copy = t_create_error;
        } else if (valid(client)) {
            std::lock_guard<std::mutex> lock(client->error_mu);
            t_error_copy = client->last_error;
        } else {
            t_error_copy = "not a live tether_client";
        }
        return t_error_copy.c_str();
    } catch (...) {
        return "";
    }
}

TETHER_API int tether_client_poll_event(tether_client* client, tether_event* event, int timeout_ms) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (event == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "event is NULL");
        if (event->struct_size < sizeof(tether_event))
            return fail(client, TETHER_E_INVALID_ARGUMENT, "event struct_size is too small (use TETHER_EVENT_INIT)");
        if (t_in_callback != nullptr)
            return fail(client, TETHER_E_IN_CALLBACK, "tether_client_poll_event from inside a tether callback");
        Hub& hub = *client->hub;
        if (hub.event_cb != nullptr)
            return fail(client, TETHER_E_INVALID_STATE, "events go to event_callback; there is no queue to poll");
        std::unique_ptr<Record> rec;
        {
            std::unique_lock<std::mutex> lock(hub.mu);
            auto ready = [&] { return !hub.queue.empty() || hub.final_queued; };
            if (timeout_ms < 0) {
                hub.cv.wait(lock, ready);
            } else if (timeout_ms > 0) {
                hub.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
            }
            if (hub.queue.empty()) {
                if (!hub.final_queued) return TETHER_E_TIMEOUT;
                lock.unlock();
                return fail(client, TETHER_E_CLOSED, "the client is closed and every event has been taken");
            }
            rec = std::move(hub.queue.front());
            hub.queue.pop_front();
        }
        tether_event out = rec->ev;
        out.internal_ = rec.release();
        copy_out(event, out);
        return TETHER_OK;
    });
}

TETHER_API int tether_client_wait_state(tether_client* client, unsigned state_mask, int timeout_ms, int* state_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (state_mask == 0 || (state_mask >> kStateCount) != 0)
            return fail(client, TETHER_E_INVALID_ARGUMENT, "state_mask must be a non-empty set of TETHER_STATE_BIT");
        if (t_in_callback != nullptr)
            return fail(client, TETHER_E_IN_CALLBACK, "tether_client_wait_state from inside a tether callback");
        Hub& hub = *client->hub;
        std::unique_lock<std::mutex> lock(hub.mu);
        const auto start = hub.entered;
        auto in_mask = [&](int s) { return (state_mask & (1u << static_cast<unsigned>(s))) != 0; };
        int reached = -1;
        auto done = [&] {
            if (in_mask(hub.state)) {
                reached = hub.state;
                return true;
            }
            for (int s = 0; s < kStateCount; ++s) {
                if (in_mask(s) && hub.entered[static_cast<std::size_t>(s)] != start[static_cast<std::size_t>(s)]) {
                    reached = s;
                    return true;
                }
            }
            return terminal(hub.state);
        };
        if (timeout_ms < 0) {
            hub.cv.wait(lock, done);
        } else {
            hub.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), done);
        }
        if (state_out != nullptr) *state_out = reached >= 0 ? reached : hub.state;
        if (reached >= 0) return TETHER_OK;
        if (terminal(hub.state)) {
            const int reason = hub.terminal_reason != TETHER_OK ? hub.terminal_reason : TETHER_E_CLOSED;
            const std::string why = std::string("the client is ") + tether_state_name(hub.state);
            lock.unlock();
            return fail(client, reason, why);
        }
        return TETHER_E_TIMEOUT;
    });
}

} // extern "C"
