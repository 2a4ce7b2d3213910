#include <stdio.h>
#include <tether/tether.h>

int main(void) {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_client *c = NULL;
    int rc;
    o.url = "ws://127.0.0.1:9/ws";
    rc = tether_client_create(&o, &c);
    if (rc != TETHER_OK || tether_version_number() != TETHER_VERSION_NUM) return 1;
    printf("tether %s\n", tether_version_string());
    return tether_client_destroy(c);
}
