/* A C program built against an installed tether (pkg-config or plain
 * -ltether): connects to the URL in argv[1] (chat-server --echo), sends one
 * message and exits 0 once it is both acknowledged and echoed back. */
#include <stdio.h>
#include <string.h>
#include <tether/tether.h>

int main(int argc, char **argv) {
    tether_client_options o = TETHER_CLIENT_OPTIONS_INIT;
    tether_client *c = NULL;
    tether_event ev = TETHER_EVENT_INIT;
    const char *json = "{\"text\":\"hello from C\"}";
    uint64_t id = 0;
    int acked = 0, echoed = 0, polls = 0, rc;
    if (argc != 2) {
        fprintf(stderr, "usage: %s ws://127.0.0.1:PORT/ws\n", argv[0]);
        return 2;
    }
    if (tether_version_number() != TETHER_VERSION_NUM) {
        fprintf(stderr, "header %d, library %d\n", TETHER_VERSION_NUM, tether_version_number());
        return 1;
    }
    o.url = argv[1];
    if (tether_client_create(&o, &c) != TETHER_OK) {
        fprintf(stderr, "create: %s\n", tether_client_last_error(NULL));
        return 1;
    }
    tether_client_connect(c);
    if (tether_client_send(c, json, strlen(json), NULL, &id) != TETHER_OK) {
        fprintf(stderr, "send: %s\n", tether_client_last_error(c));
        return 1;
    }
    /* At most 20 s: 200 polls of 100 ms. */
    while (!(acked && echoed) && polls++ < 200) {
        rc = tether_client_poll_event(c, &ev, 100);
        if (rc == TETHER_E_TIMEOUT) continue;
        if (rc != TETHER_OK) break;
        if (ev.type == TETHER_EVENT_ACKED && ev.id == id) acked = 1;
        if (ev.type == TETHER_EVENT_MESSAGE && strstr(ev.data, "hello from C") != NULL) echoed = 1;
        tether_event_free(&ev);
    }
    tether_client_close(c, 5000);
    tether_client_destroy(c);
    printf("tether %s: acked=%d echoed=%d\n", tether_version_string(), acked, echoed);
    return acked && echoed ? 0 : 1;
}
