// Command-line parsing shared by the sample programs: "--flag value" and
// "--flag=value" arguments, bounded numbers, comma-separated lists. Errors are
// thrown as UsageError for main() to print with the usage text.
//
// Thread safety: none needed; used on main's thread before anything starts.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tether::samples {

struct UsageError {
    std::string message;
};

// Walks argv one flag at a time: while (args.next()) { if (args.flag() == ...) }
class ArgReader {
public:
    ArgReader(int argc, char** argv) : args_(argv + 1, argv + argc) {}

    bool next() {
        if (pos_ >= args_.size()) return false;
        flag_ = args_[pos_++];
        inline_value_.reset();
        if (const auto eq = flag_.find('='); flag_.rfind("--", 0) == 0 && eq != std::string::npos) {
            inline_value_ = flag_.substr(eq + 1);
            flag_.resize(eq);
        }
        return true;
    }

    // The current flag, without any "=value".
    const std::string& flag() const { return flag_; }

    // The current flag's value: after '=', or the next argument.
    std::string value() {
        if (inline_value_) return *inline_value_;
        if (pos_ >= args_.size()) throw UsageError{flag_ + ": missing value"};
        return args_[pos_++];
    }

private:
    std::vector<std::string> args_;
    std::size_t pos_ = 0;
    std::string flag_;
    std::optional<std::string> inline_value_;
};

template <class T>
T parse_number(const std::string& flag, const std::string& text, T min, T max) {
    T value{};
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || value < min || value > max)
        throw UsageError{flag + ": expected a number in [" + std::to_string(min) + ", " + std::to_string(max) +
                         "], got '" + text + "'"};
    return value;
}

inline std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    std::string_view rest = text;
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return out;
}

} // namespace tether::samples
