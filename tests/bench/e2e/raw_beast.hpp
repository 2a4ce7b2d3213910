// A raw Boost.Beast client on loopback: the peer a C++ user who wants the
// fastest client would pick. raw_beast.cpp is the benchmark's only Beast
// translation unit (Beast and Boost.Asio cost many seconds per TU).
//
// The client is what Beast's own examples show: one thread, a blocking
// websocket::stream<tcp::socket>, ws.write() per message (text frames,
// masked with Beast's own PRNG). TCP_NODELAY is a choice: Beast leaves Nagle
// on by default, which batches small frames in the kernel at the cost of
// latency; the SDK, websocketpp (as configured here) and the chat-server set
// it.
//
// Thread safety: one call at a time.
#pragma once

#include <string>

#include "raw_wspp.hpp"

namespace bench {

// Streams `payload` to the sink for warmup + measure seconds; the rate is
// taken at the sink over `measure`. client_cpu_s / client_allocs are the
// client thread's, server_* the sink's io thread's.
RawThroughputResult beast_throughput(bool nodelay, RawServer& sink, const std::string& payload, double warmup_s,
                                     double measure_s);

} // namespace bench
