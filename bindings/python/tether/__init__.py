"""tether: a WebSocket client that survives disconnects (Python binding).

Pure Python over the C ABI (libtether.so.0, through ctypes). The library is
found through $TETHER_LIBRARY, beside this package, or on the system's
library path. See docs/python.md.
"""

from __future__ import annotations

__version__ = "0.2.0"

from . import errors
from .client import Client, TokenProvider
from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import TetherError, error_for
from .events import Acked, Durable, ErrorReported, Event, Failed, Message, Resumed, Sent, SessionLost, State, StateChanged


def version() -> str:
    """The loaded library's version string."""
    from ._native import lib

    return lib().tether_version_string().decode()


def version_number() -> int:
    """The loaded library's MAJOR * 10000 + MINOR * 100 + PATCH."""
    from ._native import lib

    return int(lib().tether_version_number())


def strerror(code: int) -> str:
    from ._native import lib

    return lib().tether_strerror(code).decode()


__all__ = [
    "Client", "Event", "StateChanged", "Message", "Acked", "Durable", "Failed", "Resumed", "SessionLost", "ErrorReported",
    "Sent",
    "State", "errors", "version", "version_number", "strerror",
] + errors.__all__
