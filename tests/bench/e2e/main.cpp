// tether_bench_e2e: the SDK against the reference chat-server, side by side
// with raw websocketpp, on loopback. Prints a table and writes JSON.
//
//   tether_bench_e2e [--quick] [--json out.json] [--sections throughput,latency,reconnect,memory,idle]
//
// What is measured, and how (docs/performance.md has the figures):
//   throughput  one-way, payloads of 64 B / 1 KiB / 64 KiB. SDK: send_json()
//               from an application thread, counted when acked by a
//               chat-server in rooms mode (no replies: a sink that acks).
//               Raw: a websocketpp client sending on its io thread, counted
//               by an in-process websocketpp sink. Steady-state rate over a
//               window after a warm-up.
//   latency     64 B at fixed rates; RTT from the scheduled send time to the
//               echo's arrival. SDK: chat-server --echo; raw: websocketpp echo.
//   reconnect   simulate_network_drop() -> ready, and -> 10,000 queued
//               messages all acked (backoff base 1 ms so the policy's jitter
//               does not hide the machinery).
//   memory      RSS per idle client, 1,000 clients on one EventLoop; outbox
//               bytes per queued message beyond the payload.
//   idle        io-thread wakeups per second of one idle ready client.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "raw_wspp.hpp"
#ifdef TETHER_BENCH_BEAST
#include "raw_beast.hpp"
#endif
#include "sdk_bench.hpp"
#include "support.hpp"

#ifndef TETHER_CHAT_SERVER
#error "TETHER_CHAT_SERVER must name the chat-server binary"
#endif

namespace {

using json = nlohmann::json;
using namespace bench;

struct Options {
    std::set<std::string> sections{"throughput", "latency", "reconnect", "memory", "idle", "persist"};
    std::uint64_t persist_messages = 100000;
    std::vector<std::size_t> sizes{64, 1024, 65536};
    std::vector<double> rates{1000, 10000};
    double warmup_s = 1.0, measure_s = 3.0;
    int repeat = 5; // throughput rounds (each runs every implementation once); medians and ranges reported
    double rtt_warmup_s = 1.0, rtt_measure_s = 5.0;
    int rtt_repeat = 5; // RTT rounds, interleaved like throughput
    int reconnect_reps = 5;
    std::size_t reconnect_messages = 10000;
    int backoff_ms = 1;
    std::size_t clients = 1000;
    std::size_t outbox_messages = 50000;
    double idle_s = 10.0;
    int heartbeat_ms = 1000;
    std::string json_path;
    std::string chat_server = TETHER_CHAT_SERVER;
    bool raw = true; // also measure raw websocketpp
    std::size_t storm_clients = 10000;
    int storm_max_backoff_ms = 5000;
    double storm_down_s = 1.0;
    std::string storm_svg = "storm.svg";
    std::string rtt_dump; // prefix of files with every round trip, in send order
};

constexpr const char* kUsage = R"(usage: tether_bench_e2e [options]
  --quick                 short windows (the whole run takes well under a minute)
  --json FILE             also write the results as JSON
  --sections LIST         any of throughput,latency,reconnect,memory,idle,storm,persist (default: all but storm)
  --persist-messages N    persist: messages in the store whose footprint and load time are measured (default 100000)
  --sizes LIST            throughput payload sizes in bytes (default 64,1024,65536)
  --warmup S --measure S  throughput warm-up and window, seconds (default 1, 3)
  --repeat N              throughput rounds, each runs every implementation once (default 5)
  --rates LIST            RTT send rates, msgs/s (default 1000,10000)
  --rtt-warmup S --rtt-seconds S   RTT warm-up and window (default 1, 5)
  --rtt-repeat N          RTT rounds, each runs every implementation once (default 5)
  --rtt-dump PREFIX       write the last round's round trips (ns, in send order) to PREFIX-<impl>-<rate>.txt
  --reconnect-reps N      transport cuts (default 5)
  --reconnect-messages N  messages queued at each cut (default 10000)
  --backoff-ms N          backoff base for the reconnect test (default 1)
  --clients N             idle clients for the RSS measurement (default 1000)
  --outbox-messages N     messages queued for the outbox overhead (default 50000)
  --idle-seconds S        idle wakeup window (default 10)
  --heartbeat-ms N        heartbeat of the idle client (default 1000)
  --no-raw                skip the raw websocketpp baselines
  --chat-server PATH      the chat-server binary (default: the one built with this)
  --storm-clients N       reconnect storm: clients on one EventLoop (default 10000; section "storm",
                          not in the default set)
  --storm-max-backoff-ms N  their backoff cap (default 5000)
  --storm-down-ms N       how long the killed server stays down (default 1000)
  --storm-svg FILE        the storm's graph (default storm.svg)
)";

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + ": missing value");
            return argv[++i];
        };
        if (a == "--quick") {
            o.warmup_s = 0.4;
            o.measure_s = 1.2;
            o.repeat = 1;
            o.rtt_warmup_s = 0.3;
            o.rtt_measure_s = 1.5;
            o.rtt_repeat = 1;
            o.reconnect_reps = 3;
            o.idle_s = 3;
            o.outbox_messages = 20000;
        } else if (a == "--json") o.json_path = value();
        else if (a == "--sections") {
            o.sections.clear();
            for (auto& s : split(value())) o.sections.insert(s);
        } else if (a == "--sizes") {
            o.sizes.clear();
            for (auto& s : split(value())) o.sizes.push_back(std::stoul(s));
        } else if (a == "--rates") {
            o.rates.clear();
            for (auto& s : split(value())) o.rates.push_back(std::stod(s));
        } else if (a == "--warmup") o.warmup_s = std::stod(value());
        else if (a == "--measure") o.measure_s = std::stod(value());
        else if (a == "--repeat") o.repeat = std::max(1, std::stoi(value()));
        else if (a == "--rtt-warmup") o.rtt_warmup_s = std::stod(value());
        else if (a == "--rtt-seconds") o.rtt_measure_s = std::stod(value());
        else if (a == "--reconnect-reps") o.reconnect_reps = std::stoi(value());
        else if (a == "--reconnect-messages") o.reconnect_messages = std::stoul(value());
        else if (a == "--backoff-ms") o.backoff_ms = std::max(1, std::stoi(value()));
        else if (a == "--clients") o.clients = std::stoul(value());
        else if (a == "--outbox-messages") o.outbox_messages = std::stoul(value());
        else if (a == "--idle-seconds") o.idle_s = std::stod(value());
        else if (a == "--heartbeat-ms") o.heartbeat_ms = std::stoi(value());
        else if (a == "--no-raw") o.raw = false;
        else if (a == "--chat-server") o.chat_server = value();
        else if (a == "--storm-clients") o.storm_clients = std::stoul(value());
        else if (a == "--storm-max-backoff-ms") o.storm_max_backoff_ms = std::max(1, std::stoi(value()));
        else if (a == "--storm-down-ms") o.storm_down_s = std::stod(value()) / 1000.0;
        else if (a == "--storm-svg") o.storm_svg = value();
        else if (a == "--rtt-dump") o.rtt_dump = value();
        else if (a == "--rtt-repeat") o.rtt_repeat = std::max(1, std::stoi(value()));
        else if (a == "--persist-messages") o.persist_messages = std::stoul(value());
        else if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else throw std::runtime_error("unknown option " + a);
    }
    return o;
}

