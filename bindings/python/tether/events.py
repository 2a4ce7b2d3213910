"""Events, as immutable values (copied out of the C event before it is freed)."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .errors import TetherError


class State(enum.IntEnum):
    IDLE = 0
    CONNECTING = 1
    AUTHENTICATING = 2
    READY = 3
    BACKOFF = 4
    CLOSING = 5
    CLOSED = 6  # terminal
    FAILED = 7  # terminal

    @property
    def terminal(self) -> bool:
        return self in (State.CLOSED, State.FAILED)


@dataclass(frozen=True)
class StateChanged:
    previous: State
    state: State
    reason: Optional[TetherError]  # why, when it was not normal progress
    detail: str = ""
    retry_in: float = 0.0  # seconds before the next attempt (state BACKOFF)
    attempt: int = 0  # consecutive failed attempts so far


@dataclass(frozen=True)
class Message:
    seq: int
    raw: str  # the JSON text
    message_id: Optional[str] = None  # the originating message id, when relayed
    data: Any = field(default=None, compare=False)

    @classmethod
    def from_raw(cls, seq: int, raw: str, message_id: Optional[str]) -> "Message":
        return cls(seq=seq, raw=raw, message_id=message_id, data=json.loads(raw))


@dataclass(frozen=True)
class Acked:
    id: int  # what Client.send returned


@dataclass(frozen=True)
class Durable:
    """Persistence: every message with an id <= ``through`` is in the store."""

    through: int


@dataclass(frozen=True)
class Sent:
    """The message's frame went to the socket; again on every re-send."""

    id: int  # what Client.send returned


@dataclass(frozen=True)
class Failed:
    id: int
    message_id: str
    error: TetherError


@dataclass(frozen=True)
class Resumed:
    session: str


@dataclass(frozen=True)
class SessionLost:
    previous_session: str
    new_session: str
    unacked: int  # messages re-sent (policy "resend") or failed (policy "fail")


@dataclass(frozen=True)
class ErrorReported:
    """Reported for information; the client carries on by itself."""

    error: TetherError


Event = Union[StateChanged, Message, Acked, Failed, Resumed, SessionLost, ErrorReported, Sent, Durable]
