// Moved to the public protocol headers (tether::protocol, see
// sdk/protocol/include/tether/protocol.hpp); kept so core includes stay short.
#pragma once

#include "tether/protocol/frames.hpp"