std::string fmt(double v, int decimals = 1) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string human_rate(double v) {
    if (v >= 1e6) return fmt(v / 1e6, 2) + "M";
    if (v >= 1e3) return fmt(v / 1e3, 1) + "k";
    return fmt(v, 0);
}

template <class T>
T median_by(std::vector<T> v, double (*key)(const T&)) {
    std::sort(v.begin(), v.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
    return v[v.size() / 2];
}

void print_row(const std::vector<std::string>& cells, const std::vector<int>& widths) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        std::string c = cells[i];
        const int w = i < widths.size() ? widths[i] : 12;
        if (static_cast<int>(c.size()) < w) c = (i == 1 ? c + std::string(static_cast<std::size_t>(w) - c.size(), ' ')
                                                        : std::string(static_cast<std::size_t>(w) - c.size(), ' ') + c);
        line += c + "  ";
    }
    std::cout << line << "\n";
}

// ---- throughput -----------------------------------------------------------------------

struct Tp {
    std::string impl;
    double rate = 0, mbps = 0, client_us = 0, server_us = 0, allocs = 0, ack_ratio = -1;
    double frame_bytes = 0; // SDK: text bytes per frame written (msg frames, the odd ping)
    std::string error;
};

double tp_rate(const Tp& t) { return t.rate; }

Tp make_tp(const std::string& impl, std::size_t payload_bytes, std::uint64_t n_msgs, double seconds, double client_cpu_s,
           double server_cpu_s, std::uint64_t allocs, const std::string& error) {
    Tp t;
    t.impl = impl;
    t.error = error;
    const double n = static_cast<double>(std::max<std::uint64_t>(n_msgs, 1));
    t.rate = static_cast<double>(n_msgs) / std::max(seconds, 1e-9);
    t.mbps = t.rate * static_cast<double>(payload_bytes) / 1e6;
    t.client_us = client_cpu_s * 1e6 / n;
    t.server_us = server_cpu_s * 1e6 / n;
    t.allocs = static_cast<double>(allocs) / n;
    return t;
}

struct MinMedMax {
    double min = 0, median = 0, max = 0;
};

MinMedMax spread(std::vector<double> v) {
    if (v.empty()) return {};
    std::sort(v.begin(), v.end());
    return {v.front(), v[v.size() / 2], v.back()};
}

json spread_json(const MinMedMax& m) { return json{{"min", m.min}, {"median", m.median}, {"max", m.max}}; }

// Named runs of one measurement, each returning its figures.
template <class R>
using Impls = std::vector<std::pair<std::string, std::function<R()>>>;

// `rounds` rounds, each running every implementation once in order, so that a
// burst of load from other tenants hits one round of each rather than every
// run of one. runs[i][k]: implementation i in round k.
template <class R>
std::vector<std::vector<R>> run_interleaved(const Impls<R>& impls, int rounds) {
    std::vector<std::vector<R>> runs(impls.size());
    for (int k = 0; k < rounds; ++k)
        for (std::size_t i = 0; i < impls.size(); ++i) runs[i].push_back(impls[i].second());
    return runs;
}

// value(a[k]) / value(b[k]) for each round k in which b's value is positive.
template <class R, class F>
std::vector<double> paired_ratios(const std::vector<R>& a, const std::vector<R>& b, F value) {
    std::vector<double> out;
    for (std::size_t k = 0; k < a.size() && k < b.size(); ++k)
        if (value(b[k]) > 0) out.push_back(value(a[k]) / value(b[k]));
    return out;
}

