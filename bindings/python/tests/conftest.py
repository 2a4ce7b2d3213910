"""Fixtures: a real tether.v1 server on 127.0.0.1 (port 0): $TETHER_TEST_SERVER
(e.g. tether-gin-server) if set, else $CHAT_SERVER (the reference chat-server).

A test that starts the server with an option the server does not list in its
--help output (chat-server's --expired-tokens, say) is skipped with the reason.
With TETHER_SERVER_TESTS_ONLY=1 only the tests that use a server are collected
(the copy of this suite that runs against another server)."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

# Import the package from this source tree unless it is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class ChatServer:
    def __init__(self, path: str, args: List[str]) -> None:
        self.path = path
        self.args = args
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return "ws://127.0.0.1:%d/ws" % self.port

    def start(self) -> "ChatServer":
        # A restart reuses the port; retry while the old socket lets go.
        deadline = time.monotonic() + 10
        while True:
            self.proc = subprocess.Popen(
                [self.path, "--port", str(self.port)] + self.args, stdout=subprocess.PIPE, text=True
            )
            line = self.proc.stdout.readline() if self.proc.stdout else ""
            if line.startswith("listening on "):
                self.port = int(line.rsplit(":", 1)[1])
                return self
            self.proc.kill()
            self.proc.wait()
            if self.port == 0 or time.monotonic() > deadline:
                raise RuntimeError("%s did not start: %r" % (self.path, line))
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()  # SIGTERM: close 1001, exit
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


@functools.lru_cache(maxsize=None)
def server_has_option(path: str, flag: str) -> bool:
    """Whether `path --help` lists `flag` (chat-server's usage, or Go's "-name")."""
    try:
        out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    name = re.escape(flag.lstrip("-"))
    return re.search(r"(^|[\s-])-%s(?![\w-])" % name, out.stdout + out.stderr, re.M) is not None


def pytest_collection_modifyitems(config, items) -> None:
    if os.environ.get("TETHER_SERVER_TESTS_ONLY") != "1":
        return
    keep = [i for i in items if "server_path" in getattr(i, "fixturenames", ())]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


@pytest.fixture(scope="session")
def server_path() -> str:
    path = os.environ.get("TETHER_TEST_SERVER") or os.environ.get("CHAT_SERVER")
    if not path:
        pytest.skip("neither TETHER_TEST_SERVER nor CHAT_SERVER is set")
    return path


@pytest.fixture
def make_server(server_path: str) -> Iterator:
    servers: List[ChatServer] = []

    def make(*args: str) -> ChatServer:
        for flag in (a for a in args if a.startswith("--")):
            if not server_has_option(server_path, flag):
                pytest.skip("%s has no %s option" % (os.path.basename(server_path), flag))
        s = ChatServer(server_path, list(args)).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def echo_server(make_server) -> ChatServer:
    return make_server("--echo")
