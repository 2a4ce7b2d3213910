// tether_codec_diff: a randomized differential check of the codec's fast
// path (codec_fast.cpp) against its DOM path (core::dom::*), which the fast
// path must agree with exactly: same success or error code, same detail,
// same decoded values (types included). Generates JSON values and frames
// (random whitespace, key order, duplicate keys, escapes, Unicode, number
// edge cases), plus byte-level mutations of them, for `iterations` inputs.
//
//   tether_codec_diff [iterations] [seed]      exit status 1 on a mismatch
//
// CTest runs it with a fixed seed (codec_fast_path_matches_dom, label core);
// a run of a few seconds covers millions of inputs.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "core/codec.hpp"
#include "core/codec_fast.hpp"
#include "../support/json_strict_equal.hpp"

namespace {

using namespace tether::core;
using nlohmann::json;

std::mt19937_64 g_rng;

std::uint64_t rnd(std::uint64_t n) { return n == 0 ? 0 : g_rng() % n; }
bool coin(int percent) { return rnd(100) < static_cast<std::uint64_t>(percent); }

// ---- generators -----------------------------------------------------------------

std::string ws() {
    static const char* kWs[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
    return coin(85) ? "" : kWs[rnd(7)];
}

std::string gen_string_body() {
    static const char* kPieces[] = {"a", "id", "x", "room", "type", "seq", "data", "\\\"", "\\\\", "\\/", "\\n", "\\t",
                                    "\\b", "\\f", "\\r", "\\u0041", "\\u00e9", "\\u0000", "\\u001f", "\\ud83d\\ude00",
                                    "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80", "\x7F", " ", "0123456789", "Z",
                                    "\\uDBFF\\uDFFF", "\\uABCD"};
    std::string s;
    const auto n = rnd(6);
    for (std::uint64_t i = 0; i < n; ++i) s += kPieces[rnd(sizeof kPieces / sizeof *kPieces)];
    if (coin(5)) s += std::string(rnd(40), 'p');
    return s;
}

std::string gen_number() {
    static const char* kNumbers[] = {"0", "-0", "1", "-1", "42", "9007199254740991", "9007199254740992",
                                     "18446744073709551615", "18446744073709551616", "-9223372036854775808",
                                     "-9223372036854775809", "123456789012345678", "1234567890123456789",
                                     "1.5", "-0.0", "1e3", "1E+3", "1e-3", "0.1", "2.5e-5", "1.7976931348623157e308",
                                     "1.8e308", "1e309", "1e-320", "-1e-400", "4.9e-324", "0e-999", "123.456e2",
                                     "0.000001", "1e300", "99999999999999999999999999999"};
    if (coin(70)) return kNumbers[rnd(sizeof kNumbers / sizeof *kNumbers)];
    std::string s = coin(30) ? "-" : "";
    s += std::to_string(rnd(1000000));
    if (coin(30)) s += "." + std::to_string(rnd(1000));
    if (coin(20)) s += "e" + std::string(coin(50) ? "-" : "") + std::to_string(rnd(400));
    return s;
}

std::string gen_value(int depth) {
    const auto kind = rnd(depth > 4 ? 5 : 8);
    switch (kind) {
    case 0: return "null";
    case 1: return coin(50) ? "true" : "false";
    case 2:
    case 3: return gen_number();
    case 4: return "\"" + gen_string_body() + "\"";
    case 5:
    case 6: {
        std::string s = "{" + ws();
        const auto n = rnd(4);
        for (std::uint64_t i = 0; i < n; ++i) {
            if (i) s += ws() + "," + ws();
            s += "\"" + (coin(70) ? std::string(1, static_cast<char>('a' + rnd(5))) : gen_string_body()) + "\"" + ws() +
                 ":" + ws() + gen_value(depth + 1);
        }
        return s + ws() + "}";
    }
    default: {
        std::string s = "[" + ws();
        const auto n = rnd(4);
        for (std::uint64_t i = 0; i < n; ++i) s += (i ? ws() + "," + ws() : "") + gen_value(depth + 1);
        return s + ws() + "]";
    }
    }
}

std::string gen_frame() {
    std::vector<std::string> fields;
    static const char* kTypes[] = {"msg", "msg", "msg", "ack", "ack", "welcome", "error", "hello", "bye", "other"};
    const std::string type = coin(95) ? kTypes[rnd(10)] : gen_string_body();
    fields.push_back("\"type\":" + ws() + (coin(97) ? "\"" + type + "\"" : gen_value(1)));
    if (coin(95)) fields.push_back("\"seq\":" + ws() + (coin(85) ? std::to_string(rnd(coin(10) ? 1ULL << 60 : 1000)) : gen_value(1)));
    if (coin(80)) fields.push_back("\"data\":" + ws() + gen_value(1));
    if (coin(60)) fields.push_back("\"id\":" + ws() + (coin(80) ? "\"" + gen_string_body() + "\"" : gen_value(1)));
    if (coin(10)) fields.push_back("\"extra\":" + gen_value(1));
    if (coin(5)) fields.push_back(fields[rnd(fields.size())]); // a duplicate key
    if (coin(3)) fields.push_back("\"t\\u0079pe\":\"msg\""); // an escaped key
    for (std::size_t i = fields.size(); i > 1; --i) std::swap(fields[i - 1], fields[rnd(i)]);
    std::string s = ws() + "{" + ws();
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? ws() + "," + ws() : "") + fields[i];
    return s + ws() + "}" + ws();
}

void mutate(std::string& s) {
    const auto n = 1 + rnd(3);
    for (std::uint64_t k = 0; k < n && !s.empty(); ++k) {
        const auto at = rnd(s.size());
        switch (rnd(5)) {
        case 0: s[at] = static_cast<char>(rnd(256)); break;
        case 1: s.erase(at, 1); break;
        case 2: {
            static const char kBytes[] = "{}[]\",:\\0e-.\x80\xFF";
            s.insert(at, 1, kBytes[rnd(sizeof kBytes - 1)]);
            break;
        }
        case 3: s.resize(at); break;
        default: s.insert(at, s.substr(rnd(s.size()), rnd(8))); break;
        }
    }
}

// ---- comparison ------------------------------------------------------------------

using tether::test::strict_equal;

bool same_frame(const ServerFrame& a, const ServerFrame& b) {
    if (a.index() != b.index()) return false;
    if (auto* m = std::get_if<ServerMsg>(&a)) {
        const auto& n = std::get<ServerMsg>(b);
        return m->seq == n.seq && m->id == n.id && strict_equal(m->data, n.data);
    }
    if (auto* k = std::get_if<Ack>(&a)) return k->seq == std::get<Ack>(b).seq;
    if (auto* w = std::get_if<Welcome>(&a)) {
        const auto& v = std::get<Welcome>(b);
        return w->session == v.session && w->resume_token == v.resume_token && w->resumed == v.resumed &&
               w->last_seq == v.last_seq && w->heartbeat_ms == v.heartbeat_ms && w->session_ttl_ms == v.session_ttl_ms;
    }
    if (auto* e = std::get_if<ErrorFrame>(&a)) {
        const auto& f = std::get<ErrorFrame>(b);
        return e->code == f.code && e->message == f.message && e->retry_after_ms == f.retry_after_ms;
    }
    return std::get<UnknownFrame>(a).type == std::get<UnknownFrame>(b).type;
}

bool same_frame(const ClientFrame& a, const ClientFrame& b) {
    if (a.index() != b.index()) return false;
    if (auto* m = std::get_if<ClientMsg>(&a)) {
        const auto& n = std::get<ClientMsg>(b);
        return m->seq == n.seq && m->id == n.id && m->data_json == n.data_json;
    }
    if (auto* k = std::get_if<Ack>(&a)) return k->seq == std::get<Ack>(b).seq;
    if (auto* u = std::get_if<UnknownFrame>(&a)) return u->type == std::get<UnknownFrame>(b).type;
    return true; // Hello/Bye come from the DOM path on both sides
}

template <class R>
bool same_result(const R& fast, const R& dom) {
    if (fast.ok() != dom.ok()) return false;
    if (!fast.ok()) return fast.error() == dom.error() && fast.detail() == dom.detail();
    return same_frame(fast.value(), dom.value());
}

std::uint64_t g_failures = 0;

void report(const char* what, const std::string& input) {
    if (++g_failures > 20) return;
    std::fprintf(stderr, "MISMATCH (%s) on input of %zu bytes: ", what, input.size());
    for (const char c : input.substr(0, 300)) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f) std::fputc(b, stderr);
        else std::fprintf(stderr, "\\x%02x", b);
    }
    std::fputc('\n', stderr);
}

