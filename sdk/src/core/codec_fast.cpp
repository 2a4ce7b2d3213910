// Theory of operation: see codec_fast.hpp. One recursive-descent pass over
// the text (depth bounded), no allocation except the results themselves:
//   - strings: runs of plain ASCII are skipped in a tight loop; UTF-8 is
//     checked per RFC 3629 (the table nlohmann's lexer uses); escapes are
//     checked, including surrogate pairs; raw control characters fail;
//   - numbers: RFC 8259 grammar. nlohmann turns a float (or an integer too
//     large for 64 bits) that overflows a double into a parse error, so the
//     scanner bounds the decimal magnitude: < 1e308 is finite, >= 1e309 is
//     not, and the one decade between is settled by std::from_chars; numbers
//     below 1e-300 are declined (subnormal corner cases);
//   - "canonical" tracks whether a value is already byte-identical to
//     nlohmann's compact dump of it (ClientMsg::data_json is that dump):
//     no whitespace, object keys strictly ascending (std::map order, which
//     also rules out duplicates), no \u or \/ escapes, integers only (no
//     -0, at most 18 digits). Anything else makes the client-msg decoder
//     decline, and the DOM path re-dumps the value.
#include "core/codec_fast.hpp"
#include "core/swar.hpp"
#include "core/utf8.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace tether::core::fast {
namespace {

using json = nlohmann::json;

// The scanner recurses once per nesting level; deeper input is left to the
// DOM path (whose pre-scan enforces DecodeLimits::max_depth iteratively).
constexpr std::size_t kMaxFastDepth = 128;

bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

using swar::has_special_byte;

class Scanner {
public:
    Scanner(const char* begin, const char* end, std::size_t max_depth) noexcept
        : p_(begin), end_(end), max_depth_(max_depth < kMaxFastDepth ? max_depth : kMaxFastDepth) {}

    const char* pos() const noexcept { return p_; }
    bool at_end() const noexcept { return p_ == end_; }
    bool peek(char c) const noexcept { return p_ != end_ && *p_ == c; }
    bool canonical() const noexcept { return canonical_; }
    void reset_canonical() noexcept { canonical_ = true; }

    // Whitespace between the frame's own tokens: allowed, not data.
    void ws() noexcept {
        while (p_ != end_ && is_ws(*p_)) ++p_;
    }

    bool consume(char c) noexcept {
        if (p_ == end_ || *p_ != c) return false;
        ++p_;
        return true;
    }

    // One value at nesting `depth` (the depth of its enclosing container;
    // 0 at top level). On success the position is just past the value.
    bool value(std::size_t depth) {
        if (p_ == end_) return false;
        switch (*p_) {
        case '{': return object(depth + 1);
        case '[': return array(depth + 1);
        case '"': {
            bool escaped = false;
            return string(escaped);
        }
        case 't': return literal("true");
        case 'f': return literal("false");
        case 'n': return literal("null");
        default: return number();
        }
    }

    // A string at the position (which must be a quote). `escaped` is set if
    // it contains any backslash escape.
    bool string(bool& escaped) {
        ++p_; // opening quote
        escaped = false;
        for (;;) {
            // 8 bytes at a time while none is special (", \\, < 0x20, >= 0x80).
            while (end_ - p_ >= 8) {
                if (has_special_byte(swar::load8(p_))) break;
                p_ += 8;
            }
            while (p_ != end_) {
                const auto c = static_cast<unsigned char>(*p_);
                if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
                ++p_;
            }
            if (p_ == end_) return false;
            const auto c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                ++p_;
                return true;
            }
            if (c == '\\') {
                escaped = true;
                if (!escape()) return false;
                continue;
            }
            if (c < 0x20) return false; // raw control character
            const std::size_t n = utf8_sequence_length(p_, end_);
            if (n == 0) return false;
            p_ += n;
        }
    }

