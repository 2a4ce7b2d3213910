// Theory of operation: see json_encode.hpp. One recursive walk of the value
// into `out`, which grows geometrically (a reused buffer stops allocating):
//   - strings: runs that need no escape (printable ASCII, well-formed UTF-8)
//     are appended in one piece, found 8 bytes at a time; the escapes are
//     nlohmann's with ensure_ascii off: \" \\ \b \f \n \r \t, \u00XX
//     (lower-case hex) for other control characters, DEL and non-ASCII
//     verbatim;
//   - object keys in the map's order (std::map: ascending), as dump does;
//   - integers by std::to_chars, floats by nlohmann's own formatter, and
//     non-finite floats as null, as dump does.
#include "core/json_encode.hpp"
#include "core/swar.hpp"
#include "core/utf8.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <string_view>

namespace tether::core::fast {
namespace {

using json = nlohmann::json;

class Encoder {
public:
    Encoder(std::string& out, std::size_t max_depth) : out_(out), max_depth_(max_depth) {}

    bool value(const json& v, std::size_t depth) {
        switch (v.type()) {
        case json::value_t::object: {
            if (depth >= max_depth_) return false;
            const auto& object = *v.get_ptr<const json::object_t*>();
            if (object.empty()) {
                out_.append("{}", 2);
                return true;
            }
            char sep = '{';
            for (const auto& [key, member] : object) {
                out_.push_back(sep);
                sep = ',';
                if (!string(key)) return false;
                out_.push_back(':');
                if (!value(member, depth + 1)) return false;
            }
            out_.push_back('}');
            return true;
        }
        case json::value_t::array: {
            if (depth >= max_depth_) return false;
            const auto& array = *v.get_ptr<const json::array_t*>();
            if (array.empty()) {
                out_.append("[]", 2);
                return true;
            }
            char sep = '[';
            for (const json& element : array) {
                out_.push_back(sep);
                sep = ',';
                if (!value(element, depth + 1)) return false;
            }
            out_.push_back(']');
            return true;
        }
        case json::value_t::string: return string(*v.get_ptr<const json::string_t*>());
        case json::value_t::boolean:
            if (*v.get_ptr<const json::boolean_t*>()) {
                out_.append("true", 4);
            } else {
                out_.append("false", 5);
            }
            return true;
        case json::value_t::null: out_.append("null", 4); return true;
        case json::value_t::number_integer: integer(*v.get_ptr<const json::number_integer_t*>()); return true;
        case json::value_t::number_unsigned: integer(*v.get_ptr<const json::number_unsigned_t*>()); return true;
        case json::value_t::number_float: floating(*v.get_ptr<const json::number_float_t*>()); return true;
        case json::value_t::binary:
        case json::value_t::discarded:
        default: return false;
        }
    }

private:
    template <class Int>
    void integer(Int n) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, n);
        out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
    }

    void floating(double d) {
        if (!std::isfinite(d)) {
            out_.append("null", 4);
            return;
        }
        std::array<char, 64> buf{}; // the size of nlohmann's own number buffer
        const char* end = nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), d);
        out_.append(buf.data(), static_cast<std::size_t>(end - buf.data()));
    }

    // False on ill-formed UTF-8 (strict dump throws there).
    bool string(std::string_view s) {
        static constexpr char kHex[] = "0123456789abcdef";
        const char* p = s.data();
        const char* const end = p + s.size();
        const char* run = p; // start of the pending clean run
        out_.push_back('"');
        for (;;) {
            while (end - p >= 8 && !swar::has_special_byte(swar::load8(p))) p += 8;
            while (p != end) {
                const auto c = static_cast<unsigned char>(*p);
                if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
                ++p;
            }
            if (p == end) break;
            const auto c = static_cast<unsigned char>(*p);
            if (c >= 0x80) {
                const std::size_t n = utf8_sequence_length(p, end);
                if (n == 0) return false;
                p += n; // stays in the run
                continue;
            }
            out_.append(run, static_cast<std::size_t>(p - run));
            switch (c) {
            case '"': out_.append("\\\"", 2); break;
            case '\\': out_.append("\\\\", 2); break;
            case '\b': out_.append("\\b", 2); break;
            case '\f': out_.append("\\f", 2); break;
            case '\n': out_.append("\\n", 2); break;
            case '\r': out_.append("\\r", 2); break;
            case '\t': out_.append("\\t", 2); break;
            default: {
                const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0F]};
                out_.append(esc, sizeof esc);
                break;
            }
            }
            ++p;
            run = p;
        }
        out_.append(run, static_cast<std::size_t>(end - run));
        out_.push_back('"');
        return true;
    }

    std::string& out_;
    const std::size_t max_depth_;
};

} // namespace

bool append_compact_dump(std::string& out, const nlohmann::json& value, std::size_t max_depth) {
    const std::size_t start = out.size();
    Encoder encoder(out, max_depth);
    if (encoder.value(value, 0)) return true;
    out.resize(start);
    return false;
}

} // namespace tether::core::fast
