"""ctypes declarations for libtether.so.0 (bindings/c/include/tether/tether.h).

The structs mirror the C layout field by field; the C ABI only ever appends
fields, and tether_client_create refuses a struct_size it does not know, so a
mismatch fails loudly instead of corrupting memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import Optional

ABI_MAJOR = 0  # the SONAME's number: libtether.so.0

EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
TOKEN_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)


class ClientOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("url", ctypes.c_char_p),
        ("token", ctypes.c_char_p),
        ("client_name", ctypes.c_char_p),
        ("client_version", ctypes.c_char_p),
        ("headers", ctypes.POINTER(ctypes.c_char_p)),
        ("header_count", ctypes.c_size_t),
        ("heartbeat_interval_ms", ctypes.c_int64),
        ("heartbeat_timeout_ms", ctypes.c_int64),
        ("backoff_base_ms", ctypes.c_int64),
        ("backoff_max_ms", ctypes.c_int64),
        ("backoff_stable_after_ms", ctypes.c_int64),
        ("backoff_max_attempts", ctypes.c_uint32),
        ("session_lost_policy", ctypes.c_int32),
        ("outbox_max_messages", ctypes.c_uint64),
        ("outbox_max_bytes", ctypes.c_uint64),
        ("outbox_max_message_bytes", ctypes.c_uint64),
        ("outbox_max_in_flight", ctypes.c_uint64),
        ("ack_every_messages", ctypes.c_uint32),
        ("log_level", ctypes.c_int32),
        ("ack_max_delay_ms", ctypes.c_int64),
        ("connect_timeout_ms", ctypes.c_int64),
        ("hello_timeout_ms", ctypes.c_int64),
        ("close_drain_ms", ctypes.c_int64),
        ("max_inbound_message_bytes", ctypes.c_uint64),
        ("tls_ca_file", ctypes.c_char_p),
        ("tls_ca_dir", ctypes.c_char_p),
        ("tls_cert_file", ctypes.c_char_p),
        ("tls_key_file", ctypes.c_char_p),
        ("tls_pinned_spki_sha256", ctypes.POINTER(ctypes.c_char_p)),
        ("tls_pinned_spki_count", ctypes.c_size_t),
        ("tls_insecure_skip_verify", ctypes.c_int32),
        ("reserved0_", ctypes.c_int32),
        ("proxy_url", ctypes.c_char_p),
        ("proxy_username", ctypes.c_char_p),
        ("proxy_password", ctypes.c_char_p),
        ("event_callback", EVENT_FN),
        ("log_callback", LOG_FN),
        ("user_data", ctypes.c_void_p),
        ("token_callback", TOKEN_FN),  # layout 2
        ("report_sent", ctypes.c_int32),  # layout 3
        ("persistence_durability", ctypes.c_int32),
        ("persistence_path", ctypes.c_char_p),
        ("persistence_commit_interval_ms", ctypes.c_int64),  # layout 4
        ("heartbeat_probe_timeout_ms", ctypes.c_int64),
    ]


COMMIT_EVERY_TURN = -1  # TETHER_COMMIT_EVERY_TURN


class Event(ctypes.Structure):
    # Strings as c_void_p: they are UTF-8 and `data` has a length.
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("type", ctypes.c_int32),
        ("error", ctypes.c_int32),
        ("state_from", ctypes.c_int32),
        ("state_to", ctypes.c_int32),
        ("attempt", ctypes.c_uint64),
        ("retry_in_ms", ctypes.c_int64),
        ("id", ctypes.c_uint64),
        ("seq", ctypes.c_uint64),
        ("unacked", ctypes.c_uint64),
        ("data", ctypes.c_void_p),
        ("data_len", ctypes.c_size_t),
        ("message_id", ctypes.c_void_p),
        ("detail", ctypes.c_void_p),
        ("session", ctypes.c_void_p),
        ("previous_session", ctypes.c_void_p),
        ("internal_", ctypes.c_void_p),
    ]


STATS_FIELDS = (
    "connect_attempts", "connects", "reconnects", "resumes", "sessions_lost",
    "messages_sent", "messages_acked", "messages_failed", "messages_received",
    "frames_resent", "duplicates_dropped", "protocol_errors", "unknown_frames",
    "caller_errors", "pings_sent", "acks_sent",
    "frames_in", "frames_out", "bytes_in", "bytes_out",
    "outbox_depth", "outbox_bytes", "outbox_high_water",
    "suspends_detected",
)


class Stats(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t)] + [(name, ctypes.c_uint64) for name in STATS_FIELDS]


def _candidates() -> list:
    """Where libtether is looked for, in order."""
    env = os.environ.get("TETHER_LIBRARY")
    if env:
        return [env]  # explicit: no fallback that would hide a typo
    here = Path(__file__).resolve().parent
    out = [str(here / name) for name in ("libtether.so.0", "libtether.so") if (here / name).exists()]
    found = ctypes.util.find_library("tether")
    if found:
        out.append(found)
    out.append("libtether.so.%d" % ABI_MAJOR)
    return out


def _declare(lib: ctypes.CDLL) -> None:
    c_int, c_char_p, c_void_p, c_size_t = ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
    p_client = c_void_p
    sigs = {
        "tether_version_number": (c_int, []),
        "tether_version_string": (c_char_p, []),
        "tether_strerror": (c_char_p, [c_int]),
        "tether_error_name": (c_char_p, [c_int]),
        "tether_error_is_local": (c_int, [c_int]),
        "tether_state_name": (c_char_p, [c_int]),
        "tether_event_free": (None, [ctypes.POINTER(Event)]),
        "tether_token_request_set": (c_int, [c_void_p, c_char_p, c_size_t]),
        "tether_client_create": (c_int, [ctypes.POINTER(ClientOptions), ctypes.POINTER(p_client)]),
        "tether_client_destroy": (c_int, [p_client]),
        "tether_client_connect": (c_int, [p_client]),
        "tether_client_send": (c_int, [p_client, c_char_p, c_size_t, c_char_p, ctypes.POINTER(ctypes.c_uint64)]),
        "tether_client_close": (c_int, [p_client, ctypes.c_int64]),
        "tether_client_abort": (c_int, [p_client]),
        "tether_client_reconnect_now": (c_int, [p_client]),
        "tether_client_network_changed": (c_int, [p_client]),
        "tether_client_simulate_network_drop": (c_int, [p_client]),
        "tether_client_state": (c_int, [p_client, ctypes.POINTER(c_int)]),
        "tether_client_stats": (c_int, [p_client, ctypes.POINTER(Stats)]),
        "tether_client_session_id": (c_int, [p_client, c_char_p, c_size_t, ctypes.POINTER(c_size_t)]),
        "tether_client_recovered": (c_int, [p_client, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]),
        "tether_client_last_error": (c_char_p, [p_client]),
        "tether_client_poll_event": (c_int, [p_client, ctypes.POINTER(Event), c_int]),
        "tether_client_wait_state": (c_int, [p_client, ctypes.c_uint, c_int, ctypes.POINTER(c_int)]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None  # where _lib came from
_lib_lock = threading.Lock()


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use, so `import tether` never fails)."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is None:
            errors = []
            for path in _candidates():
                try:
                    loaded = ctypes.CDLL(path)
                except OSError as e:
                    errors.append("%s: %s" % (path, e))
                    continue
                _declare(loaded)
                major = loaded.tether_version_number() // 10000
                if major != ABI_MAJOR:
                    errors.append("%s: ABI major %d, need %d" % (path, major, ABI_MAJOR))
                    continue
                _lib, _lib_path = loaded, path
                break
            if _lib is None:
                raise OSError("cannot load libtether (set TETHER_LIBRARY to its path): " + "; ".join(errors))
    return _lib


def lib_path() -> str:
    """The path (or name, for the system's loader) the library was loaded from."""
    lib()
    assert _lib_path is not None
    return _lib_path


def utf8(ptr: Optional[int]) -> Optional[str]:
    """A NUL-terminated UTF-8 string owned by the library, or None."""
    if not ptr:
        return None
    return ctypes.string_at(ptr).decode("utf-8", errors="replace")
