"""Fixtures: a real chat-server on 127.0.0.1 (port 0), from $CHAT_SERVER."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

# The package from this source tree, or with TETHER_TEST_INSTALLED=1 the
# installed one (tests/packaging/check_wheel.sh: the wheel in a venv, run from
# a directory where the source package is not importable).
_SOURCE = Path(__file__).resolve().parents[1]
if os.environ.get("TETHER_TEST_INSTALLED"):
    import tether

    if Path(tether.__file__).resolve().is_relative_to(_SOURCE):
        raise RuntimeError("TETHER_TEST_INSTALLED: tether was imported from the source tree")
else:
    sys.path.insert(0, str(_SOURCE))


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
                raise RuntimeError("chat-server did not start: %r" % line)
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


@pytest.fixture(scope="session")
def server_path() -> str:
    path = os.environ.get("CHAT_SERVER")
    if not path:
        pytest.skip("CHAT_SERVER is not set")
    return path


@pytest.fixture
def make_server(server_path: str) -> Iterator:
    servers: List[ChatServer] = []

    def make(*args: str) -> ChatServer:
        s = ChatServer(server_path, list(args)).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def echo_server(make_server) -> ChatServer:
    return make_server("--echo")
