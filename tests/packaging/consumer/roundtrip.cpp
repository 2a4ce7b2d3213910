// A C++ program built with find_package(tether) against an installed tether:
// connects to the URL in argv[1] (chat-server --echo), sends one message and
// exits 0 once it is both acknowledged and echoed back.
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>

#include <tether/client.hpp>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " ws://127.0.0.1:PORT/ws\n";
        return 2;
    }
    std::mutex mu;
    std::condition_variable cv;
    bool acked = false, echoed = false;
    tether::ClientOptions o;
    o.url = argv[1];
    o.callbacks.on_acked = [&](tether::MessageId) {
        std::lock_guard<std::mutex> lock(mu);
        acked = true;
        cv.notify_all();
    };
    o.callbacks.on_message = [&](const tether::Message& m) {
        std::lock_guard<std::mutex> lock(mu);
        if (m.data.dump().find("hello from C++") != std::string::npos) echoed = true;
        cv.notify_all();
    };
    tether::Client client(std::move(o));
    client.connect();
    client.send({{"text", "hello from C++"}});
    bool done;
    {
        std::unique_lock<std::mutex> lock(mu);
        done = cv.wait_for(lock, std::chrono::seconds(20), [&] { return acked && echoed; });
    }
    client.close();
    client.wait_until_terminal(std::chrono::seconds(5));
    std::cout << "tether " << tether::version_string() << ": acked=" << acked << " echoed=" << echoed << "\n";
    return done ? 0 : 1;
}
