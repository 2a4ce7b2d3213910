"""Exceptions: one class per C ABI error code (TETHER_E_*), grouped by kind.

    TetherError
    ├── LocalError            caller misuse; nothing happened
    ├── RemoteError           the network, the peer or the server
    │   ├── NetworkError      connect, TLS, DNS, dropped connections
    │   ├── ProtocolError     the peer broke tether.v1
    │   ├── ServerRefused     the server said no (AuthError: unauthorized, ...)
    │   └── SessionError      session outcomes
    └── TetherTimeout, NoMemory, InternalError   the binding layer itself
"""

from __future__ import annotations

from typing import Dict, Optional, Type


class TetherError(Exception):
    """Base class. `code` is the TETHER_E_* value, `name` its stable name."""

    code: int = 0
    name: str = "unknown"

    def __init__(self, detail: str = "", code: Optional[int] = None) -> None:
        if code is not None:
            self.code = code
        self.detail = detail
        super().__init__("%s (%d)%s" % (self.name, self.code, ": " + detail if detail else ""))


class LocalError(TetherError):
    """The caller misused the API; the client state is unchanged."""


class RemoteError(TetherError):
    """The network, the peer or the server misbehaved or refused."""


class NetworkError(RemoteError):
    pass


class ProtocolError(RemoteError):
    pass


class ServerRefused(RemoteError):
    pass


class AuthError(ServerRefused):
    """The server refused the credentials."""


class SessionError(RemoteError):
    pass


class InvalidArgument(LocalError, ValueError):
    code, name = -1, "invalid_argument"


class InvalidState(LocalError):
    code, name = -2, "invalid_state"


class OutboxFull(LocalError):
    code, name = -3, "outbox_full"


class MessageTooLarge(LocalError, ValueError):
    code, name = -4, "message_too_large"


class InvalidJSON(LocalError, ValueError):
    code, name = -5, "invalid_json"


class Closed(LocalError):
    code, name = -6, "closed"


class InCallback(LocalError):
    code, name = -7, "in_callback"


class InvalidUTF8(LocalError, ValueError):
    code, name = -8, "invalid_utf8"


class ConnectFailed(NetworkError):
    code, name = -100, "connect_failed"


class ConnectTimeout(NetworkError):
    code, name = -101, "connect_timeout"


class DNSFailed(NetworkError):
    code, name = -102, "dns_failed"


class TLSError(NetworkError):
    code, name = -103, "tls_error"


class TLSVerifyFailed(NetworkError):
    code, name = -104, "tls_verify_failed"


class HandshakeFailed(NetworkError):
    code, name = -105, "handshake_failed"


class HTTPStatus(NetworkError):
    code, name = -106, "http_status"


class NotFound(NetworkError):
    code, name = -107, "not_found"


class TransportClosed(NetworkError):
    code, name = -108, "transport_closed"


class HeartbeatTimeout(NetworkError):
    code, name = -109, "heartbeat_timeout"


class AuthTimeout(NetworkError):
    code, name = -110, "auth_timeout"


class ProxyError(NetworkError):
    code, name = -111, "proxy_error"


class MessageTooBig(NetworkError):
    code, name = -112, "message_too_big"


class BadURL(NetworkError):
    code, name = -113, "bad_url"


class BadFrame(ProtocolError):
    code, name = -200, "bad_frame"


class ProtocolVersion(ProtocolError):
    code, name = -201, "protocol_version"


class UnexpectedFrame(ProtocolError):
    code, name = -202, "unexpected_frame"


class SeqGap(ProtocolError):
    code, name = -203, "seq_gap"


class AckOutOfRange(ProtocolError):
    code, name = -204, "ack_out_of_range"


class BinaryFrame(ProtocolError):
    code, name = -205, "binary_frame"


class FrameInvalidJSON(ProtocolError):
    code, name = -206, "frame_invalid_json"


class FrameNotObject(ProtocolError):
    code, name = -207, "frame_not_object"


class FrameMissingField(ProtocolError):
    code, name = -208, "frame_missing_field"


class FrameWrongType(ProtocolError):
    code, name = -209, "frame_wrong_type"


class FrameSeqOutOfRange(ProtocolError):
    code, name = -210, "frame_seq_out_of_range"


class FrameTooLarge(ProtocolError):
    code, name = -211, "frame_too_large"


class FrameTooDeep(ProtocolError):
    code, name = -212, "frame_too_deep"


class Unauthorized(AuthError):
    code, name = -300, "unauthorized"


class Forbidden(AuthError):
    code, name = -301, "forbidden"


class TokenExpired(AuthError):
    code, name = -302, "token_expired"


class ServerBusy(ServerRefused):
    code, name = -303, "server_busy"


class RateLimited(ServerRefused):
    code, name = -304, "rate_limited"


class SessionTakenOver(ServerRefused):
    code, name = -305, "session_taken_over"


class GoingAway(ServerRefused):
    code, name = -306, "going_away"


class ServerError(ServerRefused):
    code, name = -307, "server_error"


class SessionLostError(SessionError):
    """The error of code session_lost (the event is tether.SessionLost)."""

    code, name = -400, "session_lost"


class MaxAttemptsExceeded(SessionError):
    code, name = -401, "max_attempts_exceeded"


class NoToken(SessionError):
    code, name = -402, "no_token"


class StoreError(TetherError):
    """The persistence file cannot be opened or written (error kind storage)."""


class StoreLocked(StoreError):
    code, name = -500, "store_locked"


class StoreCorrupt(StoreError):
    code, name = -501, "store_corrupt"


class StoreForeign(StoreError):
    code, name = -502, "store_foreign"


class StoreNewerSchema(StoreError):
    code, name = -503, "store_newer_schema"


class StoreReadOnly(StoreError):
    code, name = -504, "store_read_only"


class StoreDiskFull(StoreError):
    code, name = -505, "store_disk_full"


class StoreIo(StoreError):
    code, name = -506, "store_io"


class TetherTimeout(TetherError, TimeoutError):
    """A wait in the binding ran out of time (the client itself is fine)."""

    code, name = -1000, "timeout"


class NoMemory(TetherError, MemoryError):
    code, name = -1001, "no_memory"


class InternalError(TetherError):
    code, name = -1002, "internal"


def _collect() -> Dict[int, Type[TetherError]]:
    out: Dict[int, Type[TetherError]] = {}
    todo = [TetherError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.code != 0 and cls.__module__ == __name__:
            out[cls.code] = cls
    return out


BY_CODE: Dict[int, Type[TetherError]] = _collect()


def error_for(code: int, detail: str = "") -> TetherError:
    """The exception instance for a TETHER_E_* code (unknown codes: TetherError)."""
    cls = BY_CODE.get(code)
    if cls is None:
        return TetherError(detail, code=code)
    return cls(detail)

__all__ = [
    "TetherError", "LocalError", "RemoteError", "NetworkError", "ProtocolError", "ServerRefused", "AuthError",
    "SessionError", "StoreError", "BY_CODE", "error_for",
] + sorted(cls.__name__ for cls in BY_CODE.values())
