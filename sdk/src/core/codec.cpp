// tether.v1 frame codec. See codec.hpp for the contract and
// docs/protocol.md for the frames.
//
// Theory of operation (decode):
//   1. size check, then a linear pre-scan of bracket nesting that skips JSON
//      strings: a 100,000-deep `[[[[` is refused here, before nlohmann's
//      parser could recurse or allocate a deep DOM (it also refuses NUL
//      outside strings, see prescan());
//   2. exactly one nlohmann parse (allow_exceptions=false) into a DOM whose
//      strings and `data` value are then moved, not copied, into the struct;
//   3. field checks. The first failure wins and its detail names the field
//      as `<frame>.<field>`.
//
// Decisions on corners docs/protocol.md leaves open:
//   - A `type` this version knows but that belongs to the other direction
//     ("hello"/"bye" given to decode_server_frame, "welcome"/"error" given to
//     decode_client_frame) is errc::unexpected_frame, not UnknownFrame: a
//     peer that sends it is confused about its role, not newer than us.
//   - An optional field whose value is `null` counts as absent (Go servers
//     emit nil pointers as null unless they use omitempty). A required field
//     that is `null` is frame_wrong_type. `data` accepts null: it is a value.
//   - Integer-valued numbers only: 1e3 and 1.0 parse as floats and are
//     frame_seq_out_of_range like 1.5. So is 18446744073709551616 (nlohmann
//     turns integers beyond uint64 into floats). `-0` parses as the integer 0
//     and is accepted.
//   - hello.v: missing → frame_missing_field, not a number → frame_wrong_type,
//     any number other than the integer 1 (2, 1.0, -1) → protocol_version.
//   - Duplicate keys: the last one wins (nlohmann's behaviour).
//   - The `client` and `resume` objects of hello, when present, must carry
//     all their fields.
//
// Encoding never fails and always emits valid JSON: strings are escaped here
// (nlohmann's serializer throws on ill-formed UTF-8 unless told otherwise);
// ill-formed UTF-8 bytes in a struct's strings become U+FFFD.
#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "core/utf8.hpp"

#include <charconv>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tether::core {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------
// UTF-8 and JSON string escaping

// Appends `s` as a quoted JSON string. Clean runs (printable ASCII and
// well-formed UTF-8) are appended in one piece; ids are usually one run.
void append_json_string(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    std::size_t run = 0; // start of the pending clean run
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            const std::size_t n = utf8_sequence_length(s.data() + i, s.data() + s.size());
            if (n != 0) {
                i += n; // stays in the clean run
                continue;
            }
        }
        out.append(s.data() + run, i - run);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0F]};
                out.append(esc, sizeof esc);
            } else {
                out += "\xEF\xBF\xBD"; // U+FFFD for one ill-formed byte
            }
            break;
        }
        ++i;
        run = i;
    }
    out.append(s.data() + run, s.size() - run);
    out.push_back('"');
}

