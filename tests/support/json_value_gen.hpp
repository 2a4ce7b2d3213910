// Builds nlohmann::json values (not text) from a stream of bytes, for the
// encoder's differential test (bytes from a seeded RNG) and its fuzzer (bytes
// from libFuzzer). The values reach the corners of a compact dump: strings of
// every length around the 8-byte steps, with escapes, control characters,
// DEL, well-formed and ill-formed UTF-8; every integer kind and its extremes;
// doubles from raw bits (NaN, infinities, -0.0, subnormals); nesting to a
// chosen depth; now and then a binary value.
//
// Thread safety: a ByteSource is used by one thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace tether::test {

// `next()` returns the next byte of the stream (0 once it runs dry).
template <class Next>
class JsonValueGen {
public:
    explicit JsonValueGen(Next next, int max_depth = 70) : next_(std::move(next)), max_depth_(max_depth) {}

    nlohmann::json value(int depth = 0) {
        const unsigned kind = byte() % (depth >= max_depth_ ? 8 : 11);
        switch (kind) {
        case 0: return nullptr;
        case 1: return (byte() & 1) != 0;
        case 2: return static_cast<std::int64_t>(u64());
        case 3: return u64();
        case 4: return small_int();
        case 5: return dbl();
        case 6:
        case 7: return string();
        case 8: {
            // A chain straight down: reaches the depth limit cheaply.
            if ((byte() & 7) == 0) {
                nlohmann::json inner = value(depth + 1);
                return nlohmann::json::array({std::move(inner)});
            }
            nlohmann::json a = nlohmann::json::array();
            for (unsigned n = byte() % 5; n > 0; --n) a.push_back(value(depth + 1));
            return a;
        }
        case 9: {
            nlohmann::json o = nlohmann::json::object();
            for (unsigned n = byte() % 5; n > 0; --n) o[raw_string()] = value(depth + 1);
            return o;
        }
        default: {
            if ((byte() & 31) != 0) return string();
            nlohmann::json::binary_t bin;
            for (unsigned n = byte() % 4; n > 0; --n) bin.push_back(static_cast<std::uint8_t>(byte()));
            return nlohmann::json::binary(std::move(bin));
        }
        }
    }

    std::string raw_string() {
        static const char* const kPieces[] = {"a", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", "" /* NUL, pushed below */,
                                              "\x1f", "\x7f", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80",
                                              "\xED\xA0\x80", /* surrogate: ill-formed */ "\xC0\xAF", /* overlong */
                                              "\xF4\x90\x80\x80", /* > U+10FFFF */ "\xE6\x97", /* truncated */ "\x80",
                                              "\xFF", "0123456", "xyzw"};
        constexpr unsigned kCount = sizeof kPieces / sizeof *kPieces;
        std::string s;
        const unsigned mode = byte() % 4;
        if (mode == 0) { // a clean run of any length, then maybe one special byte
            s.assign(byte() % 40, 'p');
            if ((byte() & 1) != 0) s.push_back(static_cast<char>(byte()));
            s.append(byte() % 12, 'q');
            return s;
        }
        for (unsigned n = byte() % 8; n > 0; --n) {
            const unsigned pick = byte();
            if (pick % kCount == 9) {
                s.push_back('\0');
            } else if (mode == 3 && (pick & 0x80) != 0) {
                s.push_back(static_cast<char>(byte())); // any byte at all
            } else {
                s += kPieces[pick % kCount];
            }
        }
        return s;
    }

private:
    unsigned byte() { return static_cast<unsigned char>(next_()); }

    std::uint64_t u64() {
        switch (byte() % 4) {
        case 0: return std::numeric_limits<std::uint64_t>::max();
        case 1: return static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::min());
        default: {
            std::uint64_t v = 0;
            for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
            return v;
        }
        }
    }

    nlohmann::json small_int() {
        const auto v = static_cast<std::int64_t>(static_cast<signed char>(byte()));
        return v;
    }

    nlohmann::json dbl() {
        double d = 0;
        switch (byte() % 6) {
        case 0: {
            const std::uint64_t bits = u64();
            std::memcpy(&d, &bits, sizeof d); // NaNs, infinities, subnormals
            break;
        }
        case 1: d = -0.0; break;
        case 2: d = static_cast<double>(static_cast<signed char>(byte())) / 8.0; break;
        case 3: d = static_cast<double>(u64()); break;
        case 4: d = 1.0 / static_cast<double>(byte() + 1); break;
        default: d = static_cast<double>(byte()) * 1e300; break;
        }
        return d;
    }

    nlohmann::json string() { return raw_string(); }

    Next next_;
    int max_depth_;
};

} // namespace tether::test