    // A number token; also reports whether it is a plain non-negative
    // integer of at most 16 digits (a candidate seq) and its value.
    bool number(bool* plain_uint = nullptr, std::uint64_t* uint_value = nullptr) {
        const char* const start = p_;
        bool negative = false;
        if (p_ != end_ && *p_ == '-') {
            negative = true;
            ++p_;
        }
        if (p_ == end_) return false;
        const char* const int_begin = p_;
        if (*p_ == '0') {
            ++p_;
        } else if (*p_ >= '1' && *p_ <= '9') {
            while (p_ != end_ && is_digit(*p_)) ++p_;
        } else {
            return false;
        }
        const char* const int_end = p_;
        const char* frac_begin = nullptr;
        const char* frac_end = nullptr;
        bool is_float = false;
        if (p_ != end_ && *p_ == '.') {
            ++p_;
            frac_begin = p_;
            if (p_ == end_ || !is_digit(*p_)) return false;
            while (p_ != end_ && is_digit(*p_)) ++p_;
            frac_end = p_;
            is_float = true;
        }
        long exponent = 0;
        if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
            ++p_;
            bool exp_negative = false;
            if (p_ != end_ && (*p_ == '+' || *p_ == '-')) {
                exp_negative = *p_ == '-';
                ++p_;
            }
            if (p_ == end_ || !is_digit(*p_)) return false;
            while (p_ != end_ && is_digit(*p_)) {
                if (exponent < 1000000) exponent = exponent * 10 + (*p_ - '0'); // saturates; only the magnitude matters
                ++p_;
            }
            if (exp_negative) exponent = -exponent;
            is_float = true;
        }
        const auto int_digits = static_cast<long>(int_end - int_begin);
        if (!is_float) {
            if (plain_uint != nullptr && !negative && int_digits <= 16) {
                std::uint64_t v = 0;
                for (const char* q = int_begin; q != int_end; ++q) v = v * 10 + static_cast<std::uint64_t>(*q - '0');
                *plain_uint = true;
                *uint_value = v;
            }
            if (negative && int_digits == 1 && *int_begin == '0') canonical_ = false; // dumps as 0
            if (int_digits > 18) canonical_ = false; // may become a float
            if (int_digits <= 300) return true;      // < 1e300: finite as a double
        } else {
            canonical_ = false;
        }
        // Decimal magnitude of the leading significant digit.
        long magnitude = 0;
        if (*int_begin != '0') {
            magnitude = int_digits - 1 + exponent;
        } else {
            const char* q = frac_begin;
            while (q != nullptr && q != frac_end && *q == '0') ++q;
            if (q == nullptr || q == frac_end) return true; // zero
            magnitude = -static_cast<long>(q - frac_begin) - 1 + exponent;
        }
        // Near the subnormal range parsers differ in corner cases (a rounding
        // to zero is an error for std::from_chars, a -0.0 for strtod): leave
        // such numbers to the DOM path.
        if (magnitude < -300) return false;
        if (magnitude <= 307) return true;
        if (magnitude >= 309) return false; // overflows a double: nlohmann refuses it
        double d = 0;
        const auto r = std::from_chars(start, p_, d);
        return r.ec == std::errc() && r.ptr == p_;
    }

