#include <iostream>
#include <tether/client.hpp>

int main() {
    tether::ClientOptions o;
    o.url = "ws://127.0.0.1:9/ws";
    std::error_code ec;
    auto client = tether::Client::create(o, ec);
    if (!client || client->state() != tether::State::idle) return 1;
    std::cout << "tether " << tether::version_string() << "\n";
    return 0;
}
