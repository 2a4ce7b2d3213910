// tether.h must compile as C++ under the project's C++ warnings, and its
// initializers must work there too.
#include "tether/tether.h"

#include <cstdio>

int main() {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_event e = TETHER_EVENT_INIT;
    tether_stats s = TETHER_STATS_INIT;
    const bool ok = o.struct_size == sizeof o && o.url == nullptr && e.struct_size == sizeof e &&
                    s.struct_size == sizeof s && tether_version_number() == TETHER_VERSION_NUM;
    tether_client* c = nullptr;
    o.url = "ws://127.0.0.1:9/ws";
    const bool created = tether_client_create(&o, &c) == TETHER_OK && tether_client_destroy(c) == TETHER_OK;
    std::printf("%s\n", ok && created ? "ok" : "FAILED");
    return ok && created ? 0 : 1;
}
