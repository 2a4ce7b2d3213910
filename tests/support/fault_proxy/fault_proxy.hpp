// FaultProxy: a fault-injecting TCP proxy on loopback, for integration tests
// and (through the `fault-proxy` tool) for QA by hand.
//
// It listens on 127.0.0.1 (port 0 = ephemeral, see port()) and forwards every
// accepted connection to an upstream on loopback (127.0.0.0/8, ::1 or
// "localhost"; anything else is refused with std::invalid_argument, so a test
// can never proxy to the outside world). Tests point the client at port() and
// then inject faults:
//
//   pass       forward both ways (default).
//   blackhole  a network partition: every connection, old and new, is frozen.
//              The proxy neither reads nor writes it, so no byte moves and no
//              FIN/RST is propagated; TCP buffers fill and senders stall, as
//              they would on a dead route. New connections are accepted but
//              the upstream is not dialled. Nothing is dropped: going back to
//              pass (or refuse) "heals the partition" and frozen connections
//              resume, including bytes sent meanwhile (TCP would retransmit
//              them). Call cut_all()/reset_all() first if a test wants them gone.
//   refuse     new connections are accepted and immediately reset (RST); the
//              client sees ECONNRESET, much like a server that is down.
//              Existing connections keep forwarding.
//   cut_all    FIN both sides of every proxied connection (graceful close).
//   reset_all  RST both sides of every proxied connection (SO_LINGER 0).
//   delay      every chunk is held for `one_way` after it is read, in each
//              direction (so a round trip gains 2 x delay). Order is kept.
//   throttle   each direction of each connection is limited to N bytes/s
//              (token bucket, 50 ms burst); 0 = unlimited.
//
// Upstream connect failure resets the client (like ECONNREFUSED would).
// Errors on one side reset the other side; a FIN on one side is forwarded
// once the queued bytes are flushed (half-close works).
//
// Thread safety: every member function may be called from any thread at any
// time, concurrently. Control calls (set_*, cut_all, reset_all) have taken
// effect when they return: after set_mode(blackhole) returns no further byte
// is forwarded; after cut_all() returns active_connections() no longer counts
// the cut connections. They wait for the proxy thread for at most ~2 s. The
// destructor stops the thread and closes every socket; it returns promptly.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tether::testing {

class FaultProxy {
public:
    enum class Mode { pass, blackhole, refuse };

    // Binds 127.0.0.1:listen_port (0 = ephemeral) and starts the proxy
    // thread. Throws std::invalid_argument for a non-loopback upstream or
    // port 0, std::system_error if the socket cannot be bound.
    FaultProxy(std::string upstream_host, std::uint16_t upstream_port,
               std::uint16_t listen_port = 0);
    ~FaultProxy();

    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    std::uint16_t port() const;

    // Used for connections that dial upstream after this returns (new ones,
    // and ones accepted during a blackhole). Throws like the constructor.
    void set_upstream(std::string host, std::uint16_t port);

    void set_mode(Mode mode);
    Mode mode() const;
    void cut_all();
    void reset_all();
    void set_delay(std::chrono::milliseconds one_way);  // applies to chunks read afterwards
    void set_throttle(std::size_t bytes_per_second);    // 0 = unlimited

    std::size_t active_connections() const;   // proxied connections still open
    std::size_t total_connections() const;    // accepted for proxying since start (not refused ones)
    std::size_t refused_connections() const;  // accepted and reset in refuse mode
    std::uint64_t bytes_forwarded() const;    // written to either side, both directions

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

const char* to_string(FaultProxy::Mode mode);

}  // namespace tether::testing
