#!/usr/bin/env python3
"""The interactive tether-chat under tmux: type a message, see it acked (✓)
on the screen, /drop the connection, see the status line come back to ready
with the reconnect and resume counted, type again, /quit. Label: integration.
Exits 77 (skipped) when tmux is not installed.

usage: chat_tmux_test.py --chat BIN --server BIN
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_test_support import TestFailure, check, eventually, port_of, read_first_line  # noqa: E402


class Tmux:
    def __init__(self, tmux):
        self.tmux = tmux
        self.socket = f"tether-chat-test-{os.getpid()}"

    def run(self, *args, check_rc=True):
        p = subprocess.run([self.tmux, "-L", self.socket, "-f", "/dev/null", *args], capture_output=True,
                           text=True, timeout=10)
        if check_rc and p.returncode != 0:
            raise TestFailure(f"tmux {' '.join(args)}: {p.stderr.strip()}")
        return p

    def screen(self):
        p = self.run("capture-pane", "-p", "-t", "chat", check_rc=False)
        return p.stdout if p.returncode == 0 else ""

    def type(self, text):
        self.run("send-keys", "-t", "chat", "-l", text)
        self.run("send-keys", "-t", "chat", "Enter")

    def alive(self):
        return self.run("has-session", "-t", "chat", check_rc=False).returncode == 0

    def kill_server(self):
        self.run("kill-server", check_rc=False)


def status_rows(screen):
    """The status line(s): the row starting with the state bullet and, when it
    wraps onto two rows, the counters row under it."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(" \u25cf "):
            return "\n".join(lines[i:i + 2])
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chat", required=True)
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    tmux_bin = shutil.which("tmux")
    if not tmux_bin:
        print("SKIP: tmux is not installed (bash .ci/install-deps.sh installs it)")
        return 77

    work = tempfile.mkdtemp(prefix="tether-chat-tmux-")
    server = subprocess.Popen([args.server, "--port", "0", "--heartbeat-ms", "1000"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    tmux = Tmux(tmux_bin)
    screen = ""
    ok = False
    try:
        port = port_of(read_first_line(server, 10, "chat-server"))
        rc_file = os.path.join(work, "rc")
        transcript = os.path.join(work, "tess.jsonl")
        cmd = (f"{args.chat} --url ws://127.0.0.1:{port}/ws --room qa --nick tess --transcript {transcript} "
               f"--backoff-base-ms 50 --backoff-max-ms 500; echo $? > {rc_file}")
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        p = subprocess.run([tmux_bin, "-L", tmux.socket, "-f", "/dev/null", "-u", "new-session", "-d", "-s", "chat",
                            "-x", "120", "-y", "30", "sh", "-c", cmd], env=env, capture_output=True, text=True,
                           timeout=10)
        check(p.returncode == 0, f"tmux new-session: {p.stderr}")

        def on_screen(pred, what, timeout=15):
            nonlocal screen

            def probe():
                nonlocal screen
                screen = tmux.screen()
                return pred(screen)
            return eventually(probe, timeout, what, interval=0.1)

        on_screen(lambda s: "\u25cf ready" in status_rows(s), "the status line to say ready")
        on_screen(lambda s: "reconnects 0" in status_rows(s) and "pending 0" in status_rows(s),
                  "the counters on the status line")

        tmux.type("hello from tmux")
        on_screen(lambda s: any("tess: hello from tmux" in line and "\u2713" in line for line in s.splitlines()),
                  "the message to show \u2713 (acked)")

        tmux.type("/drop")
        on_screen(lambda s: "/drop: transport cut" in s, "the /drop confirmation")
        on_screen(lambda s: "\u25cf ready" in status_rows(s) and "reconnects 1" in status_rows(s)
                  and "resumes 1" in status_rows(s),
                  "the status line to come back to ready with 1 reconnect and 1 resume")
        on_screen(lambda s: "session resumed" in s, "the resume notice")

        tmux.type("after the drop")
        on_screen(lambda s: any("tess: after the drop" in line and "\u2713" in line for line in s.splitlines()),
                  "the second message to show \u2713")
        check(sum("hello from tmux" in line for line in screen.splitlines()) == 1,
              "the first message must be shown once")

        tmux.type("/quit")
        eventually(lambda: os.path.exists(rc_file) and open(rc_file).read().strip() != "", 15,
                   "tether-chat to exit after /quit")
        rc = open(rc_file).read().strip()
        check(rc == "0", f"exit code {rc}, want 0")
        ok = True
        print("PASS chat_tmux_test")
        return 0
    except TestFailure as e:
        print(f"FAIL: {e}\n--- last screen:\n{screen}")
        return 1
    finally:
        tmux.kill_server()
        server.kill()
        server.wait()
        if server.stdout:
            server.stdout.close()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"(files kept in {work})")


if __name__ == "__main__":
    sys.exit(main())
