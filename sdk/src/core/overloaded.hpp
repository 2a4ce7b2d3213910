// Moved to the public protocol headers (tether::protocol); kept so core includes stay short.
#pragma once

#include "tether/protocol/overloaded.hpp"
