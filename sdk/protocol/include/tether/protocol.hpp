// tether::protocol: the tether.v1 wire codec, for servers and test peers.
//
// What the SDK's own session core uses to speak tether.v1 (docs/protocol.md),
// published for the other end of the wire: the frame structs (frames.hpp),
// the decoders and encoders (codec.hpp: decoding never throws and never
// trusts its input), Result<T> (result.hpp) and the clock types (time.hpp).
// The reference chat-server is built on it. Link tether::protocol; it brings
// no Session, no websocketpp, Asio or OpenSSL, and no part of the client.
//
// The definitions live in the core's namespace (tether::core), so both ends
// of the wire share one codec; tether::protocol names that namespace.
//
// Thread safety: the structs are plain values; the functions are pure.
#pragma once

#include "tether/protocol/codec.hpp"
#include "tether/protocol/frames.hpp"
#include "tether/protocol/result.hpp"
#include "tether/protocol/time.hpp"

namespace tether {
namespace protocol = core;
} // namespace tether
