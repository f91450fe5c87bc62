"""The wire protocol as pure code over bytes (no sockets here).

Frame: 4-byte big-endian length, then one msgpack object. ``FrameDecoder`` is
fed whatever bytes arrive and yields whole objects; the server's sessions and
``wire.connection`` are the only modules that move these bytes over sockets.

Invariants:
- a length header over the current cap raises ``FrameTooLarge`` before any of
  the body is buffered (the caller closes the connection);
- any undecodable body raises ``ProtocolError`` (the stream is then out of
  sync: the caller closes);
- a decoded object that is not a well-formed request is *not* a framing error:
  ``parse_request`` raises ``CommandError('bad_request')`` and the connection
  stays usable.
"""

# Not ``from __future__ import annotations``: NamedTuple would make each string
# annotation a ForwardRef, compiled at import, on every call (docs/design.md,
# "No dataclasses on the call path"; tests/integration/test_lean_call.py).

import hashlib
import hmac
import struct
import threading
from typing import Any, NamedTuple

import msgpack

from backend.errors import CommandError, FrameTooLarge, ProtocolError

HEADER = struct.Struct(">I")
PRE_AUTH_MAX_FRAME = 4096
MAX_RUN_ID = 2**63 - 1  # sqlite's INTEGER: a larger run-id cannot name a run

OK, BUSY, LOADED, ERROR = "ok", "busy", "loaded", "error"
STATUSES = (OK, BUSY, LOADED, ERROR)
ERROR_CODES = (
    "bad_request",
    "unknown_command",
    "unauthorized",
    "db_busy",
    "db_error",
    "shutting_down",
    "too_large",
    "wrong_area",
    "unsupported",
)

class _Packers(threading.local):
    """One reusable Packer per thread (packb builds one per call; a Packer is not
    thread-safe, and clients ping from worker threads)."""

    def __init__(self) -> None:
        self.packer = msgpack.Packer(use_bin_type=True)


_packers = _Packers()


def encode(obj: Any) -> bytes:
    """One frame holding ``obj``."""
    packer = _packers.packer
    try:
        body: bytes = packer.pack(obj)
    except BaseException:
        packer.reset()  # a failed pack can leave a partial buffer behind
        raise
    return HEADER.pack(len(body)) + body


def encode_request(wire: list[Any], max_frame: int) -> bytes:
    """One request frame, or ``CommandError`` before anything is sent: ``too_large``
    naming the size and the cap (issue 12 item 8: the server would only close the
    connection, and a client resent 10 MB until its deadline), ``bad_request`` for
    a value msgpack cannot carry (an integer beyond 64 bits, item 11)."""
    try:
        data = encode(wire)
    except (OverflowError, TypeError, ValueError) as exc:
        raise CommandError("bad_request", f"cannot send the request: {exc}") from None
    if len(data) - HEADER.size > max_frame:
        raise CommandError(
            "too_large", f"request of {len(data) - HEADER.size} bytes exceeds max-frame {max_frame}"
        )
    return data


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"msgpack ext type {code} is not allowed")


# Two things plain msgpack admits that the protocol does not, both looked for
# after decoding and only in a body whose bytes could hold them (one membership
# test of an int per marker byte: a C memchr; a Python hook per map cost more
# than decoding the whole request):
# - ext type -1 (timestamp): it never reaches ext_hook, msgpack decodes it into a
#   ``Timestamp`` itself; its encodings (fixext4/fixext8/ext8 len 12) carry 0xff;
# - a bytes map key (strict_map_key admits str and bytes): only bin8/16/32
#   (0xc4-0xc6) encode bytes.


def _check_tree(obj: Any) -> None:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, msgpack.Timestamp):
            raise ProtocolError("msgpack ext type -1 (timestamp) is not allowed")
        if isinstance(o, list):
            stack.extend(o)
        elif isinstance(o, dict):
            for k in o:
                if not isinstance(k, str):
                    raise ProtocolError(f"map key of type {type(k).__name__} is not allowed")
            stack.extend(o.values())


def decode_body(body: bytes | bytearray) -> Any:
    """Decode one frame body; ``ProtocolError`` on anything that is not plain msgpack."""
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=True, ext_hook=_no_ext)
        if 0xFF in body or 0xC4 in body or 0xC5 in body or 0xC6 in body:
            _check_tree(obj)
        return obj
    except ProtocolError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # ExtraData, FormatError, StackError, UnicodeDecodeError (a ValueError) ...
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from exc


