/// @file
/// Optional: run clients on an asio::io_context the application owns, so many
/// clients share its (single) io thread. Including this header pulls in standalone Asio.
///
/// Thread safety: as EventLoop.
#pragma once

#include <asio/io_context.hpp>

#include "tether/client.hpp"

namespace tether {

/// `io` must outlive every client using the returned loop, must be run by
/// exactly one thread (websocketpp 0.8.2 is only safe that way), and must be
/// running whenever a client is destroyed.
/// @param io the application's io_context
/// @return the loop, to put in ClientOptions::loop
inline std::shared_ptr<EventLoop> wrap_io_context(asio::io_context& io) { return EventLoop::wrap_native(&io); }

} // namespace tether