// One-way throughput. Every round runs each implementation once, in the same
// order, so a burst of load from other tenants hits one round of all of them
// rather than every run of one; the ratios are paired per round (SDK run k
// against peer run k) and their median and range reported.
json run_throughput(const Options& o, const ChildProcess& sink_server, RawServer* raw_sink) {
    json out = json::array();
    std::cout << "\n== One-way throughput (SDK: acked by chat-server; raw: received by the sink), " << o.repeat
              << " interleaved rounds; medians, [min-max] of msgs/s\n";
    const std::vector<int> w{7, 30, 10, 17, 9, 11, 11, 11, 9};
    print_row({"bytes", "implementation", "msgs/s", "[min-max] k", "MB/s", "cli us/msg", "srv us/msg", "allocs/msg",
               "acks/msg"},
              w);
    for (std::size_t size : o.sizes) {
        const std::string payload = json_payload(size);
        Impls<Tp> impls;
        for (bool as_value : {false, true}) {
            const std::string name = as_value ? "tether send(json)" : "tether send_json(text)";
            impls.emplace_back(name, [&, name, as_value] {
                const SdkThroughputResult r = sdk_throughput(sink_server.url(), sink_server.pid(), payload,
                                                             o.warmup_s, o.measure_s, as_value);
                Tp t = make_tp(name, size, r.acked, r.seconds, r.client_cpu_s, r.server_cpu_s, r.client_allocs, r.error);
                t.ack_ratio = static_cast<double>(r.ack_frames) / static_cast<double>(std::max<std::uint64_t>(r.acked, 1));
                t.frame_bytes = static_cast<double>(r.bytes_out) / static_cast<double>(std::max<std::uint64_t>(r.frames_out, 1));
                return t;
            });
        }
        if (raw_sink != nullptr) {
            for (RawConfig cfg : {RawConfig::stock, RawConfig::fast_rng}) {
                impls.emplace_back(to_string(cfg), [&, cfg] {
                    const RawThroughputResult r = raw_throughput(cfg, *raw_sink, payload, o.warmup_s, o.measure_s);
                    return make_tp(to_string(cfg), size, r.messages, r.seconds, r.client_cpu_s, r.server_cpu_s,
                                   r.client_allocs, r.error);
                });
            }
#ifdef TETHER_BENCH_BEAST
            for (bool nodelay : {false, true}) {
                const std::string name = nodelay ? "raw Beast, TCP_NODELAY" : "raw Beast, Nagle on (default)";
                impls.emplace_back(name, [&, name, nodelay] {
                    const RawThroughputResult r = beast_throughput(nodelay, *raw_sink, payload, o.warmup_s, o.measure_s);
                    return make_tp(name, size, r.messages, r.seconds, r.client_cpu_s, r.server_cpu_s, r.client_allocs,
                                   r.error);
                });
            }
#endif
        }
        const auto runs = run_interleaved(impls, o.repeat);
        for (std::size_t i = 0; i < impls.size(); ++i) {
            const Tp t = median_by(runs[i], tp_rate);
            std::vector<double> rates, cli, srv;
            for (const Tp& r : runs[i]) {
                rates.push_back(r.rate);
                cli.push_back(r.client_us);
                srv.push_back(r.server_us);
            }
            const MinMedMax rs = spread(rates);
            print_row({std::to_string(size), impls[i].first, human_rate(rs.median),
                       "[" + fmt(rs.min / 1e3, 0) + "-" + fmt(rs.max / 1e3, 0) + "]", fmt(t.mbps),
                       fmt(spread(cli).median, 2), fmt(spread(srv).median, 2), fmt(t.allocs, 2),
                       t.ack_ratio >= 0 ? fmt(t.ack_ratio, 3) : "-"},
                      w);
            for (const Tp& r : runs[i])
                if (!r.error.empty()) std::cout << "        error: " << r.error << "\n";
            json j{{"payload_bytes", size},
                   {"implementation", impls[i].first},
                   {"msgs_per_s", spread_json(rs)},
                   {"runs_msgs_per_s", rates},
                   {"client_cpu_us_per_msg", spread_json(spread(cli))},
                   {"server_cpu_us_per_msg", spread_json(spread(srv))},
                   {"client_allocs_per_msg", t.allocs}};
            if (t.ack_ratio >= 0) j["ack_frames_per_msg"] = t.ack_ratio;
            if (t.frame_bytes > 0) {
                j["frame_text_bytes"] = t.frame_bytes;
                std::cout << "        " << impls[i].first << ": " << fmt(t.frame_bytes, 1)
                          << " B of frame text per message (+ a 6 B WebSocket header up to 125 B, 8 B above)\n";
            }
            if (!t.error.empty()) j["error"] = t.error;
            out.push_back(j);
        }
        // Paired ratios: each SDK row against each peer, round by round.
        for (std::size_t s = 0; s < 2 && s < impls.size(); ++s) {
            for (std::size_t p = 2; p < impls.size(); ++p) {
                const std::vector<double> ratio = paired_ratios(runs[s], runs[p], tp_rate);
                const MinMedMax m = spread(ratio);
                std::cout << "        " << impls[s].first << " / " << impls[p].first << " = " << fmt(m.median, 2)
                          << "x [" << fmt(m.min, 2) << "-" << fmt(m.max, 2) << "]\n";
                out.push_back(json{{"payload_bytes", size},
                                   {"ratio", impls[s].first + " / " + impls[p].first},
                                   {"paired_rounds", ratio},
                                   {"spread", spread_json(m)}});
            }
        }
    }
    return out;
}

// ---- persistence -----------------------------------------------------------------------

std::string make_temp_dir(const char* name) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + name + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl);
    return tmpl;
}

void remove_store(const std::string& path) {
    for (const char* suffix : {"", "-wal", "-journal"}) ::unlink((path + suffix).c_str());
}

