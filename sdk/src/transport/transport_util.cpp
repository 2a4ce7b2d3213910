#include "transport/transport_util.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <array>
#include <cstring>
#include <random>

#include "core/time.hpp"
#include "core/utf8.hpp"

namespace tether::transport::detail {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f'); }

struct Authority {
    std::string host;
    std::uint16_t port = 0; // 0: none given
};

// host[:port] or [v6][:port]. Host names are restricted to what DNS and
// websocketpp's parser accept unchanged (IDNs must arrive as punycode).
std::optional<Authority> parse_authority(std::string_view a, std::string& why) {
    Authority out;
    std::string_view rest;
    if (!a.empty() && a.front() == '[') {
        const auto close = a.find(']');
        if (close == std::string_view::npos) {
            why = "unterminated IPv6 literal";
            return std::nullopt;
        }
        const auto v6 = a.substr(1, close - 1);
        for (char c : v6) {
            if (!is_hex(c) && c != ':' && c != '.') {
                why = "bad IPv6 literal";
                return std::nullopt;
            }
        }
        out.host = std::string(v6);
        rest = a.substr(close + 1);
    } else {
        const auto colon = a.find(':');
        const auto host = a.substr(0, colon);
        for (char c : host) {
            if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_') {
                why = "bad character in host";
                return std::nullopt;
            }
        }
        out.host = std::string(host);
        rest = colon == std::string_view::npos ? std::string_view{} : a.substr(colon);
    }
    if (out.host.empty()) {
        why = "empty host";
        return std::nullopt;
    }
    if (!rest.empty()) {
        if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) {
            why = "bad port";
            return std::nullopt;
        }
        unsigned long port = 0;
        for (char c : rest.substr(1)) {
            if (!is_digit(c)) {
                why = "bad port";
                return std::nullopt;
            }
            port = port * 10 + static_cast<unsigned long>(c - '0');
        }
        if (port == 0 || port > 65535) {
            why = "port out of range";
            return std::nullopt;
        }
        out.port = static_cast<std::uint16_t>(port);
    }
    return out;
}

// Splits "scheme://rest"; the scheme is returned lower-case.
bool split_scheme(std::string_view url, std::string& scheme, std::string_view& rest) {
    const auto sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) return false;
    scheme.clear();
    for (char c : url.substr(0, sep)) scheme.push_back(lower(c));
    rest = url.substr(sep + 3);
    return true;
}

bool printable_ascii(std::string_view s) {
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return false;
    }
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil), so no timegm()/_mkgmtime() portability issue.
long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? static_cast<unsigned>(-3) : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long long>(doe) - 719468;
}

std::optional<int> two_digits(std::string_view s, std::size_t at) {
    if (at + 2 > s.size() || !is_digit(s[at]) || !is_digit(s[at + 1])) return std::nullopt;
    return (s[at] - '0') * 10 + (s[at + 1] - '0');
}

// IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"); the obsolete RFC 850
// and asctime forms are not worth the code for a backoff hint.
std::optional<std::chrono::system_clock::time_point> parse_imf_fixdate(std::string_view s) {
    if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s[25] != ' ' || s.substr(26) != "GMT") {
        return std::nullopt;
    }
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    unsigned month = 0;
    for (unsigned i = 0; i < 12; ++i) {
        if (s.substr(8, 3) == kMonths[i]) month = i + 1;
    }
    const auto day = two_digits(s, 5);
    const auto y1 = two_digits(s, 12);
    const auto y2 = two_digits(s, 14);
    const auto hh = two_digits(s, 17);
    const auto mm = two_digits(s, 20);
    const auto ss = two_digits(s, 23);
    if (month == 0 || !day || !y1 || !y2 || !hh || !mm || !ss || *day < 1 || *day > 31 || *hh > 23 ||
        *mm > 59 || *ss > 60) {
        return std::nullopt;
    }
    const long long days = days_from_civil(*y1 * 100 + *y2, month, static_cast<unsigned>(*day));
    const long long secs = days * 86400 + *hh * 3600 + *mm * 60 + *ss;
    return std::chrono::system_clock::time_point(std::chrono::seconds(secs));
}

} // namespace

std::optional<WsUrl> parse_ws_url(std::string_view url, std::string& why) {
    if (url.empty()) {
        why = "empty URL";
        return std::nullopt;
    }
    if (!printable_ascii(url)) {
        why = "URL contains whitespace, control or non-ASCII characters";
        return std::nullopt;
    }
    std::string scheme;
    std::string_view rest;
    if (!split_scheme(url, scheme, rest) || (scheme != "ws" && scheme != "wss")) {
        why = "scheme must be ws:// or wss://";
        return std::nullopt;
    }
    if (url.find('#') != std::string_view::npos) {
        why = "fragments are not allowed in WebSocket URLs";
        return std::nullopt;
    }
    const auto end = rest.find_first_of("/?");
    const auto authority = rest.substr(0, end);
    std::string_view path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (authority.find('@') != std::string_view::npos) {
        why = "user info in the URL is not supported";
        return std::nullopt;
    }
    auto auth = parse_authority(authority, why);
    if (!auth) return std::nullopt;

    WsUrl out;
    out.secure = scheme == "wss";
    out.host = std::move(auth->host);
    out.port = auth->port != 0 ? auth->port : static_cast<std::uint16_t>(out.secure ? 443 : 80);
    out.normalized = scheme + "://" + std::string(authority);
    // websocketpp reads "host?q" as a host name: give it "host/?q".
    if (path.empty() || path.front() == '?') out.normalized += '/';
    out.normalized += path;
    return out;
}