private:
    bool object(std::size_t depth) {
        if (depth > max_depth_) return false;
        ++p_; // {
        inner_ws();
        if (consume('}')) return true;
        std::string_view previous;
        bool have_previous = false;
        for (;;) {
            if (!peek('"')) return false;
            const char* const key_begin = p_ + 1;
            bool escaped = false;
            if (!string(escaped)) return false;
            const std::string_view key(key_begin, static_cast<std::size_t>(p_ - 1 - key_begin));
            if (escaped || (have_previous && !(previous < key))) canonical_ = false;
            previous = key;
            have_previous = true;
            inner_ws();
            if (!consume(':')) return false;
            inner_ws();
            if (!value(depth)) return false;
            inner_ws();
            if (consume(',')) {
                inner_ws();
                continue;
            }
            return consume('}');
        }
    }

    bool array(std::size_t depth) {
        if (depth > max_depth_) return false;
        ++p_; // [
        inner_ws();
        if (consume(']')) return true;
        for (;;) {
            if (!value(depth)) return false;
            inner_ws();
            if (consume(',')) {
                inner_ws();
                continue;
            }
            return consume(']');
        }
    }

    // Whitespace inside a value: allowed, but not in nlohmann's compact dump.
    void inner_ws() noexcept {
        if (p_ != end_ && is_ws(*p_)) {
            canonical_ = false;
            ws();
        }
    }

    bool literal(std::string_view word) noexcept {
        if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
        p_ += word.size();
        return true;
    }

    bool hex4(unsigned& out) noexcept {
        if (end_ - p_ < 4) return false;
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const int h = hex_value(p_[i]);
            if (h < 0) return false;
            out = out * 16 + static_cast<unsigned>(h);
        }
        p_ += 4;
        return true;
    }

    // At a backslash inside a string.
    bool escape() noexcept {
        ++p_;
        if (p_ == end_) return false;
        const char c = *p_++;
        switch (c) {
        case '"':
        case '\\':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': return true; // nlohmann dumps these characters exactly so
        case '/': canonical_ = false; return true;
        case 'u': {
            canonical_ = false;
            unsigned cp = 0;
            if (!hex4(cp)) return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return false; // a low surrogate first
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
                p_ += 2;
                unsigned low = 0;
                if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            }
            return true;
        }
        default: return false;
        }
    }

    const char* p_;
    const char* const end_;
    const std::size_t max_depth_;
    bool canonical_ = true;
};

// Builds the nlohmann value of a span the Scanner has already accepted, with
// the exact types and values nlohmann's own parser gives: non-negative
// integers that fit in 64 bits are number_unsigned, negative ones that fit
// number_integer, anything else a correctly rounded double; duplicate keys
// keep the last value. Unlike nlohmann's parser it copies each string once
// (no token buffer grown byte by byte, no parser stack): a 64 B payload
// object costs 4 allocations instead of about 20.
class Builder {
public:
    Builder(const char* begin, const char* end) noexcept : p_(begin), end_(end) {}

    json value() {
        ws();
        switch (*p_) {
        case '{': {
            ++p_;
            json j(json::value_t::object);
            auto& object = *j.get_ptr<json::object_t*>();
            ws();
            if (*p_ == '}') {
                ++p_;
                return j;
            }
            for (;;) {
                ws();
                std::string key = string();
                ws();
                ++p_; // :
                object[std::move(key)] = value();
                ws();
                if (*p_++ == '}') return j; // else ','
            }
        }
        case '[': {
            ++p_;
            json j(json::value_t::array);
            auto& array = *j.get_ptr<json::array_t*>();
            ws();
            if (*p_ == ']') {
                ++p_;
                return j;
            }
            for (;;) {
                array.push_back(value());
                ws();
                if (*p_++ == ']') return j; // else ','
            }
        }
        case '"': return json(string());
        case 't': p_ += 4; return json(true);
        case 'f': p_ += 5; return json(false);
        case 'n': p_ += 4; return json(nullptr);
        default: return number();
        }
    }

private:
    void ws() noexcept {
        while (p_ != end_ && is_ws(*p_)) ++p_;
    }

    std::string string() {
        ++p_; // opening quote
        const char* run = p_;
        while (*p_ != '"' && *p_ != '\\') ++p_;
        std::string out(run, static_cast<std::size_t>(p_ - run));
        while (*p_ != '"') {
            // At a backslash (the Scanner checked every escape).
            const char c = p_[1];
            p_ += 2;
            switch (c) {
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': core::append_utf8(out, code_point()); break;
            default: out.push_back(c); break; // " \\ /
            }
            run = p_;
            while (*p_ != '"' && *p_ != '\\') ++p_;
            out.append(run, static_cast<std::size_t>(p_ - run));
        }
        ++p_; // closing quote
        return out;
    }