struct Counts {
    std::uint64_t valid = 0, fast_server = 0, fast_client = 0, fast_valid = 0;
};

void check_one(const std::string& input, Counts& counts) {
    DecodeLimits limits;
    if (coin(10)) limits.max_depth = 1 + rnd(6);
    if (coin(5)) limits.max_bytes = rnd(input.size() + 2);
    counts.fast_server += fast::decode_server_frame(input, limits).has_value();
    counts.fast_client += fast::decode_client_frame(input, limits).has_value();
    counts.fast_valid += fast::is_valid_json_value(input, limits);
    const auto s_pub = decode_server_frame(input, limits);
    const auto s_dom = dom::decode_server_frame(input, limits);
    if (!same_result(s_pub, s_dom)) report("decode_server_frame", input);
    const auto c_pub = decode_client_frame(input, limits);
    const auto c_dom = dom::decode_client_frame(input, limits);
    if (!same_result(c_pub, c_dom)) report("decode_client_frame", input);
    std::string d1, d2;
    const auto v_pub = validate_json_value(input, limits, &d1);
    const auto v_dom = dom::validate_json_value(input, limits, &d2);
    if (v_pub != v_dom || (v_pub && d1 != d2)) report("validate_json_value", input);
    if (!v_pub) ++counts.valid;
}

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t iterations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
    const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : std::random_device{}();
    g_rng.seed(seed);
    Counts counts;
    for (std::uint64_t i = 0; i < iterations; ++i) {
        std::string input = rnd(3) == 0 ? gen_value(0) : gen_frame();
        if (coin(35)) mutate(input);
        check_one(input, counts);
    }
    auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    std::printf("tether_codec_diff: %llu inputs (seed %llu): %llu valid JSON values (%llu settled by the fast "
                "path), %llu server / %llu client frames decoded by the fast path; %llu mismatches\n",
                u(iterations), u(seed), u(counts.valid), u(counts.fast_valid), u(counts.fast_server),
                u(counts.fast_client), u(g_failures));
    return g_failures == 0 ? 0 : 1;
}