// The durable client against the in-memory one: 64 B one-way with acks,
// interleaved rounds (in memory, then each durability), paired ratios; the
// store's bytes per queued message and the time to construct a Client on a
// store holding o.persist_messages.
json run_persist(const Options& o, const ChildProcess& sink_server) {
    json out;
    const std::string dir = make_temp_dir("tether-bench-persist");
    const std::string payload = json_payload(64);
    std::cout << "\n== Persistence: 64 B one-way with acks, " << o.repeat
              << " interleaved rounds; medians, [min-max]; store in " << dir << "\n";
    const std::vector<int> w{7, 30, 10, 17, 11, 11, 12};
    print_row({"bytes", "implementation", "msgs/s", "[min-max] k", "cli us/msg", "srv us/msg", "x in-memory"}, w);
    const std::vector<std::pair<std::string, std::optional<tether::Durability>>> modes{
        {"in memory", std::nullopt},
        {"persistence off", tether::Durability::off},
        {"persistence normal", tether::Durability::normal},
        {"persistence full", tether::Durability::full}};
    std::vector<std::vector<Tp>> runs(modes.size());
    int file = 0;
    for (int k = 0; k < o.repeat; ++k) {
        for (std::size_t i = 0; i < modes.size(); ++i) {
            tether::PersistenceOptions p;
            if (modes[i].second) {
                p.path = dir + "/tp-" + std::to_string(file++) + ".db";
                p.durability = *modes[i].second;
            }
            const SdkThroughputResult r = sdk_throughput(sink_server.url(), sink_server.pid(), payload, o.warmup_s,
                                                         o.measure_s, false, p);
            runs[i].push_back(make_tp(modes[i].first, 64, r.acked, r.seconds, r.client_cpu_s, r.server_cpu_s,
                                      r.client_allocs, r.error));
            if (!p.path.empty()) remove_store(p.path);
        }
    }
    json rows = json::array();
    for (std::size_t i = 0; i < modes.size(); ++i) {
        std::vector<double> rates, cli, srv;
        for (const Tp& r : runs[i]) {
            rates.push_back(r.rate);
            cli.push_back(r.client_us);
            srv.push_back(r.server_us);
        }
        const std::vector<double> ratio = paired_ratios(runs[i], runs[0], tp_rate);
        const MinMedMax rs = spread(rates), rr = spread(ratio);
        print_row({"64", modes[i].first, human_rate(rs.median),
                   "[" + fmt(rs.min / 1e3, 0) + "-" + fmt(rs.max / 1e3, 0) + "]", fmt(spread(cli).median, 2),
                   fmt(spread(srv).median, 2),
                   i == 0 ? "-" : fmt(rr.median, 2) + " [" + fmt(rr.min, 2) + "-" + fmt(rr.max, 2) + "]"},
                  w);
        for (const Tp& r : runs[i])
            if (!r.error.empty()) std::cout << "        error: " << r.error << "\n";
        rows.push_back(json{{"implementation", modes[i].first},
                            {"msgs_per_s", spread_json(rs)},
                            {"runs_msgs_per_s", rates},
                            {"client_cpu_us_per_msg", spread_json(spread(cli))},
                            {"server_cpu_us_per_msg", spread_json(spread(srv))},
                            {"paired_ratio_to_in_memory", i == 0 ? json() : spread_json(rr)}});
    }
    out["throughput_64"] = rows;

    const std::string store = dir + "/footprint.db";
    const StoreFootprint f = store_footprint(store, payload, o.persist_messages, 5);
    if (!f.error.empty()) std::cout << "  footprint error: " << f.error << "\n";
    const MinMedMax c = spread(f.construct_ms);
    const double per_msg = static_cast<double>(f.file_bytes) / static_cast<double>(std::max<std::uint64_t>(f.messages, 1));
    std::cout << "  " << f.messages << " queued 64 B messages: " << fmt(static_cast<double>(f.file_bytes) / 1e6, 1)
              << " MB on disk (store + WAL) = " << fmt(per_msg, 1) << " B per message; queued and durable in "
              << fmt(f.fill_s * 1e3, 0) << " ms\n"
              << "  Client construction on that store (" << f.recovered << " recovered): median " << fmt(c.median, 1)
              << " ms [" << fmt(c.min, 1) << "-" << fmt(c.max, 1) << "] over " << f.construct_ms.size() << " runs\n";
    out["footprint"] = json{{"messages", f.messages},      {"file_bytes", f.file_bytes},
                            {"bytes_per_message", per_msg}, {"fill_ms", f.fill_s * 1e3},
                            {"construct_ms", spread_json(c)}, {"recovered", f.recovered}};
    remove_store(store);
    ::rmdir(dir.c_str());
    return out;
}

// ---- latency ----------------------------------------------------------------------------

json latency_json(const std::string& impl, double rate, Percentiles p, std::uint64_t sent, std::uint64_t lost,
                  double client_us, double server_us, const std::string& error) {
    json j{{"implementation", impl}, {"rate_per_s", rate}, {"payload_bytes", 64}, {"samples", p.samples},
           {"p50_us", p.p50_us},     {"p99_us", p.p99_us}, {"p999_us", p.p999_us}, {"max_us", p.max_us},
           {"mean_us", p.mean_us},   {"sent", sent},       {"lost", lost},
           {"client_cpu_us_per_round_trip", client_us}, {"server_cpu_us_per_round_trip", server_us}};
    if (!error.empty()) j["error"] = error;
    return j;
}

// Before percentiles() sorts them: the order shows when the slow ones happened.
void dump_rtt(const std::string& prefix, const std::string& impl, double rate, const std::vector<std::int64_t>& ns) {
    std::string name;
    for (char c : impl) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    std::ofstream f(prefix + "-" + name + "-" + fmt(rate, 0) + ".txt");
    for (std::int64_t v : ns) f << v << '\n';
}