void append_u64(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

// Room for one number and a few punctuation marks, to size reserve() calls.
constexpr std::size_t kNumberRoom = 24;

// ---------------------------------------------------------------------------
// Pre-parse checks

enum class Prescan { ok, too_deep, nul_byte };

// One linear pass before parsing, no allocation:
//   - bracket nesting must not exceed max_depth. Brackets inside strings do
//     not count, and a backslash inside a string skips the next byte (so
//     `"\\"` ends where it should);
//   - no NUL byte outside strings: nlohmann's lexer takes NUL for the end of
//     input, so `{...}\0garbage` would otherwise be accepted and, through
//     validate_json_value, reach a stricter peer as a poisoned frame. (Raw
//     NUL inside a string is rejected by the lexer itself.)
// Other malformed input is left to the parser: this only bounds what it sees.
Prescan prescan(std::string_view text, std::size_t max_depth) noexcept {
    std::size_t depth = 0;
    const char* p = text.data();
    const char* const end = p + text.size();
    while (p != end) {
        const char c = *p++;
        if (c == '"') {
            while (p != end) {
                const char s = *p++;
                if (s == '"') break;
                if (s == '\\') {
                    if (p == end) break;
                    ++p;
                }
            }
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return Prescan::too_deep;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        } else if (c == '\0') {
            return Prescan::nul_byte;
        }
    }
    return Prescan::ok;
}

// SAX handler that accepts everything and keeps nlohmann's error message.
// Used by validate_json_value (no DOM needed) and, on the cold path, to
// explain why a frame did not parse.
struct ErrorCapture {
    std::string message;

    bool null() { return true; }
    bool boolean(bool) { return true; }
    bool number_integer(json::number_integer_t) { return true; }
    bool number_unsigned(json::number_unsigned_t) { return true; }
    bool number_float(json::number_float_t, const json::string_t&) { return true; }
    bool string(json::string_t&) { return true; }
    bool binary(json::binary_t&) { return true; }
    bool start_object(std::size_t) { return true; }
    bool key(json::string_t&) { return true; }
    bool end_object() { return true; }
    bool start_array(std::size_t) { return true; }
    bool end_array() { return true; }
    bool parse_error(std::size_t, const std::string&, const json::exception& ex) {
        message = ex.what();
        return false;
    }
};

// Returns true if `text` is one JSON value; otherwise fills `message`.
bool sax_accept(std::string_view text, std::string& message) {
    ErrorCapture capture;
    const bool ok = json::sax_parse(text.data(), text.data() + text.size(), &capture, json::input_format_t::json,
                                    /*strict=*/true, /*ignore_comments=*/false);
    if (!ok) message = std::move(capture.message);
    return ok;
}

// ---------------------------------------------------------------------------
// Field access

constexpr const char* kExpectU53 = "expected unsigned integer < 2^53";

// Reads fields out of one JSON object of a parsed frame, moving strings out
// of the DOM. The first failure is kept; later calls become no-ops returning
// defaults, so a decoder reads all fields and checks failed() once.
class Fields {
public:
    Fields(json::object_t& obj, std::string_view path) : obj_(obj), path_(path) {}

    bool failed() const noexcept { return failure_.has_value(); }
    Failure take_failure() { return std::move(*failure_); }

    void fail(errc e, std::string_view key, std::string_view what) {
        if (failure_) return;
        std::string d;
        d.reserve(path_.size() + key.size() + what.size() + 3);
        d.append(path_).append(".").append(key).append(": ").append(what);
        failure_ = core::fail(e, std::move(d));
    }

    // The value of a required field; nullptr (and a failure) when absent.
    json* required(std::string_view key) {
        json* v = find(key);
        if (v == nullptr) fail(errc::frame_missing_field, key, "missing");
        return v;
    }

    // The value of an optional field; nullptr when absent or null.
    json* optional(std::string_view key) {
        json* v = find(key);
        return v != nullptr && v->is_null() ? nullptr : v;
    }

    std::string string(std::string_view key) { return take_string(required(key), key); }

    std::optional<std::string> opt_string(std::string_view key) {
        json* v = optional(key);
        if (v == nullptr) return std::nullopt;
        std::string s = take_string(v, key);
        if (failed()) return std::nullopt;
        return s;
    }

    std::uint64_t u53(std::string_view key) { return read_u53(required(key), key); }

    std::optional<std::uint64_t> opt_u53(std::string_view key) {
        json* v = optional(key);
        if (v == nullptr) return std::nullopt;
        const std::uint64_t n = read_u53(v, key);
        if (failed()) return std::nullopt;
        return n;
    }

    bool boolean(std::string_view key) {
        json* v = required(key);
        if (v == nullptr) return false;
        if (const auto* b = v->get_ptr<const json::boolean_t*>()) return *b;
        fail_type(*v, key, "expected boolean");
        return false;
    }

    // Optional nested object; nullptr when absent/null or on failure.
    json::object_t* opt_object(std::string_view key) {
        json* v = optional(key);
        if (v == nullptr) return nullptr;
        if (auto* o = v->get_ptr<json::object_t*>()) return o;
        fail_type(*v, key, "expected object");
        return nullptr;
    }

    void fail_type(const json& v, std::string_view key, std::string_view expected) {
        std::string what(expected);
        what.append(", got ").append(v.type_name());
        fail(errc::frame_wrong_type, key, what);
    }

private:
    json* find(std::string_view key) {
        if (failure_) return nullptr;
        const auto it = obj_.find(key); // std::less<>: no temporary std::string
        return it == obj_.end() ? nullptr : &it->second;
    }

    std::string take_string(json* v, std::string_view key) {
        if (v == nullptr) return {};
        if (auto* s = v->get_ptr<json::string_t*>()) return std::move(*s);
        fail_type(*v, key, "expected string");
        return {};
    }

    std::uint64_t read_u53(const json* v, std::string_view key) {
        if (v == nullptr) return 0;
        if (const auto* u = v->get_ptr<const json::number_unsigned_t*>()) {
            if (*u <= kMaxSeq) return *u;
        } else if (const auto* i = v->get_ptr<const json::number_integer_t*>()) {
            if (*i >= 0 && static_cast<std::uint64_t>(*i) <= kMaxSeq) return static_cast<std::uint64_t>(*i);
        } else if (!v->is_number_float()) {
            fail_type(*v, key, kExpectU53);
            return 0;
        }
        // negative, fractional, float-typed (1e3, 1.0, > 2^64) or >= 2^53
        std::string what(kExpectU53);
        what.append(", got ").append(v->dump());
        fail(errc::frame_seq_out_of_range, key, what);
        return 0;
    }

    json::object_t& obj_;
    std::string_view path_;
    std::optional<Failure> failure_;
};

// ---------------------------------------------------------------------------
// Envelope: everything common to both directions

struct Envelope {
    json::object_t* obj = nullptr; // points into the caller's root
    std::string_view type;         // points into the DOM
};

Result<Envelope> parse_envelope(std::string_view text, const DecodeLimits& limits, json& root) {
    if (text.size() > limits.max_bytes) {
        return fail(errc::frame_too_large, "frame: " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                               std::to_string(limits.max_bytes));
    }
    switch (prescan(text, limits.max_depth)) {
    case Prescan::ok: break;
    case Prescan::too_deep:
        return fail(errc::frame_too_deep, "frame: nested deeper than " + std::to_string(limits.max_depth));
    case Prescan::nul_byte: return fail(errc::frame_invalid_json, "frame: invalid JSON: NUL byte outside a string");
    }
    root = json::parse(text.data(), text.data() + text.size(), nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) {
        std::string why;
        sax_accept(text, why); // cold path: parse again only to explain
        return fail(errc::frame_invalid_json, "frame: invalid JSON: " + why);
    }
    auto* obj = root.get_ptr<json::object_t*>();
    if (obj == nullptr) {
        return fail(errc::frame_not_object, std::string("frame: expected object, got ") + root.type_name());
    }
    const auto it = obj->find(std::string_view("type"));
    if (it == obj->end()) return fail(errc::frame_missing_field, "frame.type: missing");
    const auto* type = it->second.get_ptr<const json::string_t*>();
    if (type == nullptr) {
        return fail(errc::frame_wrong_type, std::string("frame.type: expected string, got ") + it->second.type_name());
    }
    return Envelope{obj, *type};
}

Failure wrong_direction(std::string_view type, const char* sender) {
    std::string d(type);
    d.append(": ").append(sender).append(" must never send this frame type");
    return fail(errc::unexpected_frame, std::move(d));
}

// Both directions: {"type":"ack","seq":N}
Result<Ack> decode_ack(json::object_t& obj) {
    Fields f(obj, "ack");
    Ack a;
    a.seq = f.u53("seq");
    if (f.failed()) return f.take_failure();
    return a;
}

Result<Welcome> decode_welcome(json::object_t& obj) {
    Fields f(obj, "welcome");
    Welcome w;
    w.session = f.string("session");
    w.resume_token = f.string("resume_token");
    w.resumed = f.boolean("resumed");
    w.last_seq = f.u53("last_seq");
    w.heartbeat_ms = f.opt_u53("heartbeat_ms");
    w.session_ttl_ms = f.opt_u53("session_ttl_ms");
    if (f.failed()) return f.take_failure();
    return w;
}

Result<ServerMsg> decode_server_msg(json::object_t& obj, bool payload_as_text) {
    Fields f(obj, "msg");
    ServerMsg m;
    m.seq = f.u53("seq");
    json* data = f.required("data");
    m.id = f.opt_string("id");
    if (f.failed()) return f.take_failure();
    if (payload_as_text) {
        // Parsed from valid UTF-8, so it dumps; replace rather than throw.
        m.data_json = data->dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
        m.data = std::move(*data);
    }
    return m;
}

Result<ErrorFrame> decode_error(json::object_t& obj) {
    Fields f(obj, "error");
    ErrorFrame e;
    e.code = f.string("code");
    e.message = f.opt_string("message");
    e.retry_after_ms = f.opt_u53("retry_after_ms");
    if (f.failed()) return f.take_failure();
    return e;
}

Result<Hello> decode_hello(json::object_t& obj) {
    Fields f(obj, "hello");
    Hello h;
    if (const json* v = f.required("v")) {
        if (!v->is_number()) {
            f.fail_type(*v, "v", "expected the integer 1");
        } else {
            const auto* u = v->get_ptr<const json::number_unsigned_t*>();
            const auto* i = v->get_ptr<const json::number_integer_t*>();
            const bool is_one = (u != nullptr && *u == 1) || (i != nullptr && *i == 1);
            if (!is_one) f.fail(errc::protocol_version, "v", "expected the integer 1, got " + v->dump());
        }
    }
    h.token = f.opt_string("token");
    if (json::object_t* client = f.opt_object("client")) {
        Fields c(*client, "hello.client");
        ClientInfo info;
        info.name = c.string("name");
        info.version = c.string("version");
        if (c.failed()) return c.take_failure();
        h.client = std::move(info);
    }
    if (json::object_t* resume = f.opt_object("resume")) {
        Fields r(*resume, "hello.resume");
        ResumeRequest req;
        req.session = r.string("session");
        req.resume_token = r.string("resume_token");
        req.last_seq = r.u53("last_seq");
        req.attempt = r.opt_u53("attempt").value_or(0);
        if (r.failed()) return r.take_failure();
        h.resume = std::move(req);
    }
    if (f.failed()) return f.take_failure();
    return h;
}

Result<ClientMsg> decode_client_msg(json::object_t& obj) {
    Fields f(obj, "msg");
    ClientMsg m;
    m.seq = f.u53("seq");
    m.id = f.string("id");
    const json* data = f.required("data");
    if (f.failed()) return f.take_failure();
    // The parser accepted only well-formed UTF-8, so `replace` never fires;
    // it just guarantees dump() cannot throw.
    m.data_json = data->dump(-1, ' ', false, json::error_handler_t::replace);
    return m;
}

// Lifts Result<T> into Result<Variant>.
template <class Variant, class T>
Result<Variant> lift(Result<T>&& r) {
    if (!r.ok()) return r.failure();
    return Variant(std::move(r).value());
}

Result<ServerFrame> decode_server_impl(std::string_view text, const DecodeLimits& limits) {
    json root;
    Result<Envelope> env = parse_envelope(text, limits, root);
    if (!env.ok()) return env.failure();
    json::object_t& obj = *env.value().obj;
    const std::string_view type = env.value().type;

    if (type == "msg") return lift<ServerFrame>(decode_server_msg(obj, limits.payload_as_text));
    if (type == "ack") return lift<ServerFrame>(decode_ack(obj));
    if (type == "welcome") return lift<ServerFrame>(decode_welcome(obj));
    if (type == "error") return lift<ServerFrame>(decode_error(obj));
    if (type == "hello" || type == "bye") return wrong_direction(type, "a server");
    return ServerFrame(UnknownFrame{std::string(type)});
}

Result<ClientFrame> decode_client_impl(std::string_view text, const DecodeLimits& limits) {
    json root;
    Result<Envelope> env = parse_envelope(text, limits, root);
    if (!env.ok()) return env.failure();
    json::object_t& obj = *env.value().obj;
    const std::string_view type = env.value().type;

    if (type == "msg") return lift<ClientFrame>(decode_client_msg(obj));
    if (type == "ack") return lift<ClientFrame>(decode_ack(obj));
    if (type == "hello") return lift<ClientFrame>(decode_hello(obj));
    if (type == "bye") return ClientFrame(Bye{});
    if (type == "welcome" || type == "error") return wrong_direction(type, "a client");
    return ClientFrame(UnknownFrame{std::string(type)});
}

} // namespace

