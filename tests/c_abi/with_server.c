/* with_server <chat-server> [server args...] -- <command> [args...]
 * Starts chat-server on 127.0.0.1 (port 0), runs the command with every
 * "{url}" argument replaced by the server's ws:// URL, stops the server, and
 * exits with the command's status (the samples' smoke tests). */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

int main(int argc, char **argv) {
    const char *server_args[32];
    char *cmd[64];
    int i, n = 0, sep = -1, status = 0;
    pid_t pid;
    int64_t deadline;
    h_server server;

    for (i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "--") == 0) {
            sep = i;
            break;
        }
        if (n < 31) server_args[n++] = argv[i];
    }
    server_args[n] = NULL;
    if (argc < 2 || sep < 0 || sep + 1 >= argc || argc - sep > 63) {
        fprintf(stderr, "usage: with_server <chat-server> [args] -- <command> [args]\n");
        return 2;
    }
    if (h_server_start(&server, argv[1], 0, server_args) != 0) {
        fprintf(stderr, "with_server: chat-server did not start\n");
        return 1;
    }
    for (i = sep + 1, n = 0; i < argc; ++i) cmd[n++] = strcmp(argv[i], "{url}") == 0 ? server.url : argv[i];
    cmd[n] = NULL;

    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the command dies with us, even if we crash */
        execvp(cmd[0], cmd);
        perror("with_server: exec");
        _exit(127);
    }
    deadline = h_now_ms() + 60000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            fprintf(stderr, "with_server: %s timed out\n", cmd[0]);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            h_server_stop(&server);
            return 1;
        }
        h_sleep_ms(20);
    }
    h_server_stop(&server);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