// Round trips at fixed rates. Like throughput, each of the --rtt-repeat
// rounds runs every implementation once, so the host's stalls (this VM has
// 1-3 ms episodes in which nothing runs, see docs/performance.md) hit one
// round of each rather than every run of one; p99 ratios are paired per round.
json run_latency(const Options& o, const ChildProcess& echo_server, RawServer* raw_echo) {
    json out = json::array();
    std::cout << "\n== Round-trip latency, 64 B payload, fixed send rate (from the scheduled send time), " << o.rtt_repeat
              << " interleaved rounds; medians over rounds, [min-max] of p99\n";
    const std::vector<int> w{7, 28, 9, 9, 15, 9, 9, 9, 5, 10, 10};
    print_row({"rate/s", "implementation", "p50 us", "p99 us", "[min-max] p99", "p99.9 us", "max us", "stalled", "lost",
               "cli us/rt", "srv us/rt"},
              w);
    struct Round {
        Percentiles p;
        std::uint64_t sent = 0, lost = 0, stalled = 0; // stalled: round trips above 1 ms
        double cli_us = 0, srv_us = 0;
        std::string error;
    };
    for (double rate : o.rates) {
        Impls<Round> impls;
        impls.reserve(3);
        auto finish = [&](const std::string& impl, std::vector<std::int64_t>& ns, std::uint64_t sent, std::uint64_t lost,
                          double client_cpu_s, double server_cpu_s, const std::string& error) {
            if (!o.rtt_dump.empty()) dump_rtt(o.rtt_dump, impl, rate, ns);
            Round r;
            r.stalled = static_cast<std::uint64_t>(std::count_if(ns.begin(), ns.end(), [](std::int64_t v) { return v > 1'000'000; }));
            r.p = percentiles(ns);
            const double n = static_cast<double>(std::max<std::uint64_t>(sent, 1));
            r.cli_us = client_cpu_s * 1e6 / n;
            r.srv_us = server_cpu_s * 1e6 / n;
            r.sent = sent;
            r.lost = lost;
            r.error = error;
            return r;
        };
        const std::string sdk_name = "tether SDK -> chat-server";
        impls.emplace_back(sdk_name, [&] {
            SdkLatencyResult s = sdk_latency(echo_server.url(), echo_server.pid(), 64, rate, o.rtt_warmup_s, o.rtt_measure_s);
            return finish(sdk_name, s.rtt_ns, s.sent, s.lost, s.client_cpu_s, s.server_cpu_s, s.error);
        });
        if (raw_echo != nullptr) {
            for (RawConfig cfg : {RawConfig::stock, RawConfig::fast_rng}) {
                impls.emplace_back(to_string(cfg), [&, cfg] {
                    RawLatencyResult r = raw_latency(cfg, *raw_echo, 64, rate, o.rtt_warmup_s, o.rtt_measure_s);
                    return finish(to_string(cfg), r.rtt_ns, r.sent, r.lost, r.client_cpu_s, r.server_cpu_s, r.error);
                });
            }
        }
        const auto runs = run_interleaved(impls, o.rtt_repeat);
        for (std::size_t i = 0; i < impls.size(); ++i) {
            std::vector<double> p50, p99, p999, mx, cli, srv;
            std::uint64_t samples = 0, lost = 0, stalled = 0;
            json rounds = json::array();
            for (const Round& r : runs[i]) {
                p50.push_back(r.p.p50_us);
                p99.push_back(r.p.p99_us);
                p999.push_back(r.p.p999_us);
                mx.push_back(r.p.max_us);
                cli.push_back(r.cli_us);
                srv.push_back(r.srv_us);
                samples += r.p.samples;
                lost += r.lost;
                stalled += r.stalled;
                if (!r.error.empty()) std::cout << "        error: " << r.error << "\n";
                rounds.push_back(latency_json(impls[i].first, rate, r.p, r.sent, r.lost, r.cli_us, r.srv_us, r.error));
            }
            const MinMedMax s99 = spread(p99);
            const double stalled_fraction =
                static_cast<double>(stalled) / static_cast<double>(std::max<std::uint64_t>(samples, 1));
            print_row({fmt(rate, 0), impls[i].first, fmt(spread(p50).median), fmt(s99.median),
                       "[" + fmt(s99.min, 0) + "-" + fmt(s99.max, 0) + "]", fmt(spread(p999).median),
                       fmt(spread(mx).max), fmt(100.0 * stalled_fraction, 2) + "%",
                       std::to_string(lost), fmt(spread(cli).median, 2), fmt(spread(srv).median, 2)},
                      w);
            out.push_back(json{{"implementation", impls[i].first},
                               {"rate_per_s", rate},
                               {"p50_us", spread_json(spread(p50))},
                               {"p99_us", spread_json(s99)},
                               {"p999_us", spread_json(spread(p999))},
                               {"stalled_fraction", stalled_fraction},
                               {"rounds", rounds}});
        }
        for (std::size_t p = 1; p < impls.size(); ++p) {
            const std::vector<double> r99 = paired_ratios(runs[0], runs[p], [](const Round& r) { return r.p.p99_us; });
            const std::vector<double> r50 = paired_ratios(runs[0], runs[p], [](const Round& r) { return r.p.p50_us; });
            const MinMedMax m99 = spread(r99), m50 = spread(r50);
            std::cout << "        SDK / " << impls[p].first << ", paired: p99 " << fmt(m99.median, 2) << "x [" << fmt(m99.min, 2)
                      << "-" << fmt(m99.max, 2) << "], p50 " << fmt(m50.median, 2) << "x [" << fmt(m50.min, 2) << "-"
                      << fmt(m50.max, 2) << "]\n";
            out.push_back(json{{"rate_per_s", rate},
                               {"ratio", sdk_name + " / " + impls[p].first},
                               {"p99_paired_rounds", r99},
                               {"p99_spread", spread_json(m99)},
                               {"p50_spread", spread_json(m50)}});
        }
    }
    return out;
}

// ---- reconnect ------------------------------------------------------------------------

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

json run_reconnect(const Options& o, const ChildProcess& sink_server) {
    std::cout << "\n== Reconnect (simulate_network_drop -> ready / -> " << o.reconnect_messages
              << " queued messages all acked; backoff base " << o.backoff_ms << " ms)\n";
    const SdkReconnectResult r = sdk_reconnect(sink_server.url(), o.reconnect_messages, o.reconnect_reps, o.backoff_ms);
    auto maxv = [](const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); };
    std::cout << "  to ready:   median " << fmt(median(r.ready_ms), 2) << " ms, max " << fmt(maxv(r.ready_ms), 2)
              << " ms\n";
    std::cout << "  to drained: median " << fmt(median(r.drained_ms), 2) << " ms, max " << fmt(maxv(r.drained_ms), 2)
              << " ms (" << r.ready_ms.size() << " cuts, " << r.resumes << " resumes)\n";
    if (!r.error.empty()) std::cout << "  error: " << r.error << "\n";
    json j{{"messages", o.reconnect_messages}, {"backoff_base_ms", o.backoff_ms}, {"ready_ms", r.ready_ms},
           {"drained_ms", r.drained_ms},       {"ready_ms_median", median(r.ready_ms)},
           {"drained_ms_median", median(r.drained_ms)}, {"resumes", r.resumes}};
    if (!r.error.empty()) j["error"] = r.error;
    return j;
}

// ---- reconnect storm ------------------------------------------------------------------

