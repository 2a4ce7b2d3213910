"""tether.Client: the C ABI's client, the Python way.

Events reach Python in one of these ways, chosen by how you consume them:

- the default: nothing runs in the background. ``events()`` / ``next_event()``
  take events from the library's poll queue on the calling thread;
- callbacks (``on_event=``, ``on_message=``, ...): a Python thread,
  "tether-dispatch", polls the queue and calls them one at a time;
- asyncio: ``async for ev in client.aevents()``; the same dispatch thread hands
  events to the loop with ``loop.call_soon_threadsafe``;
- ``native_callbacks=True`` (opt-in): the callbacks run on the SDK's own
  thread, which then enters Python.

No foreign thread enters Python unless ``native_callbacks=True`` or a ``log``
sink is given.

Thread safety: every method may be called from any thread. ``destroy()``
waits for calls in progress, so using a client concurrently with its
destruction raises ``Closed`` instead of crashing.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from .errors import Closed, InCallback, InvalidArgument, InvalidJSON, InvalidState, InvalidUTF8, TetherError, TetherTimeout, error_for
from .events import Acked, Durable, ErrorReported, Event, Failed, Message, Resumed, Sent, SessionLost, State, StateChanged

_log = logging.getLogger("tether")

_OK = 0
_E_TIMEOUT = -1000
_E_CLOSED = -6
_SLICE = 0.25  # seconds per blocking C call, so Ctrl-C and destroy() stay responsive

_EVENT_STATE, _EVENT_MESSAGE, _EVENT_ACKED, _EVENT_FAILED = 1, 2, 3, 4
_EVENT_RESUMED, _EVENT_SESSION_LOST, _EVENT_ERROR = 5, 6, 7
_EVENT_SENT, _EVENT_DURABLE = 8, 9

_LOG_LEVELS = {"trace": 1, "debug": 2, "info": 3, "warn": 4, "warning": 4, "error": 5}
_PY_LEVELS = {1: 5, 2: logging.DEBUG, 3: logging.INFO, 4: logging.WARNING, 5: logging.ERROR}
_POLICIES = {"resend": 0, "fail": 1}
_DURABILITY = {"normal": 0, "off": 1, "full": 2}

Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]]]
LogSink = Callable[[int, str], None]
TokenProvider = Callable[[bool], Optional[str]]  # refresh -> token; on the SDK thread, keep it quick

_in_native_callback = threading.local()


class _End:
    """Marks the end of the event stream for asyncio subscribers."""

    def __init__(self, failure: Optional[TetherError]) -> None:
        self.failure = failure


def _utf8(value: str, what: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidUTF8("%s: %s" % (what, e)) from None


def _opt(value: Optional[str], what: str) -> Optional[bytes]:
    return None if value is None else _utf8(value, what)


def _ms(value: Optional[float], what: str) -> int:
    """Seconds -> milliseconds; None -> 0, the SDK default."""
    if value is None:
        return 0
    if value <= 0:
        raise InvalidArgument("%s must be positive (None for the default)" % what)
    return max(1, int(round(value * 1000)))


def _count(value: Optional[int], what: str) -> int:
    if value is None:
        return 0
    if value <= 0:
        raise InvalidArgument("%s must be positive (None for the default)" % what)
    return int(value)


def _strings(items: Sequence[bytes]) -> Any:
    array = (ctypes.c_char_p * max(1, len(items)))(*items)
    return ctypes.cast(array, ctypes.POINTER(ctypes.c_char_p)), array


def _convert(ev: _native.Event) -> Event:
    detail = _native.utf8(ev.detail) or ""
    t = ev.type
    if t == _EVENT_STATE:
        return StateChanged(
            previous=State(ev.state_from),
            state=State(ev.state_to),
            reason=error_for(ev.error, detail) if ev.error else None,
            detail=detail,
            retry_in=ev.retry_in_ms / 1000.0,
            attempt=ev.attempt,
        )
    if t == _EVENT_MESSAGE:
        raw = ctypes.string_at(ev.data, ev.data_len).decode("utf-8") if ev.data_len else "null"
        return Message.from_raw(ev.seq, raw, _native.utf8(ev.message_id))
    if t == _EVENT_ACKED:
        return Acked(id=ev.id)
    if t == _EVENT_SENT:
        return Sent(id=ev.id)
    if t == _EVENT_FAILED:
        return Failed(id=ev.id, message_id=_native.utf8(ev.message_id) or "", error=error_for(ev.error))
    if t == _EVENT_RESUMED:
        return Resumed(session=_native.utf8(ev.session) or "")
    if t == _EVENT_SESSION_LOST:
        return SessionLost(
            previous_session=_native.utf8(ev.previous_session) or "",
            new_session=_native.utf8(ev.session) or "",
            unacked=ev.unacked,
        )
    if t == _EVENT_ERROR:
        return ErrorReported(error=error_for(ev.error, detail))
    if t == _EVENT_DURABLE:
        return Durable(through=ev.id)
    raise TetherError("unknown event type %d" % t)


class Client:
    """A tether client: connects, re-connects, resumes, re-sends.

    >>> with tether.Client("ws://127.0.0.1:8080/ws", token="t") as client:
    ...     client.wait_ready(timeout=10)
    ...     client.send({"room": "lobby", "text": "hi"})
    ...     for event in client.events():
    ...         print(event)

    Durations are in seconds; ``None`` means the SDK default.

    ``token_provider(refresh)`` replaces ``token``: it is asked for the token
    before every connection attempt (``refresh`` is True after the server said
    token_expired) on the SDK's thread, so it should return a cached value
    quickly. Returning None or raising means "no token".

    ``persistence_path`` keeps the session and every unacknowledged message in
    a SQLite file (``persistence`` is the durability: "normal", "off" or
    "full"). A client created later on the same file resumes the session and
    re-sends them (``recovered``); ``destroy()`` keeps the file's contents,
    ``close()`` and ``abort()`` end them. Across a crash, messages are
    delivered at least once and never with a gap: dedupe by ``Message.seq``.
    ``commit_interval`` groups commits (at most one per interval; 0: one per
    io-loop turn). ``probe_timeout`` bounds the ping after
    ``network_changed()`` or a detected suspend.
    """

    def __init__(
        self,
        url: str,
        token: Optional[str] = None,
        *,
        token_provider: Optional[TokenProvider] = None,
        client_name: str = "tether-python",
        client_version: Optional[str] = None,
        headers: Optional[Headers] = None,
        heartbeat_interval: Optional[float] = None,
        heartbeat_timeout: Optional[float] = None,
        probe_timeout: Optional[float] = None,
        backoff_base: Optional[float] = None,
        backoff_max: Optional[float] = None,
        backoff_stable_after: Optional[float] = None,
        max_attempts: int = 0,
        session_lost_policy: str = "resend",
        outbox_max_messages: Optional[int] = None,
        outbox_max_bytes: Optional[int] = None,
        outbox_max_message_bytes: Optional[int] = None,
        outbox_max_in_flight: Optional[int] = None,
        ack_every_messages: Optional[int] = None,
        ack_max_delay: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        hello_timeout: Optional[float] = None,
        close_drain: Optional[float] = None,
        max_inbound_message_bytes: Optional[int] = None,
        tls_ca_file: Optional[str] = None,
        tls_ca_dir: Optional[str] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_pinned_spki_sha256: Sequence[str] = (),
        tls_insecure_skip_verify: bool = False,
        proxy_url: Optional[str] = None,
        proxy_username: Optional[str] = None,
        proxy_password: Optional[str] = None,
        persistence_path: Optional[str] = None,
        persistence: str = "normal",
        commit_interval: Optional[float] = None,
        on_event: Optional[Callable[[Event], None]] = None,
        on_message: Optional[Callable[[Message], None]] = None,
        on_state: Optional[Callable[[StateChanged], None]] = None,
        on_acked: Optional[Callable[[Acked], None]] = None,
        on_failed: Optional[Callable[[Failed], None]] = None,
        on_sent: Optional[Callable[[Sent], None]] = None,
        report_sent: bool = False,
        native_callbacks: bool = False,
        log: Union[bool, LogSink, None] = None,
        log_level: str = "info",
    ) -> None:
        self._lib = _native.lib()
        self._handle: Optional[int] = None
        self._cv = threading.Condition()
        self._active = 0  # C calls in progress
        self._destroying = False
        self._failure: Optional[TetherError] = None
        self._ended = False
        self._callbacks: Dict[type, Callable[[Any], None]] = {}
        for cls, fn in ((Message, on_message), (StateChanged, on_state), (Acked, on_acked), (Failed, on_failed),
                        (Sent, on_sent)):
            if fn is not None:
                self._callbacks[cls] = fn
        self._on_event = on_event
        self._native = native_callbacks
        self._subscribers: List[Tuple[asyncio.AbstractEventLoop, "asyncio.Queue[Any]"]] = []
        self._pump: Optional[threading.Thread] = None
        self._pump_lock = threading.Lock()

        if session_lost_policy not in _POLICIES:
            raise InvalidArgument("session_lost_policy must be 'resend' or 'fail'")
        if persistence not in _DURABILITY:
            raise InvalidArgument("persistence must be one of " + ", ".join(sorted(_DURABILITY)))
        if log_level not in _LOG_LEVELS:
            raise InvalidArgument("log_level must be one of " + ", ".join(sorted(_LOG_LEVELS)))

        o = _native.ClientOptions()
        o.struct_size = ctypes.sizeof(_native.ClientOptions)
        keep: List[Any] = []  # buffers that must live until create() has copied them
        o.url = _utf8(url, "url")
        o.token = _opt(token, "token")
        o.client_name = _utf8(client_name, "client_name")
        from . import __version__

        o.client_version = _utf8(client_version or __version__, "client_version")
        if headers:
            pairs = headers.items() if isinstance(headers, Mapping) else headers
            encoded = [_utf8("%s: %s" % (k, v), "header") for k, v in pairs]
            o.headers, array = _strings(encoded)
            o.header_count = len(encoded)
            keep += [encoded, array]
        o.heartbeat_interval_ms = _ms(heartbeat_interval, "heartbeat_interval")
        o.heartbeat_timeout_ms = _ms(heartbeat_timeout, "heartbeat_timeout")
        o.heartbeat_probe_timeout_ms = _ms(probe_timeout, "probe_timeout")
        o.backoff_base_ms = _ms(backoff_base, "backoff_base")
        o.backoff_max_ms = _ms(backoff_max, "backoff_max")
        o.backoff_stable_after_ms = _ms(backoff_stable_after, "backoff_stable_after")
        if max_attempts < 0:
            raise InvalidArgument("max_attempts must not be negative (0: unlimited)")
        o.backoff_max_attempts = max_attempts
        o.session_lost_policy = _POLICIES[session_lost_policy]
        o.outbox_max_messages = _count(outbox_max_messages, "outbox_max_messages")
        o.outbox_max_bytes = _count(outbox_max_bytes, "outbox_max_bytes")
        o.outbox_max_message_bytes = _count(outbox_max_message_bytes, "outbox_max_message_bytes")
        o.outbox_max_in_flight = _count(outbox_max_in_flight, "outbox_max_in_flight")
        o.ack_every_messages = _count(ack_every_messages, "ack_every_messages")
        o.ack_max_delay_ms = _ms(ack_max_delay, "ack_max_delay")
        o.connect_timeout_ms = _ms(connect_timeout, "connect_timeout")
        o.hello_timeout_ms = _ms(hello_timeout, "hello_timeout")
        o.close_drain_ms = _ms(close_drain, "close_drain")
        o.max_inbound_message_bytes = _count(max_inbound_message_bytes, "max_inbound_message_bytes")
        o.tls_ca_file = _opt(tls_ca_file, "tls_ca_file")
        o.tls_ca_dir = _opt(tls_ca_dir, "tls_ca_dir")
        o.tls_cert_file = _opt(tls_cert_file, "tls_cert_file")
        o.tls_key_file = _opt(tls_key_file, "tls_key_file")
        if tls_pinned_spki_sha256:
            pins = [_utf8(p, "pin") for p in tls_pinned_spki_sha256]
            o.tls_pinned_spki_sha256, array = _strings(pins)
            o.tls_pinned_spki_count = len(pins)
            keep += [pins, array]
        o.tls_insecure_skip_verify = 1 if tls_insecure_skip_verify else 0
        o.proxy_url = _opt(proxy_url, "proxy_url")
        o.proxy_username = _opt(proxy_username, "proxy_username")
        o.proxy_password = _opt(proxy_password, "proxy_password")
        o.log_level = _LOG_LEVELS[log_level]
        o.persistence_path = _opt(persistence_path, "persistence_path")
        o.persistence_durability = _DURABILITY[persistence]
        if commit_interval is not None and commit_interval < 0:
            raise InvalidArgument("commit_interval must not be negative (0: every io-loop turn, None: the default)")
        if commit_interval == 0:
            o.persistence_commit_interval_ms = _native.COMMIT_EVERY_TURN
        else:
            o.persistence_commit_interval_ms = _ms(commit_interval, "commit_interval")
        o.report_sent = 1 if (report_sent or on_sent is not None) else 0

        # The CFUNCTYPE objects live as long as this object: the library may
        # call them until destroy() returns.
        self._event_fn: Optional[Any] = None
        self._log_fn: Optional[Any] = None
        self._token_fn: Optional[Any] = None
        if token_provider is not None:
            if not callable(token_provider):
                raise InvalidArgument("token_provider must be callable")
            self._token_fn = _native.TOKEN_FN(self._native_token_source(token_provider))
            o.token_callback = self._token_fn
        if native_callbacks:
            self._event_fn = _native.EVENT_FN(self._native_event)
            o.event_callback = self._event_fn
        if log:
            sink: LogSink = log if callable(log) else (lambda level, msg: _log.log(_PY_LEVELS.get(level, 20), msg))
            self._log_fn = _native.LOG_FN(self._native_log_sink(sink))
            o.log_callback = self._log_fn

        handle = ctypes.c_void_p()
        rc = self._lib.tether_client_create(ctypes.byref(o), ctypes.byref(handle))
        del keep
        if rc != _OK:
            raise error_for(rc, self._last_error(None))
        self._handle = handle.value
        if (self._callbacks or self._on_event) and not native_callbacks:
            self._ensure_pump()

    # ---- plumbing ---------------------------------------------------------------

    def _last_error(self, handle: Optional[int]) -> str:
        msg = self._lib.tether_client_last_error(handle)
        return msg.decode("utf-8", errors="replace") if msg else ""

    @contextmanager
    def _use(self) -> Iterator[int]:
        with self._cv:
            if self._handle is None or self._destroying:
                raise Closed("the client was destroyed")
            self._active += 1
            handle = self._handle
        try:
            yield handle
        finally:
            with self._cv:
                self._active -= 1
                if self._active == 0:
                    self._cv.notify_all()

    def _check(self, handle: int, rc: int) -> None:
        if rc != _OK:
            raise error_for(rc, self._last_error(handle))

    def _call(self, name: str, *args: Any) -> None:
        with self._use() as h:
            self._check(h, getattr(self._lib, name)(h, *args))

    def _native_log_sink(self, sink: LogSink) -> Callable[[int, Optional[bytes], Any], None]:
        def trampoline(level: int, message: Optional[bytes], _user: Any) -> None:
            try:  # nothing may unwind into C
                sink(level, message.decode("utf-8", errors="replace") if message else "")
            except BaseException:
                pass

        return trampoline

    def _native_token_source(self, provider: TokenProvider) -> Callable[[int, int, Any], None]:
        lib = self._lib

        def trampoline(request: int, refresh: int, _user: Any) -> None:
            try:  # nothing may unwind into C; a failing provider means "no token"
                token = provider(bool(refresh))
                if token is None:
                    return
                data = token.encode("utf-8")
                rc = lib.tether_token_request_set(request, data, len(data))
                if rc != _OK:
                    _log.error("token provider: %s", self._last_error(None))
            except BaseException as e:  # noqa: B902 - reported, never raised into C
                _log.error("token provider raised %r; connecting without a token", e)

        return trampoline

    def _native_event(self, ptr: int, _user: Any) -> None:
        _in_native_callback.active = True
        try:  # nothing may unwind into C
            self._dispatch(_convert(ctypes.cast(ptr, ctypes.POINTER(_native.Event)).contents))
        except BaseException:
            _log.exception("tether event dispatch failed")
        finally:
            _in_native_callback.active = False

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, StateChanged) and event.state == State.FAILED:
            self._failure = event.reason
        handlers = [self._on_event, self._callbacks.get(type(event))]
        for fn in handlers:
            if fn is None:
                continue
            try:
                fn(event)
            except Exception:
                _log.exception("tether callback %r raised", fn)
        end = isinstance(event, StateChanged) and event.state.terminal
        with self._pump_lock:
            if end:
                self._ended = True
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
                if end:
                    loop.call_soon_threadsafe(queue.put_nowait, _End(self._failure))
            except RuntimeError:  # the loop is closed
                self._unsubscribe((loop, queue))

    def _ensure_pump(self) -> None:
        with self._pump_lock:
            if self._pump is None:
                self._pump = threading.Thread(target=self._pump_main, name="tether-dispatch", daemon=True)
                self._pump.start()

    def _pump_main(self) -> None:
        while True:
            try:
                event = self._poll(_SLICE)
            except TetherError:
                return  # the stream ended, or the client is being destroyed
            if event is not None:
                self._dispatch(event)

    def _unsubscribe(self, sub: Tuple[asyncio.AbstractEventLoop, "asyncio.Queue[Any]"]) -> None:
        with self._pump_lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def _poll(self, timeout: float) -> Optional[Event]:
        ev = _native.Event()
        ev.struct_size = ctypes.sizeof(_native.Event)
        with self._use() as h:
            rc = self._lib.tether_client_poll_event(h, ctypes.byref(ev), int(timeout * 1000))
            if rc == _E_TIMEOUT:
                return None
            self._check(h, rc)
        try:
            event = _convert(ev)
        finally:
            self._lib.tether_event_free(ctypes.byref(ev))
        if isinstance(event, StateChanged) and event.state == State.FAILED:
            self._failure = event.reason
        return event

    # ---- lifecycle --------------------------------------------------------------

    def connect(self, wait: bool = False, timeout: Optional[float] = None) -> None:
        """Starts connecting (the client then reconnects by itself). With
        `wait`, blocks until ready and raises why it could not get there."""
        self._call("tether_client_connect")
        if wait:
            self.wait_ready(timeout)

    def _wait_state(self, mask: int, timeout: Optional[float]) -> State:
        deadline = None if timeout is None else time.monotonic() + timeout
        state = ctypes.c_int(0)
        while True:
            left = _SLICE if deadline is None else min(_SLICE, max(0.0, deadline - time.monotonic()))
            with self._use() as h:
                rc = self._lib.tether_client_wait_state(h, mask, int(left * 1000), ctypes.byref(state))
                if rc == _OK:
                    return State(state.value)
                if rc != _E_TIMEOUT:
                    self._check(h, rc)
            if deadline is not None and time.monotonic() >= deadline:
                raise TetherTimeout("state %s not reached within %.3g s" % (self.state.name.lower(), timeout))

    def wait_ready(self, timeout: Optional[float] = None) -> None:
        """Blocks until the session is ready. Raises the failure (e.g.
        Unauthorized) if the client fails first, TetherTimeout on timeout."""
        self._wait_state(1 << State.READY, timeout)

    def wait_closed(self, timeout: Optional[float] = None) -> State:
        """Blocks until closed or failed; returns which."""
        return self._wait_state((1 << State.CLOSED) | (1 << State.FAILED), timeout)

    def close(self, drain: Optional[float] = None, wait: bool = True, timeout: Optional[float] = None) -> State:
        """Graceful: waits up to `drain` seconds for acks, says bye, closes.
        With `wait`, returns the final state."""
        self._call("tether_client_close", -1 if drain is None else int(drain * 1000))
        return self.wait_closed(timeout) if wait else self.state

    def abort(self) -> None:
        """Immediate: drops the connection; queued messages fail with Closed."""
        self._call("tether_client_abort")

    def reconnect_now(self) -> None:
        self._call("tether_client_reconnect_now")

    def network_changed(self) -> None:
        """The network changed: probe the connection now; in backoff, connect now."""
        self._call("tether_client_network_changed")

    def simulate_network_drop(self) -> None:
        self._call("tether_client_simulate_network_drop")

    def destroy(self) -> None:
        """Stops everything and frees the native client. Idempotent. Returns
        after the last callback; refused (InCallback) from inside one."""
        if getattr(_in_native_callback, "active", False) or threading.current_thread() is self._pump:
            raise InCallback("destroy() from inside a tether callback")
        with self._cv:
            if self._handle is None or self._destroying:
                return
        try:
            self.abort()  # ends the event stream, so the dispatch thread exits
        except TetherError:
            pass
        if self._pump is not None:
            self._pump.join()
        with self._cv:
            if self._handle is None or self._destroying:
                return
            self._destroying = True
            while self._active:
                self._cv.wait()
            handle, self._handle = self._handle, None
        rc = self._lib.tether_client_destroy(handle)
        if rc != _OK:  # cannot happen outside a callback; keep the handle's memory rather than risk it
            raise error_for(rc, "tether_client_destroy")

    def __enter__(self) -> "Client":
        self.connect()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None and not self.state.terminal:
                self.close()
        except TetherError:
            pass
        finally:
            self.destroy()

    def __del__(self) -> None:
        try:
            if getattr(self, "_handle", None) is not None:
                self.destroy()
        except Exception:
            pass

    # ---- messages -----------------------------------------------------------------

    def send(self, data: Any, message_id: Optional[str] = None) -> int:
        """Queues a JSON-serializable value; returns its id (see Acked/Failed).
        Works in every state but closing/closed/failed."""
        try:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise InvalidJSON(str(e)) from None
        return self.send_json(text, message_id)

    def send_json(self, text: Union[str, bytes], message_id: Optional[str] = None) -> int:
        """Queues JSON the caller serialized (validated by the library)."""
        payload = _utf8(text, "payload") if isinstance(text, str) else bytes(text)
        mid = _opt(message_id, "message_id")
        out = ctypes.c_uint64(0)
        with self._use() as h:
            self._check(h, self._lib.tether_client_send(h, payload, len(payload), mid, ctypes.byref(out)))
        return out.value

    # ---- events -------------------------------------------------------------------

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, or None after `timeout` seconds (None: no limit).
        Raises Closed once the client is closed and every event was taken."""
        if self._pump is not None or self._native:
            raise InvalidState("events are being dispatched to callbacks or aevents()")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _SLICE if deadline is None else min(_SLICE, max(0.0, deadline - time.monotonic()))
            event = self._poll(left)
            if event is not None:
                return event
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Blocking iterator over events. Stops when the client has closed (or
        when no event came for `timeout` seconds); raises the failure when the
        client failed (e.g. Unauthorized)."""
        while True:
            try:
                event = self.next_event(timeout)
            except Closed:
                if self._failure is not None:
                    raise self._failure from None
                return
            if event is None:
                return
            yield event

    async def aevents(self) -> AsyncIterator[Event]:
        """Async iterator over events (asyncio). Raises the failure when the
        client failed; ends when it closed."""
        loop = asyncio.get_running_loop()
        queue: "asyncio.Queue[Any]" = asyncio.Queue()
        sub = (loop, queue)
        with self._pump_lock:
            ended = self._ended
            if not ended:
                self._subscribers.append(sub)
        if ended:
            if self._failure is not None:
                raise self._failure
            return
        if not self._native:
            self._ensure_pump()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _End):
                    if item.failure is not None:
                        raise item.failure
                    return
                yield item
        finally:
            self._unsubscribe(sub)

    async def wait_ready_async(self, timeout: Optional[float] = None) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.wait_ready, timeout)

    async def aclose(self, drain: Optional[float] = None) -> State:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.close(drain))

    async def __aenter__(self) -> "Client":
        self.connect()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.__exit__, exc_type, exc, tb)

    # ---- inspection ----------------------------------------------------------------

    @property
    def state(self) -> State:
        out = ctypes.c_int(0)
        with self._use() as h:
            self._check(h, self._lib.tether_client_state(h, ctypes.byref(out)))
        return State(out.value)

    @property
    def session_id(self) -> str:
        size = ctypes.c_size_t(0)
        buf = ctypes.create_string_buffer(128)
        with self._use() as h:
            self._check(h, self._lib.tether_client_session_id(h, buf, len(buf), ctypes.byref(size)))
            if size.value >= len(buf):
                buf = ctypes.create_string_buffer(size.value + 1)
                self._check(h, self._lib.tether_client_session_id(h, buf, len(buf), ctypes.byref(size)))
        return buf.value.decode("utf-8", errors="replace")

    @property
    def recovered(self) -> Tuple[int, int]:
        """(unacked messages loaded from the store, messages ever queued on it).

        The loaded messages have the ids 1..N."""
        messages, total = ctypes.c_uint64(0), ctypes.c_uint64(0)
        with self._use() as h:
            self._check(h, self._lib.tether_client_recovered(h, ctypes.byref(messages), ctypes.byref(total)))
        return messages.value, total.value

    def stats(self) -> Dict[str, int]:
        s = _native.Stats()
        s.struct_size = ctypes.sizeof(_native.Stats)
        with self._use() as h:
            self._check(h, self._lib.tether_client_stats(h, ctypes.byref(s)))
        return {name: getattr(s, name) for name in _native.STATS_FIELDS}

    @property
    def last_error(self) -> str:
        """The message of the last failing call on this client."""
        with self._use() as h:
            return self._last_error(h)
