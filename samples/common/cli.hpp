// Command-line parsing shared by the sample programs and the QA tools, on
// CLI11: a generated --help, --version, and for an unknown flag, a missing
// value or a bad one a message naming it and exit code 2. "--flag value" and
// "--flag=value" both work; a repeated option keeps its last value.
//
// Thread safety: none needed; used on main's thread before anything starts.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <system_error>

#include <CLI/CLI.hpp>

#include "tether/version.hpp"

namespace tether::samples {

// Sets up `app` the way every tool uses it. Call before adding options.
inline void init_cli(CLI::App& app) {
    app.set_version_flag("--version", app.get_name() + " " + TETHER_VERSION_STRING);
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.failure_message([](const CLI::App* a, const CLI::Error& e) {
        return a->get_name() + ": " + e.what() + "\nRun with --help for the options.\n";
    });
}

// A number in [min, max], as a CLI11 check: "--port 70000" or "--count -1"
// fail with "expected a number in [0, 65535], got '70000'".
template <class T>
CLI::Validator bounded(T min, T max) {
    const std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            T value{};
            const char* end = text.data() + text.size();
            const auto [ptr, ec] = std::from_chars(text.data(), end, value);
            if (ec != std::errc{} || ptr != end || value < min || value > max)
                return "expected a number in " + range + ", got '" + text + "'";
            return {};
        },
        "in " + range);
}

// Parses argv, then runs `check` (rules across options; it throws
// CLI::ValidationError). Returns the exit code when main should stop: 0 after
// --help or --version, 2 for bad usage (the message, also put in `*error`,
// is printed); nullopt to carry on.
template <class Check>
std::optional<int> parse_cli(CLI::App& app, int argc, char** argv, Check&& check, std::string* error = nullptr) {
    try {
        app.parse(argc, argv);
        check();
        return std::nullopt;
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        auto report = [&](const CLI::ParseError& shown) {
            if (error) *error = shown.what();
            app.exit(shown);
            return 2;
        };
        // A mistyped flag also leaves a required one missing: name the typo.
        if (dynamic_cast<const CLI::RequiredError*>(&e) && !app.remaining().empty())
            return report(CLI::ExtrasError(app.remaining()));
        return report(e);
    }
}

inline std::optional<int> parse_cli(CLI::App& app, int argc, char** argv) {
    return parse_cli(app, argc, argv, [] {});
}

} // namespace tether::samples
