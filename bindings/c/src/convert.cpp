#include "convert.hpp"

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "tether/utf8.hpp"

namespace tether::c_abi {

// ---- the C enums are the C++ enums' values ----------------------------------

#define TETHER_SAME_STATE_(C, E) static_assert(C == static_cast<int>(State::E), #C " must equal tether::State::" #E);
TETHER_SAME_STATE_(TETHER_STATE_IDLE, idle)
TETHER_SAME_STATE_(TETHER_STATE_CONNECTING, connecting)
TETHER_SAME_STATE_(TETHER_STATE_AUTHENTICATING, authenticating)
TETHER_SAME_STATE_(TETHER_STATE_READY, ready)
TETHER_SAME_STATE_(TETHER_STATE_BACKOFF, backoff)
TETHER_SAME_STATE_(TETHER_STATE_CLOSING, closing)
TETHER_SAME_STATE_(TETHER_STATE_CLOSED, closed)
TETHER_SAME_STATE_(TETHER_STATE_FAILED, failed)
#undef TETHER_SAME_STATE_
static_assert(kStateCount == TETHER_STATE_FAILED + 1, "a tether::State without a TETHER_STATE_*");

// The log callback gets static_cast<int>(level) + 1 (TETHER_LOG_DEFAULT is 0).
#define TETHER_SAME_LOG_(C, E) static_assert(C == static_cast<int>(LogLevel::E) + 1, #C " must be tether::LogLevel::" #E " + 1");
TETHER_SAME_LOG_(TETHER_LOG_TRACE, trace)
TETHER_SAME_LOG_(TETHER_LOG_DEBUG, debug)
TETHER_SAME_LOG_(TETHER_LOG_INFO, info)
TETHER_SAME_LOG_(TETHER_LOG_WARN, warn)
TETHER_SAME_LOG_(TETHER_LOG_ERROR, error)
#undef TETHER_SAME_LOG_

// ---- tether_stats is tether::Stats behind struct_size, field for field -------

#define TETHER_STATS_COUNT_(name) +1
constexpr std::size_t kStatsFields = 0 TETHER_STATS_FIELDS(TETHER_STATS_COUNT_);
#undef TETHER_STATS_COUNT_
static_assert(sizeof(Stats) == kStatsFields * sizeof(std::uint64_t), "tether::Stats has a field outside TETHER_STATS_FIELDS");
static_assert(sizeof(tether_stats) == sizeof(size_t) + kStatsFields * sizeof(uint64_t),
              "tether_stats and TETHER_STATS_FIELDS differ in length");
#define TETHER_STATS_SAME_PLACE_(name)                                                                               \
    static_assert(offsetof(tether_stats, name) - sizeof(size_t) == offsetof(Stats, name), "tether_stats." #name " is out of order");
TETHER_STATS_FIELDS(TETHER_STATS_SAME_PLACE_)
#undef TETHER_STATS_SAME_PLACE_

namespace {

std::optional<std::string> opt_string(const char* s, const char* field, bool utf8 = true) {
    if (s == nullptr) return std::nullopt;
    std::string v(s);
    if (utf8 && !tether::is_valid_utf8(v))
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

} // namespace

ClientOptions to_client_options(const tether_client_options& o, const std::shared_ptr<EventRouter>& router) {
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
    // Events carry the payload as text: no DOM to build and dump again.
    out.message_data = MessageData::text;

    out.tls.ca_file = opt_string(o.tls_ca_file, "tls_ca_file", false).value_or("");
    out.tls.ca_dir = opt_string(o.tls_ca_dir, "tls_ca_dir", false).value_or("");
    out.tls.cert_file = opt_string(o.tls_cert_file, "tls_cert_file", false).value_or("");
    out.tls.key_file = opt_string(o.tls_key_file, "tls_key_file", false).value_or("");
    out.tls.pinned_spki_sha256 = string_list(o.tls_pinned_spki_sha256, o.tls_pinned_spki_count, "tls_pinned_spki_sha256", true);
    if (o.tls_insecure_skip_verify != 0 && o.tls_insecure_skip_verify != 1)
        throw OptionError{TETHER_E_INVALID_ARGUMENT, "tls_insecure_skip_verify must be 0 or 1"};
    out.tls.insecure_skip_verify = o.tls_insecure_skip_verify == 1;
    if (o.reserved0_ != 0) throw OptionError{TETHER_E_INVALID_ARGUMENT, "reserved0_ must be 0"};
    out.persistence.path = opt_string(o.persistence_path, "persistence_path", false).value_or("");
    switch (o.persistence_durability) {
    case TETHER_DURABILITY_NORMAL: out.persistence.durability = tether::Durability::normal; break;
    case TETHER_DURABILITY_OFF: out.persistence.durability = tether::Durability::off; break;
    case TETHER_DURABILITY_FULL: out.persistence.durability = tether::Durability::full; break;
    default: throw OptionError{TETHER_E_INVALID_ARGUMENT, "persistence_durability is out of range"};
    }
    if (o.persistence_commit_interval_ms == TETHER_COMMIT_EVERY_TURN)
        out.persistence.commit_interval = tether::Milliseconds(0);
    else
        out.persistence.commit_interval = duration(o.persistence_commit_interval_ms, d.persistence.commit_interval,
                                                   "persistence_commit_interval_ms (TETHER_COMMIT_EVERY_TURN: -1)");
    out.heartbeat.probe_timeout =
        duration(o.heartbeat_probe_timeout_ms, d.heartbeat.probe_timeout, "heartbeat_probe_timeout_ms");
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
        out.token_provider = [router](bool refresh) { return router->on_token(refresh); };
    if (o.log_callback != nullptr)
        out.log = [router](tether::LogLevel level, std::string_view message) { router->on_log(level, message); };

    tether::Callbacks& cb = out.callbacks;
    cb.on_state = [router](const tether::StateChange& sc) { router->on_state(sc); };
    cb.on_message = [router](const tether::Message& m) { router->on_message(m); };
    cb.on_acked = [router](tether::MessageId id) { router->on_acked(id); };
    cb.on_failed = [router](tether::MessageId id, const std::string& mid, std::error_code ec) { router->on_failed(id, mid, ec); };
    cb.on_resumed = [router](const std::string& session) { router->on_resumed(session); };
    cb.on_session_lost = [router](const tether::SessionLostInfo& info) { router->on_session_lost(info); };
    cb.on_error = [router](std::error_code ec, const std::string& detail) { router->on_error(ec, detail); };
    cb.on_durable = [router](tether::MessageId through) { router->on_durable(through); };
    if (o.report_sent != 0 && o.report_sent != 1) throw OptionError{TETHER_E_INVALID_ARGUMENT, "report_sent must be 0 or 1"};
    if (o.report_sent == 1) cb.on_sent = [router](tether::MessageId id) { router->on_sent(id); };
    return out;
}

tether_stats to_c(const Stats& s) {
    tether_stats o{};
    o.struct_size = sizeof(tether_stats);
#define TETHER_STATS_COPY_(name) o.name = s.name;
    TETHER_STATS_FIELDS(TETHER_STATS_COPY_)
#undef TETHER_STATS_COPY_
    return o;
}

} // namespace tether::c_abi