    unsigned hex4() noexcept {
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) v = v * 16 + static_cast<unsigned>(hex_value(p_[i]));
        p_ += 4;
        return v;
    }

    // After "\u"; a high surrogate is followed by "\u" and a low one.
    std::uint32_t code_point() noexcept {
        const unsigned first = hex4();
        if (first < 0xD800 || first > 0xDBFF) return first;
        p_ += 2; // backslash, u
        const unsigned low = hex4();
        return 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
    }

    json number() {
        const char* const start = p_;
        bool integer = true;
        if (*p_ == '-') ++p_;
        while (p_ != end_) {
            const char c = *p_;
            if (is_digit(c)) {
                ++p_;
            } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                integer = false;
                ++p_;
            } else {
                break;
            }
        }
        if (integer) {
            if (*start == '-') {
                std::int64_t v = 0;
                const auto r = std::from_chars(start, p_, v);
                if (r.ec == std::errc()) return json(static_cast<json::number_integer_t>(v));
            } else {
                std::uint64_t v = 0;
                const auto r = std::from_chars(start, p_, v);
                if (r.ec == std::errc()) return json(static_cast<json::number_unsigned_t>(v));
            }
        }
        double d = 0; // out of the 64-bit range, or not an integer: a double, as nlohmann does
        std::from_chars(start, p_, d);
        return json(static_cast<json::number_float_t>(d));
    }

    const char* p_;
    const char* const end_;
};

// The top-level fields of a frame that the hot frames use.
struct Envelope {
    std::string_view type;
    bool has_type = false;

    bool has_seq = false;
    bool seq_ok = false; // a plain integer < 2^53
    std::uint64_t seq = 0;

    enum class Id { absent, null, string, other } id = Id::absent;
    std::string_view id_text; // when id == string (no escapes)

    bool has_data = false;
    const char* data_begin = nullptr;
    const char* data_end = nullptr;
    bool data_canonical = false;
};

// Scans a whole frame: exactly one object, valid throughout, nothing after
// it. Declines (false) on anything the hot decoders do not handle.
bool scan_envelope(std::string_view text, const DecodeLimits& limits, Envelope& env) {
    if (text.size() > limits.max_bytes || limits.max_depth < 1) return false;
    Scanner s(text.data(), text.data() + text.size(), limits.max_depth);
    s.ws();
    if (!s.consume('{')) return false; // also: a byte order mark, which nlohmann skips
    s.ws();
    if (s.peek('}')) return false; // no type: an error, the DOM path words it
    for (;;) {
        if (!s.peek('"')) return false;
        const char* const key_begin = s.pos() + 1;
        bool escaped = false;
        if (!s.string(escaped) || escaped) return false;
        const std::string_view key(key_begin, static_cast<std::size_t>(s.pos() - 1 - key_begin));
        s.ws();
        if (!s.consume(':')) return false;
        s.ws();
        if (key == "type") {
            if (env.has_type || !s.peek('"')) return false;
            const char* const b = s.pos() + 1;
            if (!s.string(escaped) || escaped) return false;
            env.type = std::string_view(b, static_cast<std::size_t>(s.pos() - 1 - b));
            env.has_type = true;
        } else if (key == "seq") {
            if (env.has_seq) return false;
            env.has_seq = true;
            bool plain = false;
            if (s.peek('-') || (!s.at_end() && is_digit(*s.pos()))) {
                if (!s.number(&plain, &env.seq)) return false;
                env.seq_ok = plain && env.seq <= kMaxSeq;
            } else if (!s.value(1)) {
                return false;
            }
        } else if (key == "id") {
            if (env.id != Envelope::Id::absent) return false;
            if (s.peek('"')) {
                const char* const b = s.pos() + 1;
                if (!s.string(escaped)) return false;
                env.id = escaped ? Envelope::Id::other : Envelope::Id::string;
                env.id_text = std::string_view(b, static_cast<std::size_t>(s.pos() - 1 - b));
            } else {
                const char* const b = s.pos();
                if (!s.value(1)) return false;
                env.id = std::string_view(b, static_cast<std::size_t>(s.pos() - b)) == "null" ? Envelope::Id::null
                                                                                              : Envelope::Id::other;
            }
        } else if (key == "data") {
            if (env.has_data) return false;
            env.has_data = true;
            env.data_begin = s.pos();
            s.reset_canonical();
            if (!s.value(1)) return false;
            env.data_end = s.pos();
            env.data_canonical = s.canonical();
        } else if (!s.value(1)) {
            return false;
        }
        s.ws();
        if (s.consume(',')) {
            s.ws();
            continue;
        }
        if (!s.consume('}')) return false;
        break;
    }
    s.ws();
    return s.at_end() && env.has_type;
}