// ---------------------------------------------------------------------------
// Decoding: never throws. Parsing itself does not throw (allow_exceptions is
// false and dumps use the `replace` handler); the catch blocks are the last
// line for allocation failure on hostile input.

namespace dom {

Result<ServerFrame> decode_server_frame(std::string_view text, const DecodeLimits& limits) {
    try {
        return decode_server_impl(text, limits);
    } catch (const std::bad_alloc&) {
        return fail(errc::frame_too_large, "frame: out of memory while decoding");
    } catch (const std::exception& e) {
        return fail(errc::frame_invalid_json, std::string("frame: ") + e.what());
    }
}

Result<ClientFrame> decode_client_frame(std::string_view text, const DecodeLimits& limits) {
    try {
        return decode_client_impl(text, limits);
    } catch (const std::bad_alloc&) {
        return fail(errc::frame_too_large, "frame: out of memory while decoding");
    } catch (const std::exception& e) {
        return fail(errc::frame_invalid_json, std::string("frame: ") + e.what());
    }
}

} // namespace dom

// msg and ack frames in one allocation-free pass; everything else, and every
// error, through the DOM path. See codec_fast.hpp.
Result<ServerFrame> decode_server_frame(std::string_view text, const DecodeLimits& limits) {
    try {
        if (auto frame = fast::decode_server_frame(text, limits)) return std::move(*frame);
    } catch (...) {
        // Out of memory: the DOM path fails the same way and reports it.
    }
    return dom::decode_server_frame(text, limits);
}

