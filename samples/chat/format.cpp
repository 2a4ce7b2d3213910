#include "format.hpp"

#include <cstdio>
#include <sstream>

namespace tchat {

using tether::State;

std::string code_name(const std::error_code& ec) {
    if (!ec) return {};
    if (ec.category() == tether::error_category()) return tether::errc_name(static_cast<tether::errc>(ec.value()));
    return ec.message();
}

std::string sanitize(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) {
            out += c == '\t' ? ' ' : '?';
            ++i;
            continue;
        }
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1fu;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0fu;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07u;
        }
        bool valid = len != 0 && i + len <= text.size();
        for (std::size_t k = 1; valid && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xc0) != 0x80) valid = false;
            cp = (cp << 6) | (cc & 0x3fu);
        }
        if (valid) {
            static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
            if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) valid = false;
        }
        if (!valid) {
            out += '?';
            ++i;
            continue;
        }
        if (cp >= 0x80 && cp <= 0x9f) out += '?'; // C1 controls
        else out.append(text, i, len);
        i += len;
    }
    return out;
}

namespace {

std::string one_decimal_seconds(SteadyClock::duration d) {
    const auto ms = std::chrono::duration_cast<Millis>(d).count();
    const long long tenths = ms <= 0 ? 0 : (ms + 99) / 100;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10);
}

const nlohmann::json* field(const nlohmann::json& obj, const char* name) {
    if (!obj.is_object()) return nullptr;
    const auto& fields = obj.get_ref<const nlohmann::json::object_t&>();
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
}

} // namespace

std::string state_phrase(const Status& s, SteadyClock::time_point now) {
    std::string out = tether::to_string(s.state);
    switch (s.state) {
    case State::backoff:
        out += " \u2014 retry in " + one_decimal_seconds(s.retry_at > now ? s.retry_at - now : SteadyClock::duration{}) +
               " s (attempt " + std::to_string(s.attempt) + ")";
        if (!s.reason.empty()) out += " \u00b7 " + s.reason;
        break;
    case State::failed:
    case State::closed:
        if (!s.reason.empty()) out += " \u2014 " + s.reason;
        if (!s.detail.empty()) out += ": " + s.detail;
        break;
    default: break;
    }
    return out;
}

std::string counters_phrase(const Status& s) {
    std::ostringstream o;
    o << "pending " << s.stats.outbox_depth << " \u00b7 resent " << s.stats.frames_resent << " \u00b7 reconnects "
      << s.stats.reconnects << " \u00b7 resumes " << s.stats.resumes << " \u00b7 sessions lost "
      << s.stats.sessions_lost << " \u00b7 dups " << s.duplicates;
    return o.str();
}

std::string elapsed_stamp(Millis since_start) {
    const long long t = since_start.count();
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%6lld.%03lld ", t / 1000, t % 1000);
    return stamp;
}

std::string id_safe(const std::string& nick) {
    std::string out;
    for (char c : nick) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
            out += c;
        if (out.size() >= 24) break;
    }
    return out.empty() ? "chat" : out;
}

std::string hex32(std::uint32_t v) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
}

const char* level_name(tether::LogLevel level) {
    switch (level) {
    case tether::LogLevel::trace: return "trace";
    case tether::LogLevel::debug: return "debug";
    case tether::LogLevel::info: return "info";
    case tether::LogLevel::warn: return "warn";
    case tether::LogLevel::error: return "error";
    }
    return "?";
}

std::string string_field(const nlohmann::json& obj, const char* name) {
    const nlohmann::json* f = field(obj, name);
    return f && f->is_string() ? f->get<std::string>() : std::string();
}

bool true_field(const nlohmann::json& obj, const char* name) {
    const nlohmann::json* f = field(obj, name);
    return f && f->is_boolean() && f->get<bool>();
}

} // namespace tchat
