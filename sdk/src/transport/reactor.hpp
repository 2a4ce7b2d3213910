// The event loop behind clients, without exposing Asio in the header.
//
// A Reactor is an asio::io_context plus (optionally) the thread that runs it.
// A Strand serializes handlers for one client; a Timer is one steady_timer on
// a strand. Only sdk/src/transport/*.cpp include Asio.
//
// Thread safety: Reactor and Strand::post are safe from any thread. Timer
// methods must be called on its strand.
// Lifetime: destroy Timers and Strands before the Reactor that made them (an
// Asio strand touches its io_context's service when it goes away).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/time.hpp"

namespace tether::transport {

class Timer {
public:
    virtual ~Timer() = default;
    // Replaces any pending deadline. `fn` runs on the strand unless cancelled
    // or re-armed first.
    virtual void arm(core::TimePoint deadline, std::function<void()> fn) = 0;
    virtual void cancel() = 0;
};

class Strand {
public:
    virtual ~Strand() = default;
    virtual void post(std::function<void()> fn) = 0;
    virtual bool running_in_this_thread() const = 0;
    virtual std::unique_ptr<Timer> make_timer() = 0;
};

class Reactor {
public:
    virtual ~Reactor() = default;
    virtual std::unique_ptr<Strand> make_strand() = 0;
    // True on a thread currently running this reactor's io_context.
    virtual bool running_in_this_thread() const = 0;
    // Opaque pointer to the asio::io_context (for the transport only).
    virtual void* native_io_context() = 0;

    // A reactor with its own io thread; the thread stops when the last
    // shared_ptr goes away (never from its own thread: the destructor detaches
    // a self-join safely).
    static std::shared_ptr<Reactor> create_threaded(std::string thread_name = "tether-io");
    // Wraps an io_context the application owns and runs (many clients on one
    // context). `io_context` must be an asio::io_context* and outlive the reactor.
    static std::shared_ptr<Reactor> wrap(void* io_context);
};

} // namespace tether::transport