class _NilFrame:
    """A whole frame whose body is msgpack nil (``next`` keeps None for "no frame yet")."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NIL_FRAME"


NIL_FRAME: Any = _NilFrame()


class FrameDecoder:
    """Incremental frame decoder. ``feed`` bytes, then call ``next`` until None.

    ``max_frame`` may be changed between ``next`` calls (e.g. raised after the
    connection authenticates); it applies to the next header parsed.

    The bytes are held with a read offset, not consumed by deleting from the
    front: a chunk of many pipelined frames costs one pass, not a memmove per
    frame, and a chunk that arrives when nothing is buffered (the common case:
    one request per read) is kept as it is, not copied.
    """

    __slots__ = ("_buf", "_pos", "max_frame")

    def __init__(self, max_frame: int) -> None:
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self.max_frame = max_frame

    def feed(self, data: bytes) -> None:
        buf = self._buf
        if self._pos >= len(buf):
            self._buf, self._pos = data, 0
            return
        if isinstance(buf, bytearray):
            if self._pos:
                del buf[: self._pos]
        else:
            # Part of a frame is left: from now on grow a bytearray (appending to
            # bytes would copy everything held on every chunk of a large frame).
            buf = bytearray(memoryview(buf)[self._pos :])
        buf += data
        self._buf, self._pos = buf, 0

    @property
    def buffered(self) -> int:
        """Bytes held (whole frames not yet taken, and part of one)."""
        return len(self._buf) - self._pos

    @property
    def pending(self) -> bool:
        """True while part of a frame is buffered (the read deadline runs)."""
        return len(self._buf) > self._pos

    def next(self) -> Any | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        (size,) = HEADER.unpack_from(buf, pos)
        if size > self.max_frame:
            raise FrameTooLarge(f"frame of {size} bytes exceeds the cap of {self.max_frame}")
        end = pos + 4 + size
        if len(buf) < end:
            return None
        body = buf[pos + 4 : end]
        if end == len(buf):
            self._buf, self._pos = b"", 0
        else:
            self._pos = end
        obj = decode_body(body)
        if obj is None:
            # ``next`` returns None for "no whole frame yet", so a frame holding nil was
            # consumed and silently dropped: the server never answered it and its peer
            # waited (and pipelined answers were off by one from then on). NIL_FRAME is
            # not None, so callers handle it; parse_request/parse_response reject it.
            return NIL_FRAME
        return obj


# No dataclasses here: every ``backend call`` imports this module, and ``dataclasses``
# (with ``inspect``) cost a call ~9 ms of imports (docs/design.md, "No dataclasses on
# the call path").


class Request:
    """One request. A plain class with ``__slots__`` (what ``@dataclass(slots=True)``
    generated, written out): the server builds one per request, and this is as cheap
    as it gets (232 ns; a NamedTuple's ``__new__`` was 367 ns, a frozen dataclass
    pays a setattr call per field). Never changed after it is built."""

    __slots__ = ("cmd", "run_id", "params", "meta")

    def __init__(self, cmd: str, run_id: int | None, params: list[Any], meta: dict[str, Any] | None) -> None:
        self.cmd = cmd
        self.run_id = run_id
        self.params = params
        self.meta = meta

    def to_wire(self) -> list[Any]:
        return [self.cmd, self.run_id, self.params, self.meta]

    def __eq__(self, other: object) -> bool:  # (so __hash__ is None: like the dataclass it was)
        if not isinstance(other, Request):
            return NotImplemented
        return self.to_wire() == other.to_wire()

    def __repr__(self) -> str:
        return f"Request(cmd={self.cmd!r}, run_id={self.run_id!r}, params={self.params!r}, meta={self.meta!r})"


def parse_request(obj: Any) -> Request:
    """Validate a decoded object as ``[cmd, run_id, params, meta]``."""
    if not isinstance(obj, list) or len(obj) != 4:
        raise CommandError("bad_request", "a request is [cmd, run_id, params, meta]")
    cmd, run_id, params, meta = obj
    if not isinstance(cmd, str) or not cmd or len(cmd) > 128:
        raise CommandError("bad_request", "cmd must be a non-empty string")
    if run_id is not None and (isinstance(run_id, bool) or not isinstance(run_id, int)):
        raise CommandError("bad_request", "run_id must be an integer or nil")
    if run_id is not None and not 0 <= run_id <= MAX_RUN_ID:
        raise CommandError("bad_request", f"run_id must be 0..{MAX_RUN_ID}")
    if params is None:
        params = []
    if not isinstance(params, list):
        raise CommandError("bad_request", "params must be an array")
    if meta is not None and not isinstance(meta, dict):
        raise CommandError("bad_request", "meta must be a map or nil")
    return Request(cmd, run_id, params, meta)


class Response(NamedTuple):
    status: str
    errmsg: str | None
    result: Any
    meta: dict[str, Any]

    def to_wire(self) -> list[Any]:
        return list(self)

    @property
    def error_code(self) -> str | None:
        if self.status != ERROR or not self.errmsg:
            return None
        return self.errmsg.split(":", 1)[0]


def parse_response(obj: Any) -> Response:
    if not isinstance(obj, list) or len(obj) != 4:
        raise ProtocolError("a response is [status, errmsg, result, meta]")
    status, errmsg, result, meta = obj
    if status not in STATUSES:
        raise ProtocolError(f"unknown response status {status!r}")
    if errmsg is not None and not isinstance(errmsg, str):
        raise ProtocolError("response errmsg must be a string or nil")
    if not isinstance(meta, dict):
        raise ProtocolError("response meta must be a map")
    return Response(status, errmsg, result, meta)


# The server's answers, built here so one module knows the layout. They are the list
# form of ``Response`` (``Response(...).to_wire()``): the hot path builds no object
# per answer.


def ok_wire(result: Any, meta: dict[str, Any]) -> list[Any]:
    return [OK, None, result, meta]


def loaded_wire(result: Any, meta: dict[str, Any]) -> list[Any]:
    return [LOADED, None, result, meta]


def busy_wire(wait: float, meta: dict[str, Any]) -> list[Any]:
    """Not executed: retry after ``wait`` seconds."""
    return [BUSY, None, wait, meta]


def error_wire(code: str, message: str, meta: dict[str, Any]) -> list[Any]:
    return [ERROR, f"{code}: {message}" if message else code, None, meta]


# -- authentication ----------------------------------------------------------


def auth_token(key: bytes, server_id: str, nonce: str) -> str:
    """``hmac_sha256(area_key, f"{server_id}:{nonce}").hexdigest()``."""
    return hmac.new(key, f"{server_id}:{nonce}".encode(), hashlib.sha256).hexdigest()


def check_auth(key: bytes | None, server_id: str, nonce: str, token: Any) -> bool:
    # compare_digest raises TypeError for a str with non-ASCII characters (found by
    # the long fuzz run): such a token is simply wrong.
    if key is None or not isinstance(token, str) or not token.isascii():
        return False
    return hmac.compare_digest(auth_token(key, server_id, nonce), token)
