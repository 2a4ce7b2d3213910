// The C ABI over tether::Client: the entry points of tether.h.
//
// Each body checks its arguments, calls the C++ client, and turns the outcome
// into a TETHER_* code; every one catches everything (guarded) and returns a
// code. The jobs behind them live beside this file: errors (the code table),
// event_router (event records, the poll queue, callback rules, the state
// mirror), handle (the handle and last-error helpers) and convert (options,
// stats and the enums between C and C++).
#include "tether/tether.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "convert.hpp"
#include "errors.hpp"
#include "event_router.hpp"
#include "handle.hpp"
#include "tether/client.hpp"
#include "tether/utf8.hpp"
#include "tether/version.hpp"

static_assert(TETHER_VERSION_NUM == TETHER_VERSION_MAJOR * 10000 + TETHER_VERSION_MINOR * 100 + TETHER_VERSION_PATCH);

using tether::errc;
using tether::c_abi::EventRecord;
using tether::c_abi::EventRouter;
using tether::c_abi::fail;
using tether::c_abi::guarded;
using tether::c_abi::in_callback;
using tether::c_abi::is_terminal_state;
using tether::c_abi::result;

extern "C" {

TETHER_API int tether_version_number(void) { return tether::version_number(); }
TETHER_API const char* tether_version_string(void) { return tether::version_string(); }

TETHER_API const char* tether_strerror(int code) { return tether::c_abi::error_message(code); }

TETHER_API const char* tether_error_name(int code) { return tether::c_abi::error_name(code); }

TETHER_API int tether_error_is_local(int code) { return tether::c_abi::is_local_error(code) ? 1 : 0; }

TETHER_API const char* tether_state_name(int state) {
    if (state < 0 || state >= tether::kStateCount) return "unknown";
    return tether::to_string(static_cast<tether::State>(state));
}

TETHER_API void tether_event_free(tether_event* event) {
    if (event == nullptr) return;
    delete static_cast<EventRecord*>(event->internal_);
    const size_t size = event->struct_size;
    const size_t n = std::min(size, sizeof(tether_event));
    if (n > 0) std::memset(static_cast<void*>(event), 0, n);
    event->struct_size = size;
}

TETHER_API int tether_token_request_set(tether_token_request* request, const char* token, size_t token_len) {
    return guarded(nullptr, [&]() -> int {
        if (request == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "request is NULL");
        if (request->magic != tether_token_request::kMagic)
            return fail(nullptr, TETHER_E_INVALID_ARGUMENT,
                        "not a live token request (it is valid only until the token callback returns)");
        if (token == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "token is NULL");
        std::string value(token, token_len);
        if (!tether::is_valid_utf8(value)) return fail(nullptr, TETHER_E_INVALID_UTF8, "token is not valid UTF-8");
        request->token = std::move(value);
        return TETHER_OK;
    });
}

TETHER_API int tether_client_create(const tether_client_options* options, tether_client** out) {
    return guarded(nullptr, [&]() -> int {
        if (out != nullptr) *out = nullptr;
        if (options == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "options is NULL");
        if (out == nullptr) return fail(nullptr, TETHER_E_INVALID_ARGUMENT, "out is NULL");
        const size_t size = options->struct_size;
        if (size != sizeof(tether_client_options) && size != TETHER_CLIENT_OPTIONS_SIZE_V1 &&
            size != TETHER_CLIENT_OPTIONS_SIZE_V2 && size != TETHER_CLIENT_OPTIONS_SIZE_V3)
            return fail(nullptr, TETHER_E_INVALID_ARGUMENT,
                        "options struct_size is " + std::to_string(size) + ", expected " +
                            std::to_string(sizeof(tether_client_options)) + " or a layout-1/2/3 size " +
                            std::to_string(TETHER_CLIENT_OPTIONS_SIZE_V1) + "/" +
                            std::to_string(TETHER_CLIENT_OPTIONS_SIZE_V2) + "/" +
                            std::to_string(TETHER_CLIENT_OPTIONS_SIZE_V3) + " (use TETHER_CLIENT_OPTIONS_INIT)");
        tether_client_options o{}; // fields the caller's layout lacks stay zero: their defaults
        std::memcpy(static_cast<void*>(&o), options, size);
        auto router = std::make_shared<EventRouter>();
        router->event_cb = o.event_callback;
        router->log_cb = o.log_callback;
        router->token_cb = o.token_callback;
        router->user_data = o.user_data;
        tether::ClientOptions cpp;
        try {
            cpp = tether::c_abi::to_client_options(o, router);
        } catch (const tether::c_abi::OptionError& e) {
            return fail(nullptr, e.code, e.message);
        }
        std::error_code ec;
        std::string detail;
        auto client = tether::Client::create(std::move(cpp), ec, &detail);
        if (!client) return result(nullptr, ec ? ec : tether::make_error_code(errc::invalid_argument), detail);
        auto handle = std::make_unique<tether_client>();
        handle->router = std::move(router);
        handle->client = std::move(client);
        *out = handle.release();
        return TETHER_OK;
    });
}

TETHER_API int tether_client_destroy(tether_client* client) {
    if (client == nullptr) return TETHER_OK;
    TETHER_CHECK_CLIENT(client);
    if (in_callback())
        return fail(client, TETHER_E_IN_CALLBACK, "tether_client_destroy from inside a tether callback");
    return guarded(client, [&]() -> int {
        EventRouter& router = *client->router;
        {
            std::unique_lock<std::mutex> lock(router.mu);
            router.stopping = true;
            router.cv.wait(lock, [&] { return router.in_flight == 0; });
        }
        client->client.reset(); // aborts; waits for the io thread to let go
        {
            std::lock_guard<std::mutex> lock(router.mu);
            router.queue.clear();
            router.final_queued = true;
            router.cv.notify_all();
        }
        client->magic = 0;
        delete client;
        return TETHER_OK;
    });
}

TETHER_API int tether_client_connect(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->connect()); });
}