// Plain SVG text: server accepts per 100 ms (bars), client connection
// attempts per 100 ms (line), clients ready (line, right axis).
void write_storm_svg(const std::string& path, const std::vector<double>& accepts, const std::vector<double>& attempts,
                     const std::vector<double>& ready, std::size_t clients, double restart_s) {
    const double W = 900, H = 360, L = 60, R = 60, T = 30, B = 40;
    const std::size_t bins = std::max({accepts.size(), attempts.size(), ready.size(), std::size_t{1}});
    double ymax = 1;
    for (double v : accepts) ymax = std::max(ymax, v);
    for (double v : attempts) ymax = std::max(ymax, v);
    const double bw = (W - L - R) / static_cast<double>(bins);
    auto x = [&](std::size_t i) { return L + bw * static_cast<double>(i); };
    auto y = [&](double v) { return H - B - (H - T - B) * v / ymax; };
    auto y2 = [&](double v) { return H - B - (H - T - B) * v / std::max<double>(static_cast<double>(clients), 1); };
    std::ofstream f(path);
    f << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << L << "\" y=\"18\" font-size=\"13\">Reconnect storm: " << clients
      << " clients, server killed at 0 s, restarted at " << fmt(restart_s, 1) << " s (per 100 ms)</text>\n";
    for (std::size_t i = 0; i < accepts.size(); ++i)
        f << "<rect x=\"" << fmt(x(i), 1) << "\" y=\"" << fmt(y(accepts[i]), 1) << "\" width=\""
          << fmt(std::max(bw - 1, 1.0), 1) << "\" height=\"" << fmt(H - B - y(accepts[i]), 1)
          << "\" fill=\"#4878d0\"/>\n";
    auto polyline = [&](const std::vector<double>& v, bool right, const char* colour) {
        f << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.5\" points=\"";
        for (std::size_t i = 0; i < v.size(); ++i)
            f << fmt(x(i) + bw / 2, 1) << "," << fmt(right ? y2(v[i]) : y(v[i]), 1) << " ";
        f << "\"/>\n";
    };
    polyline(attempts, false, "#ee854a");
    polyline(ready, true, "#6acc64");
    // Axes and labels.
    f << "<line x1=\"" << L << "\" y1=\"" << H - B << "\" x2=\"" << W - R << "\" y2=\"" << H - B
      << "\" stroke=\"black\"/>\n<line x1=\"" << L << "\" y1=\"" << T << "\" x2=\"" << L << "\" y2=\"" << H - B
      << "\" stroke=\"black\"/>\n";
    for (int k = 0; k <= 4; ++k) {
        const double v = ymax * k / 4;
        f << "<text x=\"" << L - 6 << "\" y=\"" << fmt(y(v) + 4, 1) << "\" text-anchor=\"end\">" << fmt(v, 0)
          << "</text>\n<text x=\"" << W - R + 6 << "\" y=\"" << fmt(y(v) + 4, 1) << "\">"
          << fmt(static_cast<double>(clients) * k / 4, 0) << "</text>\n";
    }
    const std::size_t step = std::max<std::size_t>(10, (bins / 10 + 9) / 10 * 10);
    for (std::size_t i = 0; i <= bins; i += step)
        f << "<text x=\"" << fmt(x(i), 1) << "\" y=\"" << H - B + 15 << "\" text-anchor=\"middle\">"
          << fmt(static_cast<double>(i) / 10, 0) << " s</text>\n";
    f << "<text x=\"" << L + 10 << "\" y=\"" << T + 12 << "\" fill=\"#4878d0\">server accepts (WebSocket opens)</text>\n"
      << "<text x=\"" << L + 10 << "\" y=\"" << T + 26 << "\" fill=\"#ee854a\">client connection attempts</text>\n"
      << "<text x=\"" << L + 10 << "\" y=\"" << T + 40 << "\" fill=\"#6acc64\">clients ready (right axis)</text>\n"
      << "</svg>\n";
}

json run_storm(const Options& o) {
    std::cout << "\n== Reconnect storm: " << o.storm_clients << " clients on one EventLoop, chat-server killed (-9) and "
              << "restarted after " << fmt(o.storm_down_s * 1000, 0) << " ms; backoff max " << o.storm_max_backoff_ms
              << " ms\n";
    // --verbose: the server logs "conn N open" per WebSocket opened; the
    // benchmark timestamps those lines as they arrive (accepts per 100 ms).
    const std::vector<std::string> base{"--heartbeat-ms", "0", "--verbose"};
    auto args = [&](const std::string& port) {
        std::vector<std::string> a{"--port", port};
        a.insert(a.end(), base.begin(), base.end());
        return a;
    };
    auto server = std::make_unique<ChildProcess>(o.chat_server, args("0"), std::chrono::milliseconds(10000), " open");
    const std::uint16_t port = server->port();
    Clock::time_point killed_at{};
    const SdkStormResult r = sdk_storm(
        server->url(), o.storm_clients, std::chrono::milliseconds(o.storm_max_backoff_ms), o.storm_down_s, 120.0,
        [&] {
            killed_at = Clock::now();
            server->kill_now();
        },
        [&] {
            server = std::make_unique<ChildProcess>(o.chat_server, args(std::to_string(port)),
                                                    std::chrono::milliseconds(10000), " open");
        });
    const pid_t server_pid = server->pid();
    const double server_cpu_s = process_cpu_seconds(server_pid);
    const std::vector<Clock::time_point> opens = server->stderr_hits();
    server.reset();

    // Bins of 100 ms from the kill.
    const std::size_t bins = r.samples.size();
    std::vector<double> accepts(bins, 0), attempts(bins, 0), ready(bins, 0);
    for (const auto& t : opens) {
        const double s = std::chrono::duration<double>(t - killed_at).count();
        if (s < 0) continue;
        const auto b = static_cast<std::size_t>(s * 10);
        if (b < bins) accepts[b] += 1;
    }
    double peak_rss = 0;
    for (std::size_t i = 0; i < bins; ++i) {
        attempts[i] = i < r.attempts_per_100ms.size() ? r.attempts_per_100ms[i] : 0.0;
        ready[i] = static_cast<double>(r.samples[i].ready);
        peak_rss = std::max(peak_rss, static_cast<double>(r.samples[i].rss));
    }
    // The storm: from the first accept after the restart to the last one.
    std::size_t first = bins, last = 0;
    double total = 0, peak = 0;
    for (std::size_t i = 0; i < bins; ++i) {
        if (accepts[i] <= 0) continue;
        first = std::min(first, i);
        last = i;
        total += accepts[i];
        peak = std::max(peak, accepts[i]);
    }
    const double storm_bins = first <= last ? static_cast<double>(last - first + 1) : 1;
    const double mean = total / storm_bins;
    const double cpu = r.samples.empty() ? 0 : r.samples.back().cpu_s;
    std::cout << "  first connect of all: " << fmt(r.connect_all_s, 2) << " s\n"
              << "  kill -> every client ready again: "
              << (r.all_ready_s >= 0 ? fmt(r.all_ready_s, 2) + " s" : std::string("NOT within the deadline"))
              << " (server down " << fmt(r.down_s, 2) << " s; target max_backoff + 5 s = "
              << fmt(o.storm_max_backoff_ms / 1000.0 + 5, 1) << " s)\n"
              << "  server accepts: " << fmt(total, 0) << " over " << fmt(storm_bins / 10, 1) << " s; peak "
              << fmt(peak, 0) << " per 100 ms, mean " << fmt(mean, 1) << " => peak / mean = " << fmt(peak / std::max(mean, 1e-9), 2)
              << "x (target <= 3x)\n"
              << "  client connection attempts after the kill: " << (r.samples.empty() ? 0 : r.samples.back().attempts)
              << "; failed clients: " << r.failed << "; ready at the end: " << r.ready_at_end << "\n"
              << "  client process: peak RSS " << fmt(peak_rss / 1048576.0, 1) << " MiB, CPU " << fmt(cpu, 2)
              << " s from the kill to the end; restarted server CPU " << fmt(server_cpu_s, 2) << " s\n";
    if (!r.error.empty()) std::cout << "  error: " << r.error << "\n";
    if (!o.storm_svg.empty() && bins > 0) {
        write_storm_svg(o.storm_svg, accepts, attempts, ready, o.storm_clients, r.down_s);
        std::cout << "  wrote " << o.storm_svg << "\n";
    }
    json samples = json::array();
    for (std::size_t i = 0; i < bins; ++i)
        samples.push_back(json{{"t_s", r.samples[i].t_s},
                               {"rss", r.samples[i].rss},
                               {"cpu_s", r.samples[i].cpu_s},
                               {"ready", r.samples[i].ready},
                               {"client_attempts", attempts[i]},
                               {"server_accepts", accepts[i]}});
    json j{{"clients", o.storm_clients},     {"max_backoff_ms", o.storm_max_backoff_ms},
           {"down_s", r.down_s},             {"connect_all_s", r.connect_all_s},
           {"all_ready_again_s", r.all_ready_s}, {"server_accepts", total},
           {"peak_accepts_per_100ms", peak}, {"mean_accepts_per_100ms", mean},
           {"failed", r.failed},             {"ready_at_end", r.ready_at_end},
           {"peak_rss", peak_rss},           {"client_cpu_s", cpu},
           {"server_cpu_s", server_cpu_s},   {"samples", samples}};
    if (!r.error.empty()) j["error"] = r.error;
    return j;
}