std::optional<Ack> ack_of(const Envelope& env) {
    if (!env.seq_ok) return std::nullopt; // missing or bad seq: the DOM path words the error
    return Ack{env.seq};
}

} // namespace

std::optional<ServerFrame> decode_server_frame(std::string_view text, const DecodeLimits& limits) {
    Envelope env;
    if (!scan_envelope(text, limits, env)) return std::nullopt;
    if (env.type == "ack") {
        if (auto a = ack_of(env)) return ServerFrame(*a);
        return std::nullopt;
    }
    if (env.type == "msg") {
        if (!env.seq_ok || !env.has_data || env.id == Envelope::Id::other) return std::nullopt;
        ServerMsg m;
        m.seq = env.seq;
        // Only `data` becomes a DOM (the application gets it as a json value),
        // or text: the frame's own bytes when they are the DOM path's dump.
        if (!limits.payload_as_text) {
            m.data = Builder(env.data_begin, env.data_end).value();
        } else if (env.data_canonical) {
            m.data_json.assign(env.data_begin, env.data_end);
        } else {
            return std::nullopt;
        }
        if (env.id == Envelope::Id::string) m.id = std::string(env.id_text);
        return ServerFrame(std::move(m));
    }
    return std::nullopt; // welcome, error, unknown and misdirected types: cold
}

std::optional<ClientFrame> decode_client_frame(std::string_view text, const DecodeLimits& limits) {
    Envelope env;
    if (!scan_envelope(text, limits, env)) return std::nullopt;
    if (env.type == "ack") {
        if (auto a = ack_of(env)) return ClientFrame(*a);
        return std::nullopt;
    }
    if (env.type == "msg") {
        if (!env.seq_ok || !env.has_data || !env.data_canonical || env.id != Envelope::Id::string)
            return std::nullopt;
        ClientMsg m;
        m.seq = env.seq;
        m.id = std::string(env.id_text);
        m.data_json.assign(env.data_begin, env.data_end);
        return ClientFrame(std::move(m));
    }
    return std::nullopt; // hello, bye, unknown and misdirected types: cold
}

bool is_valid_json_value(std::string_view text, const DecodeLimits& limits) {
    if (text.size() > limits.max_bytes) return false;
    Scanner s(text.data(), text.data() + text.size(), limits.max_depth);
    s.ws();
    if (!s.value(0)) return false;
    s.ws();
    return s.at_end();
}

bool nesting_within(std::string_view text, std::size_t max_depth) noexcept {
    std::size_t depth = 0;
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p != end) {
        const char c = *p++;
        if (c == '"') {
            for (;;) {
                while (end - p >= 8 && !swar::has_quote_or_backslash(swar::load8(p))) p += 8;
                while (p != end && *p != '"' && *p != '\\') ++p;
                if (p == end) break;
                if (*p++ == '"') break;
                if (p == end) break;
                ++p; // the escaped byte
            }
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        } else if (c == '\0') {
            return false;
        }
    }
    return true;
}

} // namespace tether::core::fast