Result<ClientFrame> decode_client_frame(std::string_view text, const DecodeLimits& limits) {
    try {
        if (auto frame = fast::decode_client_frame(text, limits)) return std::move(*frame);
    } catch (...) {
        // Out of memory: the DOM path fails the same way and reports it.
    }
    return dom::decode_client_frame(text, limits);
}

std::error_code dom::check_nesting(std::string_view text, std::size_t max_depth) {
    return prescan(text, max_depth) == Prescan::too_deep ? make_error_code(errc::frame_too_deep) : std::error_code{};
}

std::error_code check_nesting(std::string_view text, std::size_t max_depth) {
    if (fast::nesting_within(text, max_depth)) return {};
    return dom::check_nesting(text, max_depth);
}

// Valid payloads are settled by one allocation-free pass; anything it does
// not accept gets the full treatment (and its exact error) from the DOM path.
std::error_code validate_json_value(std::string_view text, const DecodeLimits& limits, std::string* detail) {
    if (fast::is_valid_json_value(text, limits)) return {};
    return dom::validate_json_value(text, limits, detail);
}

std::error_code dom::validate_json_value(std::string_view text, const DecodeLimits& limits, std::string* detail) {
    auto result = [detail](errc e, std::string d) {
        if (detail != nullptr) *detail = std::move(d);
        return make_error_code(e);
    };
    try {
        if (text.size() > limits.max_bytes) {
            return result(errc::message_too_large, std::to_string(text.size()) + " bytes exceeds the limit of " +
                                                       std::to_string(limits.max_bytes));
        }
        switch (prescan(text, limits.max_depth)) {
        case Prescan::ok: break;
        case Prescan::too_deep:
            return result(errc::frame_too_deep, "nested deeper than " + std::to_string(limits.max_depth));
        case Prescan::nul_byte: return result(errc::invalid_json, "NUL byte outside a string");
        }
        // nlohmann skips a UTF-8 byte order mark at the start of its input,
        // but the payload is spliced into the middle of a frame, where those
        // bytes are not JSON: the peer would refuse the frame (bad_frame) on
        // every resend. Refuse it here instead.
        if (text.substr(0, 3) == "\xEF\xBB\xBF")
            return result(errc::invalid_json, "byte order mark before the value (not allowed inside a frame)");
        std::string why;
        if (sax_accept(text, why)) return {};
        // nlohmann reports ill-formed UTF-8 as a plain parse error; tell the
        // caller which one it is so it can fix the right thing.
        if (!is_valid_utf8(text)) return result(errc::invalid_utf8, "not valid UTF-8: " + why);
        return result(errc::invalid_json, std::move(why));
    } catch (const std::bad_alloc&) {
        return result(errc::message_too_large, "out of memory while validating");
    } catch (const std::exception& e) {
        return result(errc::invalid_json, e.what());
    }
}

