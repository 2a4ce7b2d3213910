"""The Python binding against a real chat-server over 127.0.0.1.

Every wait is bounded; nothing sleeps to let things settle."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import tether
from tether import _native

FAST = dict(backoff_base=0.02, backoff_max=0.2)


def collect(client: tether.Client, want, timeout: float = 10.0) -> List[tether.Event]:
    """Events until want(events) is true; fails at the deadline."""
    events: List[tether.Event] = []
    deadline = time.monotonic() + timeout
    while not want(events):
        left = deadline - time.monotonic()
        assert left > 0, "timed out; got %r" % events
        ev = client.next_event(timeout=left)
        if ev is not None:
            events.append(ev)
    return events


def messages(events) -> List[tether.Message]:
    return [e for e in events if isinstance(e, tether.Message)]


# ---- the library and the ABI ---------------------------------------------------------


def test_library_version_and_struct_sizes() -> None:
    assert tether.version() == tether.__version__
    assert tether.version_number() == 200
    # The C layout on LP64 (tests/c_abi/c_abi_layout_test.c asserts the same).
    assert ctypes.sizeof(_native.ClientOptions) == 328
    assert ctypes.sizeof(_native.Event) == 120
    assert ctypes.sizeof(_native.Stats) == 200
    assert _native.Event.internal_.offset == 112
    assert _native.ClientOptions.user_data.offset == 280
    assert _native.ClientOptions.token_callback.offset == 288
    assert _native.ClientOptions.report_sent.offset == 296
    assert _native.ClientOptions.persistence_path.offset == 304


def test_every_code_has_an_exception_class() -> None:
    lib = _native.lib()
    for code, cls in tether.errors.BY_CODE.items():
        assert lib.tether_error_name(code).decode() == cls.name
        err = tether.error_for(code, "why")
        assert type(err) is cls and err.code == code and "why" in str(err)
    assert issubclass(tether.Unauthorized, tether.AuthError)
    assert issubclass(tether.InvalidJSON, ValueError)
    assert issubclass(tether.TetherTimeout, TimeoutError)
    assert type(tether.error_for(-999)) is tether.TetherError


def test_library_found_by_env_beside_package_and_missing(tmp_path: Path) -> None:
    pkg = Path(tether.__file__).parent
    lib_path = os.environ.get("TETHER_LIBRARY") or str(pkg / "libtether.so.0")  # or the wheel's
    code = "import tether; print(tether.version())"
    env = {k: v for k, v in os.environ.items() if k not in ("TETHER_LIBRARY", "LD_LIBRARY_PATH")}
    # Beside the package.
    shutil.copytree(pkg, tmp_path / "tether", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(lib_path, tmp_path / "tether" / "libtether.so.0")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == tether.__version__
    # $TETHER_LIBRARY wins, and a wrong one is an error that names it.
    env["TETHER_LIBRARY"] = str(tmp_path / "nope.so")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "nope.so" in out.stderr and "TETHER_LIBRARY" in out.stderr


# ---- arguments -------------------------------------------------------------------------


def test_bad_arguments_raise() -> None:
    with pytest.raises(tether.InvalidArgument):
        tether.Client("http://127.0.0.1:9/ws")
    with pytest.raises(tether.InvalidUTF8):
        tether.Client("ws://127.0.0.1:9/ws", token="\ud800")
    with pytest.raises(tether.InvalidArgument):
        tether.Client("ws://127.0.0.1:9/ws", backoff_base=-1)
    with pytest.raises(tether.InvalidArgument):
        tether.Client("ws://127.0.0.1:9/ws", session_lost_policy="maybe")
    with pytest.raises(tether.InvalidArgument, match="probe_timeout"):
        tether.Client("ws://127.0.0.1:9/ws", probe_timeout=-1)
    with pytest.raises(tether.InvalidArgument, match="commit_interval"):
        tether.Client("ws://127.0.0.1:9/ws", commit_interval=-0.5)
    # 0 is a real commit interval (one commit per io-loop turn), not "unset".
    tether.Client("ws://127.0.0.1:9/ws", commit_interval=0, probe_timeout=0.5).destroy()
    with pytest.raises(tether.InvalidArgument):
        tether.Client("ws://127.0.0.1:9/ws", headers={"no\r\nsplit": "x"})
    client = tether.Client("ws://127.0.0.1:9/ws", outbox_max_messages=1)
    try:
        with pytest.raises(tether.InvalidJSON):
            client.send({"x": object()})
        with pytest.raises(tether.InvalidJSON):
            client.send(float("nan"))
        with pytest.raises(tether.InvalidJSON):
            client.send_json("{nope")
        with pytest.raises(tether.InvalidUTF8):
            client.send_json(b'"\xff"')
        with pytest.raises(tether.InvalidUTF8):
            client.send({"t": "\udc80"})
        assert client.send([1, "two"]) > 0
        with pytest.raises(tether.OutboxFull):
            client.send(3)
        assert "outbox" in client.last_error
        with pytest.raises(tether.InvalidState):
            client.reconnect_now()
        assert client.state == tether.State.IDLE
        assert client.next_event(timeout=0.05) is None
        with pytest.raises(tether.TetherTimeout):
            client.wait_ready(timeout=0.05)
    finally:
        client.destroy()
    with pytest.raises(tether.Closed):
        client.send(1)
    with pytest.raises(tether.Closed):
        _ = client.state
    client.destroy()  # idempotent


# ---- round trips -------------------------------------------------------------------------


def test_send_and_receive(echo_server) -> None:
    with tether.Client(echo_server.url, headers={"X-Test": "1"}, **FAST) as client:
        client.wait_ready(timeout=10)
        assert client.state == tether.State.READY and client.session_id
        ids = [client.send({"n": i, "text": "caf\u00e9"}, message_id="py-%d" % i) for i in range(10)]
        assert len(set(ids)) == 10 and all(i > 0 for i in ids)
        events = collect(client, lambda evs: len(messages(evs)) == 10 and
                         len([e for e in evs if isinstance(e, tether.Acked)]) == 10)
        got = messages(events)
        assert [m.data["echo"]["n"] for m in got] == list(range(10))
        assert [m.message_id for m in got] == ["py-%d" % i for i in range(10)]
        assert got[0].data["echo"]["text"] == "caf\u00e9"
        assert [m.seq for m in got] == list(range(1, 11))
        assert [e.id for e in events if isinstance(e, tether.Acked)] == ids
        stats = client.stats()
        assert stats["messages_acked"] == 10 and stats["messages_received"] == 10
    with pytest.raises(tether.Closed):
        client.send(1)


def test_events_iterator_ends_when_closed(echo_server) -> None:
    client = tether.Client(echo_server.url, **FAST)
    try:
        client.connect(wait=True, timeout=10)
        client.send("x")
        assert client.close(drain=5, timeout=10) == tether.State.CLOSED
        seen = list(client.events(timeout=5))  # drains, then stops: the stream ended
        states = [e.state for e in seen if isinstance(e, tether.StateChanged)]
        assert states[-1] == tether.State.CLOSED
        assert any(isinstance(e, tether.Message) for e in seen)
        with pytest.raises(tether.Closed):
            client.next_event(timeout=1)
    finally:
        client.destroy()


def test_reconnect_across_server_restart_loses_nothing(make_server) -> None:
    server = make_server("--echo")
    with tether.Client(server.url, **FAST) as client:
        client.wait_ready(timeout=10)
        first = [client.send({"n": i}, message_id="r-%d" % i) for i in range(5)]
        events = collect(client, lambda evs: len(messages(evs)) == 5)

        server.stop()  # close 1001: the client backs off and retries
        events += collect(client, lambda evs: any(isinstance(e, tether.StateChanged) and
                                                  e.state == tether.State.BACKOFF for e in evs))
        # Sent while the server is down: queued, not lost.
        second = [client.send({"n": i}, message_id="r-%d" % i) for i in range(5, 10)]
        assert client.stats()["outbox_depth"] >= 5
        server.start()  # same port, a fresh server: the old session is gone

        more = collect(client, lambda evs: {m.data["echo"]["n"] for m in messages(evs)} >= set(range(5, 10)) and
                       {e.id for e in evs if isinstance(e, tether.Acked)} >= set(second), timeout=20)
        events += more
        assert not [e for e in events if isinstance(e, tether.Failed)]
        echoed = {m.data["echo"]["n"] for m in messages(events)}
        assert echoed == set(range(10))
        acked = {e.id for e in events if isinstance(e, tether.Acked)}
        assert acked >= set(first) | set(second)
        lost = [e for e in more if isinstance(e, tether.SessionLost)]
        assert len(lost) == 1 and lost[0].new_session != lost[0].previous_session
        assert client.state == tether.State.READY


def test_sent_events_precede_acks_and_only_when_asked(echo_server) -> None:
    with tether.Client(echo_server.url, report_sent=True, **FAST) as client:
        client.wait_ready(timeout=10)
        ids = [client.send(i) for i in range(3)]
        events = collect(client, lambda evs: len([e for e in evs if isinstance(e, tether.Acked)]) == 3)
        order = [(type(e).__name__, e.id) for e in events if isinstance(e, (tether.Sent, tether.Acked))]
        for i in ids:
            assert order.index(("Sent", i)) < order.index(("Acked", i))
        assert [i for kind, i in order if kind == "Sent"] == ids
    with tether.Client(echo_server.url, **FAST) as client:
        client.wait_ready(timeout=10)
        client.send(1)
        events = collect(client, lambda evs: any(isinstance(e, tether.Acked) for e in evs))
        assert not [e for e in events if isinstance(e, tether.Sent)]


def test_on_sent_callback(echo_server) -> None:
    sent: List[int] = []
    acked: List[int] = []
    done = threading.Event()

    def on_acked(a: tether.Acked) -> None:
        acked.append(a.id)
        done.set()

    with tether.Client(echo_server.url, on_sent=lambda s: sent.append(s.id), on_acked=on_acked, **FAST) as client:
        client.wait_ready(timeout=10)
        msg = client.send({"x": 1})
        assert done.wait(10)
    assert sent == [msg] and acked == [msg]


def test_network_changed(make_server) -> None:
    server = make_server("--echo")
    client = tether.Client(server.url, backoff_base=60, backoff_max=60)
    try:
        with pytest.raises(tether.InvalidState):
            client.network_changed()  # idle
        client.connect(wait=True, timeout=10)
        # Ready: the connection is probed and, being healthy, kept.
        client.network_changed()
        client.send("still here")
        collect(client, lambda evs: any(isinstance(e, tether.Acked) for e in evs))
        assert client.stats()["connects"] == 1
        # Backoff (up to 60 s): network_changed connects now.
        server.stop()
        collect(client, lambda evs: any(isinstance(e, tether.StateChanged) and
                                        e.state == tether.State.BACKOFF for e in evs))
        server.start()
        client.network_changed()
        client.wait_ready(timeout=10)
        assert client.stats()["suspends_detected"] == 0
    finally:
        client.destroy()
    with pytest.raises(tether.Closed):
        client.network_changed()


def test_token_provider_refreshes_after_token_expired(make_server) -> None:
    server = make_server("--tokens", "good", "--expired-tokens", "old")
    asked: List[bool] = []
    tokens = iter(["old", "good", "good"])

    def provider(refresh: bool) -> Optional[str]:
        asked.append(refresh)
        return next(tokens)

    with tether.Client(server.url, token="not-used", token_provider=provider, **FAST) as client:
        client.wait_ready(timeout=10)
        assert asked == [False, True]  # "old" got token_expired, then a refresh
        client.simulate_network_drop()
        collect(client, lambda evs: any(isinstance(e, tether.Resumed) for e in evs))
        assert asked == [False, True, False]  # asked again before the reconnect


def test_token_provider_without_a_fresh_token_fails(make_server) -> None:
    server = make_server("--tokens", "good", "--expired-tokens", "old")
    calls: List[bool] = []

    def provider(refresh: bool) -> Optional[str]:
        calls.append(refresh)
        if refresh:
            raise RuntimeError("the identity service is down")  # reported, never raised into C
        return "old"

    with pytest.raises(tether.NoToken):
        with tether.Client(server.url, token_provider=provider, **FAST) as client:
            client.wait_ready(timeout=10)
    assert calls == [False, True]
    with pytest.raises(tether.InvalidArgument):
        tether.Client(server.url, token_provider="not callable")  # type: ignore[arg-type]


def test_auth_failure_raises(make_server) -> None:
    server = make_server("--tokens", "good")
    with pytest.raises(tether.Unauthorized) as info:
        with tether.Client(server.url, token="bad", **FAST) as client:
            client.wait_ready(timeout=10)
    assert info.value.code == -300 and isinstance(info.value, tether.AuthError)
    # The iterator raises it too, after the failed state event.
    client = tether.Client(server.url, token="bad", **FAST)
    try:
        client.connect()
        seen = []
        with pytest.raises(tether.Unauthorized):
            for ev in client.events(timeout=10):
                seen.append(ev)
        assert isinstance(seen[-1], tether.StateChanged) and seen[-1].state == tether.State.FAILED
        assert isinstance(seen[-1].reason, tether.Unauthorized)
    finally:
        client.destroy()
    with tether.Client(server.url, token="good", **FAST) as ok:
        ok.wait_ready(timeout=10)


def test_rooms_relay_between_clients(make_server) -> None:
    server = make_server()
    with tether.Client(server.url, **FAST) as a, tether.Client(server.url, **FAST) as b:
        ja, jb = a.send({"room": "lobby"}), b.send({"room": "lobby"})
        collect(a, lambda evs: any(isinstance(e, tether.Acked) and e.id == ja for e in evs))
        collect(b, lambda evs: any(isinstance(e, tether.Acked) and e.id == jb for e in evs))
        a.send({"room": "lobby", "nick": "ann", "text": "hi"}, message_id="hello-1")
        for c in (a, b):
            got = messages(collect(c, lambda evs: len(messages(evs)) == 1))
            assert got[0].data == {"room": "lobby", "nick": "ann", "text": "hi"}
            assert got[0].message_id == "hello-1"


# ---- callbacks, asyncio -------------------------------------------------------------------


def test_callbacks_run_on_a_python_dispatch_thread(echo_server) -> None:
    got: List[tether.Message] = []
    threads = set()
    done = threading.Event()

    def on_message(m: tether.Message) -> None:
        threads.add(threading.current_thread().name)
        got.append(m)
        if len(got) == 3:
            done.set()

    def on_state(s: tether.StateChanged) -> None:
        raise RuntimeError("a callback error is logged, never fatal")

    with tether.Client(echo_server.url, on_message=on_message, on_state=on_state, **FAST) as client:
        with pytest.raises(tether.InvalidState):
            client.next_event(timeout=0)
        for i in range(3):
            client.send(i)
        assert done.wait(10)
    assert [m.data["echo"] for m in got] == [0, 1, 2]
    assert threads == {"tether-dispatch"}


def test_native_callbacks_opt_in(echo_server) -> None:
    seen: Dict[str, object] = {}
    done = threading.Event()
    holder: List[tether.Client] = []

    def on_message(m: tether.Message) -> None:
        seen["thread"] = threading.current_thread().name
        try:
            holder[0].destroy()
        except tether.InCallback as e:
            seen["destroy"] = e
        seen["send"] = holder[0].send("from-callback")  # calling in is fine
        done.set()

    logs: List[str] = []
    client = tether.Client(echo_server.url, on_message=on_message, native_callbacks=True,
                           log=lambda level, msg: logs.append(msg), log_level="debug", **FAST)
    holder.append(client)
    try:
        del on_message
        gc.collect()  # the CFUNCTYPE trampolines must stay alive with the client
        client.connect()
        client.send("hi")
        assert done.wait(10)
        assert isinstance(seen["destroy"], tether.InCallback)
        assert seen["send"] > 0
        assert seen["thread"] != threading.current_thread().name and seen["thread"] != "tether-dispatch"
        with pytest.raises(tether.InvalidState):
            client.next_event(timeout=0)
        assert logs
    finally:
        client.destroy()


def test_asyncio_events(echo_server) -> None:
    async def main() -> List[tether.Message]:
        loop_thread = threading.current_thread()
        async with tether.Client(echo_server.url, **FAST) as client:
            await client.wait_ready_async(timeout=10)
            for i in range(3):
                client.send({"i": i})
            got: List[tether.Message] = []
            async for ev in client.aevents():
                assert threading.current_thread() is loop_thread
                if isinstance(ev, tether.Message):
                    got.append(ev)
                    if len(got) == 3:
                        break
            assert await client.aclose(drain=5) == tether.State.CLOSED
            return got

    got = asyncio.run(asyncio.wait_for(main(), timeout=30))
    assert [m.data["echo"]["i"] for m in got] == [0, 1, 2]


def test_asyncio_failure_raises(make_server) -> None:
    server = make_server("--tokens", "good")

    async def main() -> None:
        client = tether.Client(server.url, token="nope", **FAST)
        try:
            client.connect()
            async for _ in client.aevents():
                pass
        finally:
            client.destroy()

    with pytest.raises(tether.Unauthorized):
        asyncio.run(asyncio.wait_for(main(), timeout=30))


def test_concurrent_use_and_destroy(echo_server) -> None:
    client = tether.Client(echo_server.url, **FAST)
    client.connect(wait=True, timeout=10)
    errors: List[BaseException] = []
    sent = [0] * 4

    def hammer(i: int) -> None:
        try:
            while True:
                try:
                    client.send("x")
                    sent[i] += 1
                except tether.OutboxFull:
                    time.sleep(0)  # backpressure on a fast machine: yield and retry
                _ = client.stats()
        except tether.Closed:
            pass  # destroyed under us: the expected way out
        except BaseException as e:  # anything else is a bug
            errors.append(e)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10  # destroy while they are busy: wait for sends, not for a fixed time
    while sum(sent) < 1000 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert sum(sent) >= 1000, errors
    client.destroy()
    for t in threads:
        t.join(10)
    assert not errors


# ---- persistence --------------------------------------------------------------------


def test_persistence_survives_kill_nine_and_resends_everything(echo_server, tmp_path: Path) -> None:
    """The sample: queue offline, SIGKILL the process, resume in a new one."""
    import subprocess

    script = Path(__file__).resolve().parents[3] / "samples" / "durable_python" / "durable_outbox.py"
    store = str(tmp_path / "py.db")
    common = ["--store", store, "--url", echo_server.url]
    first = subprocess.run([sys.executable, str(script), "queue", "--count", "150"] + common,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == -9, first.stdout + first.stderr  # it killed itself after the store had them
    assert "durable through id 150" in first.stdout
    second = subprocess.run([sys.executable, str(script), "resume"] + common, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary == {"recovered": 150, "queued_total": 150, "acked": 150, "ok": True}


def test_persistence_options_and_errors(tmp_path: Path) -> None:
    store = str(tmp_path / "opts.db")
    with pytest.raises(tether.InvalidArgument):
        tether.Client("ws://127.0.0.1:9/ws", persistence_path=store, persistence="sometimes")
    a = tether.Client("ws://127.0.0.1:9/ws", persistence_path=store, persistence="full")
    try:
        assert a.recovered == (0, 0)
        with pytest.raises(tether.StoreLocked) as err:
            tether.Client("ws://127.0.0.1:9/ws", persistence_path=store)
        assert "opts.db" in str(err.value)
        assert isinstance(err.value, tether.StoreError)
    finally:
        a.destroy()
    (tmp_path / "foreign.db").write_text("not a database\n")
    with pytest.raises(tether.StoreForeign):
        tether.Client("ws://127.0.0.1:9/ws", persistence_path=str(tmp_path / "foreign.db"))
