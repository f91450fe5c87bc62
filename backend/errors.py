"""The one error tree of the backend.

Every layer maps the exceptions of the libraries it wraps (``OSError``, msgpack,
``sqlite3``) into these once, with ``raise ... from exc``, so callers catch
``BackendError`` and show its message as one line.

    BackendError
    +-- ConfigError        bad setting, bad area, bad key file, bad dbfname
    +-- RegistryError      a registration file that cannot be parsed or published
    +-- ProtocolError      bytes that are not a valid frame / message
    |   +-- FrameTooLarge
    +-- TransportError     the network failed us
    |   +-- ConnectError
    |   +-- Timeout
    +-- RemoteError        the server answered status ``error``
    +-- NoServerError      the client gave up finding or starting a server
    +-- StartLockBusy      a db's start lock stayed held by a live holder
    +-- StoreError         sqlite failed (mapped to db_busy / db_error codes)
    +-- CommandError       a command refused its input (carries a protocol code)
"""

from __future__ import annotations


class BackendError(Exception):
    """Base of every error the backend raises on purpose."""


class ConfigError(BackendError):
    pass


class RegistryError(BackendError):
    pass


class ProtocolError(BackendError):
    pass


class FrameTooLarge(ProtocolError):
    pass


class TransportError(BackendError):
    pass


class ConnectError(TransportError):
    pass


class Timeout(TransportError):
    pass


class CommandError(BackendError):
    """Raised by command handlers; becomes an ``error`` response ``"<code>: <message>"``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class RemoteError(BackendError):
    """The server answered ``error``; ``code`` is one of the protocol error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class NoServerError(BackendError):
    pass


class StartLockBusy(BackendError):
    pass


class StoreError(BackendError):
    pass


class CentralError(BackendError):
    """The central PostgreSQL database: unreachable, refused, or misconfigured."""
