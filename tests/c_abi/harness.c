#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int h_failures = 0;
int h_checks = 0;

int64_t h_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Reads one line from fd with a deadline. */
static int read_line(int fd, char *buf, size_t size, int timeout_ms) {
    size_t n = 0;
    const int64_t deadline = h_now_ms() + timeout_ms;
    while (n + 1 < size) {
        char c;
        ssize_t r;
        fd_set set;
        struct timeval tv;
        int64_t left = deadline - h_now_ms();
        if (left <= 0) return -1;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
        if (select(fd + 1, &set, NULL, NULL, &tv) <= 0) continue;
        r = read(fd, &c, 1);
        if (r <= 0) return -1;
        if (c == '\n') break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return 0;
}

int h_server_start(h_server *server, const char *path, int port, const char *const *extra_args) {
    int fds[2];
    char port_text[16];
    const char *argv[32];
    int argc = 0;
    char line[256];
    const char *colon;
    int attempt;

    memset(server, 0, sizeof *server);
    snprintf(port_text, sizeof port_text, "%d", port);
    argv[argc++] = path;
    argv[argc++] = "--port";
    argv[argc++] = port_text;
    while (extra_args != NULL && *extra_args != NULL && argc < 30) argv[argc++] = *extra_args++;
    argv[argc] = NULL;

    /* Restarting on a fixed port can race the old socket's release. */
    for (attempt = 0; attempt < 50; ++attempt) {
        pid_t pid;
        int status;
        if (pipe(fds) != 0) return -1;
        pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* the server dies with the test, even if it crashes */
            dup2(fds[1], STDOUT_FILENO);
            close(fds[0]);
            close(fds[1]);
            execv(path, (char *const *)argv);
            _exit(127);
        }
        close(fds[1]);
        if (read_line(fds[0], line, sizeof line, 10000) == 0 && strncmp(line, "listening on ", 13) == 0) {
            close(fds[0]); /* the server writes nothing else to stdout unless asked */
            colon = strrchr(line, ':');
            server->pid = pid;
            server->port = colon ? atoi(colon + 1) : 0;
            snprintf(server->url, sizeof server->url, "ws://127.0.0.1:%d/ws", server->port);
            return server->port > 0 ? 0 : -1;
        }
        close(fds[0]);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (port == 0) return -1;
        h_sleep_ms(100);
    }
    return -1;
}

void h_server_stop(h_server *server) {
    int status;
    int64_t deadline;
    if (server->pid <= 0) return;
    kill(server->pid, SIGTERM);
    deadline = h_now_ms() + 10000;
    while (waitpid(server->pid, &status, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            kill(server->pid, SIGKILL);
            waitpid(server->pid, &status, 0);
            break;
        }
        h_sleep_ms(10);
    }
    server->pid = 0;
}

int h_poll_for(tether_client *client, int type, tether_event *event, int timeout_ms, int *skipped) {
    const int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - h_now_ms();
        int rc;
        if (left < 0) left = 0;
        rc = tether_client_poll_event(client, event, (int)left);
        if (rc != TETHER_OK) return rc;
        if (event->type == type) return TETHER_OK;
        if (skipped) ++*skipped;
        tether_event_free(event);
        if (left == 0) return TETHER_E_TIMEOUT;
    }
}