// ---------------------------------------------------------------------------
// Encoding: compact JSON, `type` first.

void append_client_msg(std::string& out, std::uint64_t seq, std::string_view id, std::string_view data_json) {
    out.reserve(out.size() + 40 + kNumberRoom + id.size() + data_json.size());
    out += R"({"type":"msg","seq":)";
    append_u64(out, seq);
    out += R"(,"id":)";
    append_json_string(out, id);
    out += R"(,"data":)";
    // An empty string is never valid JSON; `null` keeps the frame parseable
    // if a caller broke the precondition.
    if (data_json.empty()) {
        out += "null";
    } else {
        out.append(data_json);
    }
    out.push_back('}');
}

std::string encode(const ClientMsg& f) {
    std::string out;
    append_client_msg(out, f.seq, f.id, f.data_json);
    return out;
}

std::string encode(const Hello& f) {
    std::string out;
    out.reserve(128 + (f.token ? f.token->size() : 0) +
                (f.client ? f.client->name.size() + f.client->version.size() : 0) +
                (f.resume ? f.resume->session.size() + f.resume->resume_token.size() + 2 * kNumberRoom : 0));
    out += R"({"type":"hello","v":)";
    append_u64(out, static_cast<std::uint64_t>(kProtocolVersion));
    if (f.token) {
        out += R"(,"token":)";
        append_json_string(out, *f.token);
    }
    if (f.client) {
        out += R"(,"client":{"name":)";
        append_json_string(out, f.client->name);
        out += R"(,"version":)";
        append_json_string(out, f.client->version);
        out.push_back('}');
    }
    if (f.resume) {
        out += R"(,"resume":{"session":)";
        append_json_string(out, f.resume->session);
        out += R"(,"resume_token":)";
        append_json_string(out, f.resume->resume_token);
        out += R"(,"last_seq":)";
        append_u64(out, f.resume->last_seq);
        if (f.resume->attempt != 0) {
            out += R"(,"attempt":)";
            append_u64(out, f.resume->attempt);
        }
        out.push_back('}');
    }
    out.push_back('}');
    return out;
}