TETHER_API int tether_client_send(tether_client* client, const char* json, size_t json_len, const char* message_id,
                                  uint64_t* id_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (id_out != nullptr) *id_out = 0;
        if (json == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "json is NULL");
        const std::string_view mid = message_id == nullptr ? std::string_view() : std::string_view(message_id);
        tether::SendResult r = client->client->send_json(std::string_view(json, json_len), mid);
        if (!r) return result(client, r.error, r.detail);
        if (id_out != nullptr) *id_out = r.id;
        return TETHER_OK;
    });
}

TETHER_API int tether_client_close(tether_client* client, int64_t drain_ms) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] {
        std::optional<tether::Milliseconds> drain;
        if (drain_ms >= 0) drain = tether::Milliseconds(drain_ms);
        return result(client, client->client->close(drain));
    });
}

TETHER_API int tether_client_abort(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->abort()); });
}

TETHER_API int tether_client_reconnect_now(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->reconnect_now()); });
}

TETHER_API int tether_client_network_changed(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->network_changed()); });
}

TETHER_API int tether_client_simulate_network_drop(tether_client* client) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&] { return result(client, client->client->simulate_network_drop()); });
}

TETHER_API int tether_client_state(tether_client* client, int* state_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (state_out == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "state_out is NULL");
        *state_out = static_cast<int>(client->client->state());
        return TETHER_OK;
    });
}

TETHER_API int tether_client_stats(tether_client* client, tether_stats* stats) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (stats == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "stats is NULL");
        const size_t size = stats->struct_size;
        if (size < TETHER_STATS_SIZE_V1)
            return fail(client, TETHER_E_INVALID_ARGUMENT, "stats struct_size is too small (use TETHER_STATS_INIT)");
        // An older caller's struct gets the counters it has room for.
        const tether_stats all = tether::c_abi::to_c(client->client->stats());
        std::memcpy(static_cast<void*>(stats), &all, std::min(size, sizeof all));
        stats->struct_size = size;
        return TETHER_OK;
    });
}

TETHER_API int tether_client_recovered(tether_client* client, uint64_t* messages_out, uint64_t* queued_total_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        const tether::Recovered& r = client->client->recovered();
        if (messages_out != nullptr) *messages_out = r.messages;
        if (queued_total_out != nullptr) *queued_total_out = r.queued_total;
        return TETHER_OK;
    });
}

