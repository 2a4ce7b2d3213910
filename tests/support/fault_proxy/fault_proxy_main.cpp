// fault-proxy: the FaultProxy as a command-line tool, for QA by hand.
//
//   fault-proxy --upstream 127.0.0.1:8080 [--listen-port P]
//
// Prints "listening on 127.0.0.1:<port>", then reads one command per line on
// stdin and answers each with "ok", a stats line, or "error: ...". End of
// input is the same as `quit`. Only loopback upstreams are accepted.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cli.hpp"
#include "fault_proxy/fault_proxy.hpp"

namespace {

using tether::testing::FaultProxy;

constexpr const char* kCommands =
    "commands:\n"
    "  pass | blackhole | refuse   set the mode (blackholed connections resume on pass)\n"
    "  cut                         close every connection with FIN\n"
    "  reset                       close every connection with RST\n"
    "  delay <ms>                  one-way latency per chunk (0 = none)\n"
    "  throttle <bytes/s>          per direction and connection (0 = unlimited)\n"
    "  upstream <host:port>        target for new connections\n"
    "  stats                       mode, connections, bytes\n"
    "  help | quit\n";

std::optional<std::uint64_t> parse_uint(const std::string& text, std::uint64_t max) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    errno = 0;
    const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    if (errno != 0 || value > max) return std::nullopt;
    return static_cast<std::uint64_t>(value);
}

struct HostPort {
    std::string host;
    std::uint16_t port = 0;
};

// "127.0.0.1:8080", "localhost:8080" or "[::1]:8080".
std::optional<HostPort> parse_host_port(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    std::string host = text.substr(0, colon);
    if (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']')) return std::nullopt;
    const auto port = parse_uint(text.substr(colon + 1), 65535);
    if (!port || *port == 0) return std::nullopt;
    return HostPort{host, static_cast<std::uint16_t>(*port)};
}

void print_stats(const FaultProxy& proxy) {
    std::cout << "mode=" << to_string(proxy.mode()) << " active=" << proxy.active_connections()
              << " total=" << proxy.total_connections() << " refused=" << proxy.refused_connections()
              << " bytes=" << proxy.bytes_forwarded() << std::endl;
}

// Executes one command line; returns false on quit.
bool execute(FaultProxy& proxy, const std::string& line) {
    std::istringstream in(line);
    std::string cmd;
    std::string arg;
    in >> cmd >> arg;
    if (cmd.empty()) return true;
    if (cmd == "quit" || cmd == "exit") return false;

    if (cmd == "pass" || cmd == "blackhole" || cmd == "refuse") {
        proxy.set_mode(cmd == "pass" ? FaultProxy::Mode::pass
                       : cmd == "blackhole" ? FaultProxy::Mode::blackhole
                                            : FaultProxy::Mode::refuse);
    } else if (cmd == "cut") {
        proxy.cut_all();
    } else if (cmd == "reset") {
        proxy.reset_all();
    } else if (cmd == "delay") {
        const auto ms = parse_uint(arg, 3'600'000);
        if (!ms) {
            std::cout << "error: delay <ms> (0..3600000)" << std::endl;
            return true;
        }
        proxy.set_delay(std::chrono::milliseconds(*ms));
    } else if (cmd == "throttle") {
        const auto rate = parse_uint(arg, 1'000'000'000);
        if (!rate) {
            std::cout << "error: throttle <bytes/s> (0 = unlimited)" << std::endl;
            return true;
        }
        proxy.set_throttle(static_cast<std::size_t>(*rate));
    } else if (cmd == "upstream") {
        const auto target = parse_host_port(arg);
        if (!target) {
            std::cout << "error: upstream <host:port>, e.g. 127.0.0.1:8080 or [::1]:8080" << std::endl;
            return true;
        }
        try {
            proxy.set_upstream(target->host, target->port);
        } catch (const std::invalid_argument& e) {
            std::cout << "error: " << e.what() << std::endl;
            return true;
        }
    } else if (cmd == "stats") {
        print_stats(proxy);
        return true;
    } else if (cmd == "help") {
        std::cout << kCommands << std::flush;
        return true;
    } else {
        std::cout << "error: unknown command '" << cmd << "' (try help)" << std::endl;
        return true;
    }
    std::cout << "ok" << std::endl;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<HostPort> upstream;
    std::uint16_t listen_port = 0;
    CLI::App app{"A fault-injecting loopback TCP proxy, driven by commands on stdin.\n"
                 "Prints \"listening on 127.0.0.1:<port>\", then answers each command line.",
                 "fault-proxy"};
    tether::samples::init_cli(app);
    app.add_option_function<std::string>(
           "--upstream",
           [&upstream](const std::string& text) { upstream = parse_host_port(text); },
           "where to forward, HOST:PORT; HOST must be loopback: 127.x.x.x, [::1] or localhost")
        ->required()
        ->check(CLI::Validator(
            [](std::string& text) { return parse_host_port(text) ? std::string() : "want HOST:PORT, got '" + text + "'"; },
            "HOST:PORT"));
    app.add_option("--listen-port", listen_port, "port on 127.0.0.1 (0 or absent = ephemeral)")
        ->check(tether::samples::bounded<std::uint16_t>(0, 65535));
    app.footer(kCommands);
    if (auto code = tether::samples::parse_cli(app, argc, argv)) return *code;

    try {
        FaultProxy proxy(upstream->host, upstream->port, listen_port);
        std::cout << "listening on 127.0.0.1:" << proxy.port() << std::endl;
        std::string line;
        while (std::getline(std::cin, line) && execute(proxy, line)) {
        }
    } catch (const std::invalid_argument& e) {
        std::cerr << "fault-proxy: " << e.what() << '\n';
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "fault-proxy: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
