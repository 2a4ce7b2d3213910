// Reactor, Strand and Timer over standalone Asio (no websocketpp here, so this
// translation unit stays cheap to compile).
#include "transport/reactor.hpp"

#include <asio/bind_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace tether::transport {
namespace {

using Executor = asio::io_context::executor_type;
using AsioStrandT = asio::strand<Executor>;

// A steady_timer whose handlers run on the strand. Asio delivers a cancelled
// wait as operation_aborted, but a handler that already completed may sit in
// the strand queue when arm()/cancel() run; the generation number is what
// guarantees that a replaced or cancelled callback never runs.
class AsioTimer final : public Timer {
public:
    explicit AsioTimer(const AsioStrandT& strand) : strand_(strand), state_(std::make_shared<State>(strand)) {}

    ~AsioTimer() override {
        // Pending waits complete with operation_aborted and find the state gone.
        state_->generation++;
    }

    void arm(core::TimePoint deadline, std::function<void()> fn) override {
        const std::uint64_t gen = ++state_->generation;
        state_->timer.expires_at(deadline); // cancels the previous wait
        std::weak_ptr<State> weak = state_;
        state_->timer.async_wait(asio::bind_executor(
            strand_, [weak, gen, fn = std::move(fn)](const asio::error_code& ec) {
                const auto state = weak.lock();
                if (!state || state->generation != gen || ec == asio::error::operation_aborted) return;
                state->generation++; // fire at most once per arm()
                fn();
            }));
    }

    void cancel() override {
        state_->generation++;
        state_->timer.cancel();
    }

private:
    struct State {
        explicit State(const AsioStrandT& s) : timer(s) {}
        asio::steady_timer timer;
        std::uint64_t generation = 0; // touched on the strand only
    };

    AsioStrandT strand_;
    std::shared_ptr<State> state_;
};

class AsioStrand final : public Strand {
public:
    explicit AsioStrand(asio::io_context& io) : strand_(asio::make_strand(io)) {}

    void post(std::function<void()> fn) override { asio::post(strand_, std::move(fn)); }
    bool running_in_this_thread() const override { return strand_.running_in_this_thread(); }
    std::unique_ptr<Timer> make_timer() override { return std::make_unique<AsioTimer>(strand_); }

private:
    AsioStrandT strand_;
};

// What the io thread shares with the reactor: if the reactor is destroyed on
// its own thread, the thread is detached and must keep the io_context alive
// until run() has returned.
struct IoState {
    asio::io_context io;
    std::optional<asio::executor_work_guard<Executor>> work{asio::make_work_guard(io)};
};

class ThreadedReactor final : public Reactor {
public:
    explicit ThreadedReactor(const std::string& name) : state_(std::make_shared<IoState>()) {
        std::shared_ptr<IoState> state = state_;
        thread_ = std::thread([state, name] {
#if defined(__linux__)
            // Linux limits thread names to 15 characters.
            pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
#else
            (void)name;
#endif
            // A throwing handler is a bug elsewhere, but it must not stop every
            // client on this reactor: keep running until stop().
            for (;;) {
                try {
                    state->io.run();
                    return;
                } catch (...) {
                }
            }
        });
    }

    ~ThreadedReactor() override {
        state_->work.reset();
        state_->io.stop();
        if (!thread_.joinable()) return;
        if (thread_.get_id() == std::this_thread::get_id()) {
            thread_.detach(); // joining ourselves would deadlock; the thread owns `state`
        } else {
            thread_.join();
        }
    }

    std::unique_ptr<Strand> make_strand() override { return std::make_unique<AsioStrand>(state_->io); }
    bool running_in_this_thread() const override { return state_->io.get_executor().running_in_this_thread(); }
    void* native_io_context() override { return &state_->io; }

private:
    std::shared_ptr<IoState> state_;
    std::thread thread_;
};

class WrappedReactor final : public Reactor {
public:
    explicit WrappedReactor(asio::io_context* io) : io_(io) {}

    std::unique_ptr<Strand> make_strand() override { return std::make_unique<AsioStrand>(*io_); }
    bool running_in_this_thread() const override { return io_->get_executor().running_in_this_thread(); }
    void* native_io_context() override { return io_; }

private:
    asio::io_context* io_;
};

} // namespace

std::shared_ptr<Reactor> Reactor::create_threaded(std::string thread_name) {
    return std::make_shared<ThreadedReactor>(thread_name);
}

std::shared_ptr<Reactor> Reactor::wrap(void* io_context) {
    if (io_context == nullptr) return nullptr;
    return std::make_shared<WrappedReactor>(static_cast<asio::io_context*>(io_context));
}

} // namespace tether::transport