std::string encode(const Ack& f) {
    std::string out;
    out.reserve(24 + kNumberRoom);
    out += R"({"type":"ack","seq":)";
    append_u64(out, f.seq);
    out.push_back('}');
    return out;
}

std::string encode(const Bye&) { return R"({"type":"bye"})"; }

std::string encode(const Welcome& f) {
    std::string out;
    out.reserve(120 + f.session.size() + f.resume_token.size() + 3 * kNumberRoom);
    out += R"({"type":"welcome","session":)";
    append_json_string(out, f.session);
    out += R"(,"resume_token":)";
    append_json_string(out, f.resume_token);
    out += f.resumed ? R"(,"resumed":true)" : R"(,"resumed":false)";
    out += R"(,"last_seq":)";
    append_u64(out, f.last_seq);
    if (f.heartbeat_ms) {
        out += R"(,"heartbeat_ms":)";
        append_u64(out, *f.heartbeat_ms);
    }
    if (f.session_ttl_ms) {
        out += R"(,"session_ttl_ms":)";
        append_u64(out, *f.session_ttl_ms);
    }
    out.push_back('}');
    return out;
}

std::string encode(const ServerMsg& f) {
    // `replace`: a json built by hand may hold ill-formed UTF-8; never throw.
    // A discarded value has no JSON form; send null rather than garbage.
    const std::string data =
        f.data.is_discarded() ? std::string("null") : f.data.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string out;
    append_server_msg(out, f.seq, f.id ? std::optional<std::string_view>(*f.id) : std::nullopt, data);
    return out;
}

void append_server_msg(std::string& out, std::uint64_t seq, const std::optional<std::string_view>& id,
                       std::string_view data_json) {
    out.reserve(out.size() + 40 + kNumberRoom + (id ? id->size() + 8 : 0) + data_json.size());
    out += R"({"type":"msg","seq":)";
    append_u64(out, seq);
    if (id) {
        out += R"(,"id":)";
        append_json_string(out, *id);
    }
    out += R"(,"data":)";
    out += data_json;
    out.push_back('}');
}

void append_json_quoted(std::string& out, std::string_view s) { append_json_string(out, s); }

std::string encode(const ErrorFrame& f) {
    std::string out;
    out.reserve(48 + f.code.size() + (f.message ? f.message->size() + 12 : 0) + kNumberRoom);
    out += R"({"type":"error","code":)";
    append_json_string(out, f.code);
    if (f.message) {
        out += R"(,"message":)";
        append_json_string(out, *f.message);
    }
    if (f.retry_after_ms) {
        out += R"(,"retry_after_ms":)";
        append_u64(out, *f.retry_after_ms);
    }
    out.push_back('}');
    return out;
}

} // namespace tether::core
