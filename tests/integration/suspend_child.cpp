// The client process that client_suspend_test stops and continues: a
// tether::Client on the URL in argv[1], heartbeat 1 s (so the suspend
// threshold is 2 s), driven by stdin lines and reporting on stdout:
//   in:  "send N"  -> queues {"n": N} with message id "m-N"
//        "stats"   -> "stats <connects> <suspends_detected> <heartbeat timeouts> <state>"
//   out: "state <name>", "acked N", "echo N"
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>

#include "tether/client.hpp"

namespace {

std::mutex out_mu;
void say(const std::string& line) {
    std::lock_guard<std::mutex> lock(out_mu);
    std::cout << line << std::endl;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: suspend_child URL\n";
        return 2;
    }
    std::mutex mu;
    std::map<tether::MessageId, std::string> names; // guarded by mu
    std::uint64_t heartbeat_timeouts = 0;          // guarded by mu

    tether::ClientOptions o;
    o.url = argv[1];
    o.heartbeat.interval = std::chrono::milliseconds(1000);
    o.backoff.base = std::chrono::milliseconds(20);
    o.backoff.max = std::chrono::milliseconds(200);
    o.callbacks.on_state = [](const tether::StateChange& c) { say(std::string("state ") + tether::to_string(c.to)); };
    o.callbacks.on_acked = [&](tether::MessageId id) {
        std::lock_guard<std::mutex> lock(mu);
        say("acked " + names[id]);
    };
    o.callbacks.on_message = [](const tether::Message& m) {
        if (m.data.contains("echo")) say("echo " + std::to_string(m.data["echo"]["n"].get<int>()));
    };
    o.callbacks.on_error = [&](std::error_code ec, const std::string&) {
        std::lock_guard<std::mutex> lock(mu);
        if (ec == tether::errc::heartbeat_timeout) ++heartbeat_timeouts;
    };
    tether::Client client(o);
    client.connect();

    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.rfind("send ", 0) == 0) {
            const std::string n = line.substr(5);
            std::lock_guard<std::mutex> lock(mu); // the id is named before its ack can be reported
            auto r = client.send(nlohmann::json{{"n", std::stoi(n)}}, "m-" + n);
            if (!r) say("refused " + n);
            names[r.id] = n;
        } else if (line == "stats") {
            const tether::Stats s = client.stats();
            std::lock_guard<std::mutex> lock(mu);
            say("stats " + std::to_string(s.connects) + " " + std::to_string(s.suspends_detected) + " " +
                std::to_string(heartbeat_timeouts) + " " + tether::to_string(client.state()));
        }
    }
    return 0;
}