// ---- memory ---------------------------------------------------------------------------

// Each memory figure is taken in a fresh process (this program re-run with
// --child-memory), so that heap left over from earlier measurements cannot
// hide in, or be released during, an RSS delta.
int child_memory_main(int argc, char** argv) {
    const std::string kind = argc > 2 ? argv[2] : "";
    json j;
    if (kind == "sdk-idle" && argc == 5) {
        const SdkMemoryResult m = sdk_idle_memory(argv[3], std::stoul(argv[4]), 1.0);
        j = {{"clients", m.clients}, {"rss_before", m.rss_before}, {"rss_after", m.rss_after},
             {"connect_all_s", m.connect_all_s}, {"error", m.error}};
    } else if (kind == "raw-idle" && argc == 5) {
        const RawMemoryResult r = raw_idle_memory(argv[3], std::stoul(argv[4]), 1.0);
        j = {{"clients", r.clients}, {"rss_before", r.rss_before}, {"rss_after", r.rss_after},
             {"connect_ms", r.connect_ms}, {"error", r.error}};
    } else if (kind == "outbox" && argc == 4) {
        const OutboxMemoryResult b = sdk_outbox_memory(std::stoul(argv[3]), 64);
        j = {{"messages", b.messages},     {"payload_bytes", b.payload_bytes}, {"id_bytes", b.id_bytes},
             {"heap_delta", b.heap_delta}, {"rss_delta", b.rss_delta},         {"allocations", b.allocations},
             {"error", b.error}};
    } else {
        std::cerr << "usage: --child-memory sdk-idle|raw-idle URL N | outbox N\n";
        return 2;
    }
    std::cout << j.dump() << std::endl;
    return 0;
}

