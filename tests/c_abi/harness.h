/* A small C test harness: checks that count failures, deadlines, and a
 * chat-server child process on 127.0.0.1 (port 0). POSIX, C99. */
#ifndef TETHER_C_ABI_HARNESS_H
#define TETHER_C_ABI_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "tether/tether.h"

extern int h_failures;
extern int h_checks;

#define CHECK(cond)                                                                                                  \
    do {                                                                                                             \
        ++h_checks;                                                                                                  \
        if (!(cond)) {                                                                                               \
            ++h_failures;                                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                \
        }                                                                                                            \
    } while (0)

/* Checks a return code and prints both codes and the last error on mismatch. */
#define CHECK_RC(client, expr, expected)                                                                             \
    do {                                                                                                             \
        int h_rc_ = (expr);                                                                                          \
        ++h_checks;                                                                                                  \
        if (h_rc_ != (expected)) {                                                                                   \
            ++h_failures;                                                                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s); last error: %s\n", __FILE__, __LINE__,  \
                    #expr, h_rc_, tether_error_name(h_rc_), (int)(expected), tether_error_name(expected),            \
                    tether_client_last_error(client));                                                               \
        }                                                                                                            \
    } while (0)

/* Aborts the current test function on failure. */
#define REQUIRE(cond)                                                                                                \
    do {                                                                                                             \
        ++h_checks;                                                                                                  \
        if (!(cond)) {                                                                                               \
            ++h_failures;                                                                                            \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);                              \
            return;                                                                                                  \
        }                                                                                                            \
    } while (0)

/* Milliseconds on the monotonic clock. */
int64_t h_now_ms(void);
void h_sleep_ms(int ms);

typedef struct h_server {
    pid_t pid;
    int port;
    char url[128];
} h_server;

/* Starts `path` with "--port <port>" (0: ephemeral) and extra args (NULL-
 * terminated), and reads "listening on 127.0.0.1:<port>". 0 on success. */
int h_server_start(h_server *server, const char *path, int port, const char *const *extra_args);
/* SIGTERM, then SIGKILL after a deadline; reaps the child. */
void h_server_stop(h_server *server);

/* Polls until an event of `type` arrives (other events are freed and
 * counted in *skipped if non-NULL) or the deadline passes. Returns the poll
 * code; on TETHER_OK *event holds the match. */
int h_poll_for(tether_client *client, int type, tether_event *event, int timeout_ms, int *skipped);

#endif