TETHER_API int tether_client_session_id(tether_client* client, char* buf, size_t buf_size, size_t* len_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (buf == nullptr && buf_size > 0) return fail(client, TETHER_E_INVALID_ARGUMENT, "buf is NULL");
        const std::string id = client->client->session_id();
        if (len_out != nullptr) *len_out = id.size();
        if (buf_size > 0) {
            const size_t n = std::min(id.size(), buf_size - 1);
            std::memcpy(buf, id.data(), n);
            buf[n] = '\0';
        }
        return TETHER_OK;
    });
}

TETHER_API const char* tether_client_last_error(tether_client* client) { return tether::c_abi::last_error(client); }

TETHER_API int tether_client_poll_event(tether_client* client, tether_event* event, int timeout_ms) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (event == nullptr) return fail(client, TETHER_E_INVALID_ARGUMENT, "event is NULL");
        if (event->struct_size < sizeof(tether_event))
            return fail(client, TETHER_E_INVALID_ARGUMENT, "event struct_size is too small (use TETHER_EVENT_INIT)");
        if (in_callback())
            return fail(client, TETHER_E_IN_CALLBACK, "tether_client_poll_event from inside a tether callback");
        EventRouter& router = *client->router;
        if (router.event_cb != nullptr)
            return fail(client, TETHER_E_INVALID_STATE, "events go to event_callback; there is no queue to poll");
        std::unique_ptr<EventRecord> rec;
        {
            std::unique_lock<std::mutex> lock(router.mu);
            auto ready = [&] { return !router.queue.empty() || router.final_queued; };
            if (timeout_ms < 0) {
                router.cv.wait(lock, ready);
            } else if (timeout_ms > 0) {
                router.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready);
            }
            if (router.queue.empty()) {
                if (!router.final_queued) return TETHER_E_TIMEOUT;
                lock.unlock();
                return fail(client, TETHER_E_CLOSED, "the client is closed and every event has been taken");
            }
            rec = std::move(router.queue.front());
            router.queue.pop_front();
        }
        tether_event out = rec->ev;
        out.internal_ = rec.release();
        tether::c_abi::copy_out(event, out);
        return TETHER_OK;
    });
}

TETHER_API int tether_client_wait_state(tether_client* client, unsigned state_mask, int timeout_ms, int* state_out) {
    TETHER_CHECK_CLIENT(client);
    return guarded(client, [&]() -> int {
        if (state_mask == 0 || (state_mask >> tether::kStateCount) != 0)
            return fail(client, TETHER_E_INVALID_ARGUMENT, "state_mask must be a non-empty set of TETHER_STATE_BIT");
        if (in_callback())
            return fail(client, TETHER_E_IN_CALLBACK, "tether_client_wait_state from inside a tether callback");
        EventRouter& router = *client->router;
        std::unique_lock<std::mutex> lock(router.mu);
        const auto start = router.entered;
        auto in_mask = [&](int s) { return (state_mask & (1u << static_cast<unsigned>(s))) != 0; };
        int reached = -1;
        auto done = [&] {
            if (in_mask(router.state)) {
                reached = router.state;
                return true;
            }
            for (int s = 0; s < tether::kStateCount; ++s) {
                if (in_mask(s) && router.entered[static_cast<std::size_t>(s)] != start[static_cast<std::size_t>(s)]) {
                    reached = s;
                    return true;
                }
            }
            return is_terminal_state(router.state);
        };
        if (timeout_ms < 0) {
            router.cv.wait(lock, done);
        } else {
            router.cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), done);
        }
        if (state_out != nullptr) *state_out = reached >= 0 ? reached : router.state;
        if (reached >= 0) return TETHER_OK;
        if (is_terminal_state(router.state)) {
            const int reason = router.terminal_reason != TETHER_OK ? router.terminal_reason : TETHER_E_CLOSED;
            const std::string why = std::string("the client is ") + tether_state_name(router.state);
            lock.unlock();
            return fail(client, reason, why);
        }
        return TETHER_E_TIMEOUT;
    });
}

} // extern "C"
