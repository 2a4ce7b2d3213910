// Conversions between the C ABI's structs and enums and the C++ SDK's:
// tether_client_options -> tether::ClientOptions (validated field by field,
// with the SDK default for every zero), tether::Stats -> tether_stats. The
// enum orders and the stats layout are tied together by static_asserts.
#pragma once

#include <memory>
#include <string>

#include "event_router.hpp"
#include "tether/client.hpp"
#include "tether/tether.h"

namespace tether::c_abi {

// Why options were refused: a TETHER_E_* code and a message.
struct OptionError {
    int code;
    std::string message;
};

// Throws OptionError. The client's callbacks (and the token and log hooks the
// options ask for) go to `router`.
ClientOptions to_client_options(const tether_client_options& o, const std::shared_ptr<EventRouter>& router);

tether_stats to_c(const Stats& s);

} // namespace tether::c_abi