std::optional<std::string> normalize_proxy_url(std::string_view url, std::string& why) {
    if (!printable_ascii(url)) {
        why = "proxy URL contains whitespace, control or non-ASCII characters";
        return std::nullopt;
    }
    std::string scheme;
    std::string_view rest;
    if (!split_scheme(url, scheme, rest) || scheme != "http") {
        why = "proxy URL must be http://host:port";
        return std::nullopt;
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.find_first_of("/?#@") != std::string_view::npos) {
        why = "proxy URL must be http://host:port (credentials go in ProxyOptions)";
        return std::nullopt;
    }
    if (!parse_authority(rest, why)) {
        why = "proxy URL: " + why;
        return std::nullopt;
    }
    return "http://" + std::string(rest);
}

bool is_http_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (is_alpha(c) || is_digit(c)) continue;
        if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
    }
    return true;
}

bool is_safe_header_value(std::string_view s) {
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
    }
    return true;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;

    if (is_digit(value.front())) {
        long long secs = 0;
        for (char c : value) {
            if (!is_digit(c)) return std::nullopt;
            // Saturate long before overflow; the result is clamped anyway.
            if (secs < 1'000'000'000'000LL) secs = secs * 10 + (c - '0');
        }
        return core::clamp_duration(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::seconds(
            std::min<long long>(secs, std::chrono::duration_cast<std::chrono::seconds>(core::kMaxDuration).count()))));
    }
    const auto when = parse_imf_fixdate(value);
    if (!when) return std::nullopt;
    if (*when <= now) return std::chrono::milliseconds(0);
    const auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(*when - now);
    return core::clamp_duration(delta);
}

std::string truncate_utf8(std::string_view s, std::size_t max_bytes) {
    if (s.size() <= max_bytes) return std::string(s);
    std::size_t cut = max_bytes;
    // Back up to the first byte of the sequence that straddles the limit.
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return std::string(s.substr(0, cut));
}

std::string base64(const unsigned char* data, std::size_t len) {
    std::string out(4 * ((len + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

namespace {

struct CsprngPool {
    std::mutex mu;
    std::array<unsigned char, 4096> buf{};
    std::size_t pos = sizeof(buf);

    void refill() {
        if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
            std::random_device rd;
            for (std::size_t i = 0; i < buf.size(); i += sizeof(std::uint32_t)) {
                const std::uint32_t v = rd();
                std::memcpy(buf.data() + i, &v, sizeof v);
            }
        }
        pos = 0;
    }
};

CsprngPool* g_pool = nullptr;

// Never destroyed: websocketpp endpoints may draw during static destruction.
CsprngPool& csprng_pool() {
    static CsprngPool* pool = [] {
        g_pool = new CsprngPool;
        // Held across fork() so the child gets a consistent pool, which it
        // then empties: parent and child must never send the same keys.
        ::pthread_atfork([] { g_pool->mu.lock(); }, [] { g_pool->mu.unlock(); },
                         [] {
                             g_pool->pos = g_pool->buf.size();
                             g_pool->mu.unlock();
                         });
        return g_pool;
    }();
    return *pool;
}

} // namespace

std::uint32_t BufferedCsprng::operator()() {
    CsprngPool& pool = csprng_pool();
    std::lock_guard<std::mutex> lock(pool.mu);
    if (pool.pos + sizeof(std::uint32_t) > pool.buf.size()) pool.refill();
    std::uint32_t v = 0;
    std::memcpy(&v, pool.buf.data() + pool.pos, sizeof v);
    pool.pos += sizeof v;
    return v;
}

void mask_in_place(char* data, std::size_t size, std::uint32_t key) noexcept {
    unsigned char k[4];
    std::memcpy(k, &key, sizeof k);
    std::uint64_t k8 = 0;
    unsigned char k8_bytes[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
    std::memcpy(&k8, k8_bytes, sizeof k8);
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, data + i, sizeof w);
        w ^= k8;
        std::memcpy(data + i, &w, sizeof w);
    }
    for (; i < size; ++i) data[i] = static_cast<char>(static_cast<unsigned char>(data[i]) ^ k[i & 3]);
}

void append_masked_text_frame(std::string& wire, std::string_view text, std::uint32_t key) {
    unsigned char header[14];
    std::size_t n = 0;
    header[n++] = 0x81; // FIN, text
    const std::uint64_t len = text.size();
    if (len < 126) {
        header[n++] = static_cast<unsigned char>(0x80 | len);
    } else if (len <= 0xFFFF) {
        header[n++] = 0x80 | 126;
        header[n++] = static_cast<unsigned char>(len >> 8);
        header[n++] = static_cast<unsigned char>(len);
    } else {
        header[n++] = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8) header[n++] = static_cast<unsigned char>(len >> shift);
    }
    std::memcpy(header + n, &key, sizeof key);
    n += sizeof key;
    wire.append(reinterpret_cast<const char*>(header), n);
    const std::size_t at = wire.size();
    wire.append(text);
    mask_in_place(wire.data() + at, text.size(), key);
}

bool is_valid_utf8_fast(std::string_view s) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, s.data() + i, sizeof w);
        if ((w & 0x8080808080808080ULL) != 0) break;
    }
    return core::is_valid_utf8(s.substr(i));
}

} // namespace tether::transport::detail