json run_child(const std::string& self_exe, const std::vector<std::string>& args) {
    std::vector<std::string> all{"--child-memory"};
    all.insert(all.end(), args.begin(), args.end());
    const std::string out = run_and_capture(self_exe, all, std::chrono::seconds(120));
    const json j = json::parse(out, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return json{{"error", "measurement process failed: '" + out + "'"}};
    return j;
}

// Through object_t: json::find()/value() trip -Wnull-dereference in GCC 12.
const json* field(const json& j, const char* key) {
    const auto* obj = j.get_ptr<const json::object_t*>();
    if (obj == nullptr) return nullptr;
    const auto it = obj->find(key);
    return it == obj->end() ? nullptr : &it->second;
}
double num(const json& j, const char* key) {
    const json* v = field(j, key);
    return v != nullptr && v->is_number() ? v->get<double>() : 0.0;
}
std::string text(const json& j, const char* key) {
    const json* v = field(j, key);
    const auto* str = v != nullptr ? v->get_ptr<const std::string*>() : nullptr;
    return str != nullptr ? *str : std::string();
}

json run_memory(const Options& o, const ChildProcess& sink_server, const std::string& self_exe) {
    json out;
    std::cout << "\n== Memory (each figure in a fresh process)\n";
    const json m = run_child(self_exe, {"sdk-idle", sink_server.url(), std::to_string(o.clients)});
    const double clients = std::max(num(m, "clients"), 1.0);
    const double per = (num(m, "rss_after") - num(m, "rss_before")) / clients;
    std::cout << "  SDK: " << o.clients << " idle clients on one EventLoop: RSS "
              << fmt(num(m, "rss_before") / 1048576.0) << " -> " << fmt(num(m, "rss_after") / 1048576.0)
              << " MiB = " << fmt(per / 1024.0, 1) << " KiB per client (all ready after "
              << fmt(num(m, "connect_all_s"), 2) << " s)\n";
    const std::string merr = text(m, "error");
    if (!merr.empty()) std::cout << "  error: " << merr << "\n";
    out["sdk_idle_clients"] = m;
    out["sdk_idle_clients"]["rss_per_client_bytes"] = per;

    if (o.raw) {
        try {
            ChildProcess raw_server(self_exe, {"--serve-raw"});
            const json r = run_child(self_exe, {"raw-idle", raw_server.url("/"), std::to_string(o.clients)});
            const double rper = (num(r, "rss_after") - num(r, "rss_before")) / std::max(num(r, "clients"), 1.0);
            std::cout << "  raw websocketpp: " << o.clients << " idle connections on one endpoint: "
                      << fmt(rper / 1024.0, 1) << " KiB per connection; one handshake " << fmt(num(r, "connect_ms"), 2)
                      << " ms\n";
            const std::string rerr = text(r, "error");
            if (!rerr.empty()) std::cout << "  error: " << rerr << "\n";
            out["raw_idle_connections"] = r;
            out["raw_idle_connections"]["rss_per_connection_bytes"] = rper;
        } catch (const std::exception& e) {
            std::cout << "  raw websocketpp: " << e.what() << "\n";
        }
    }

    const json b = run_child(self_exe, {"outbox", std::to_string(o.outbox_messages)});
    const double n = std::max(num(b, "messages"), 1.0);
    const double payload = num(b, "payload_bytes");
    const double heap_over = num(b, "heap_delta") / n - payload;
    const double rss_over = num(b, "rss_delta") / n - payload;
    std::cout << "  outbox: " << num(b, "messages") << " queued " << payload << " B messages (generated ids of ~"
              << num(b, "id_bytes") << " B): heap " << fmt(num(b, "heap_delta") / n, 1) << " B/msg = payload + "
              << fmt(heap_over, 1) << " B; RSS " << fmt(num(b, "rss_delta") / n, 1) << " B/msg = payload + "
              << fmt(rss_over, 1) << " B; " << fmt(num(b, "allocations") / n, 2) << " allocations/msg\n";
    const std::string berr = text(b, "error");
    if (!berr.empty()) std::cout << "  error: " << berr << "\n";
    out["outbox"] = b;
    out["outbox"]["heap_overhead_per_msg"] = heap_over;
    out["outbox"]["rss_overhead_per_msg"] = rss_over;
    out["outbox"]["allocations_per_msg"] = num(b, "allocations") / n;
    return out;
}

// ---- idle -----------------------------------------------------------------------------

json run_idle(const Options& o, const ChildProcess& sink_server) {
    std::cout << "\n== Idle: one ready client alone on its io thread, heartbeat " << o.heartbeat_ms << " ms\n";
    const SdkIdleResult r = sdk_idle_wakeups(sink_server.url(), o.heartbeat_ms, o.idle_s);
    const double s = std::max(r.seconds, 1e-9);
    std::cout << "  " << fmt(static_cast<double>(r.wakeups) / s, 2) << " wakeups/s (" << r.wakeups << " in "
              << fmt(r.seconds, 1) << " s), " << fmt(static_cast<double>(r.pings) / s, 2) << " pings/s => "
              << (r.pings ? fmt(static_cast<double>(r.wakeups) / static_cast<double>(r.pings), 2) : std::string("-"))
              << " wakeups per heartbeat (a ping and its pong); io thread CPU " << fmt(r.cpu_s * 1e3, 1) << " ms\n";
    if (!r.error.empty()) std::cout << "  error: " << r.error << "\n";
    json j{{"heartbeat_ms", o.heartbeat_ms},
           {"seconds", r.seconds},
           {"wakeups", r.wakeups},
           {"wakeups_per_s", static_cast<double>(r.wakeups) / s},
           {"voluntary_switches", r.voluntary},
           {"pings", r.pings},
           {"pings_per_s", static_cast<double>(r.pings) / s},
           {"io_thread_cpu_s", r.cpu_s}};
    if (!r.error.empty()) j["error"] = r.error;
    return j;
}

std::string self_exe() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

json machine_json(const Machine& m) {
    return json{{"nproc", m.nproc}, {"cpu_model", m.cpu_model}, {"kernel", m.kernel},
                {"loadavg", {m.load1, m.load5, m.load15}}};
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--serve-raw") return serve_raw_forever();
    if (argc >= 2 && std::string(argv[1]) == "--child-memory") {
        raise_fd_limit();
        return child_memory_main(argc, argv);
    }
    Options o;
    try {
        o = parse(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "tether_bench_e2e: " << e.what() << "\n" << kUsage;
        return 2;
    }
    install_child_reaper();
    raise_fd_limit();

    const Machine start = machine();
    std::cout << "tether e2e benchmark, " << now_iso8601() << "\n"
              << "machine: " << start.nproc << " CPUs, " << start.cpu_model << ", " << start.kernel << "\n"
              << "load average at start: " << fmt(start.load1, 2) << " " << fmt(start.load5, 2) << " "
              << fmt(start.load15, 2) << "\n";
    std::ostringstream cmd;
    for (int i = 0; i < argc; ++i) cmd << (i ? " " : "") << argv[i];
    json result{{"command", cmd.str()}, {"started", now_iso8601()}, {"machine", machine_json(start)}};

    int rc = 0;
    try {
        // A sink (rooms mode: client msgs are acked, nothing is sent back) and
        // an echo server. Server heartbeats off, so the client's own
        // heartbeat applies (the idle measurement depends on it).
        ChildProcess sink(o.chat_server, {"--port", "0", "--heartbeat-ms", "0"});
        ChildProcess echo(o.chat_server, {"--port", "0", "--echo", "--heartbeat-ms", "0"});
        std::cout << "chat-server sink on port " << sink.port() << ", echo on port " << echo.port() << "\n";

        if (o.sections.count("throughput")) {
            std::optional<RawServer> raw_sink;
            if (o.raw) raw_sink.emplace(RawServer::Mode::sink);
            result["throughput"] = run_throughput(o, sink, raw_sink ? &*raw_sink : nullptr);
        }
        if (o.sections.count("latency")) {
            std::optional<RawServer> raw_echo;
            if (o.raw) raw_echo.emplace(RawServer::Mode::echo);
            result["latency"] = run_latency(o, echo, raw_echo ? &*raw_echo : nullptr);
        }
        if (o.sections.count("reconnect")) result["reconnect"] = run_reconnect(o, sink);
        if (o.sections.count("memory")) result["memory"] = run_memory(o, sink, self_exe());
        if (o.sections.count("idle")) result["idle"] = run_idle(o, sink);
        if (o.sections.count("storm")) result["storm"] = run_storm(o);
        if (o.sections.count("persist")) result["persist"] = run_persist(o, sink);
    } catch (const std::exception& e) {
        std::cerr << "tether_bench_e2e: " << e.what() << "\n";
        result["error"] = e.what();
        rc = 1;
    }

    const Machine end = machine();
    result["finished"] = now_iso8601();
    result["loadavg_end"] = {end.load1, end.load5, end.load15};
    std::cout << "\nload average at end: " << fmt(end.load1, 2) << " " << fmt(end.load5, 2) << " " << fmt(end.load15, 2)
              << "\n";
    if (!o.json_path.empty()) {
        std::ofstream f(o.json_path);
        f << result.dump(2) << "\n";
        std::cout << "wrote " << o.json_path << "\n";
    }
    return rc;
}
