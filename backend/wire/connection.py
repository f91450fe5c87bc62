"""The client transport: one blocking TCP connection to a server, and pings.

``Connection`` moves protocol bytes for the ``Client`` policy and for control;
``ping``/``aping`` (its asyncio twin, for the server's own scans) never raise
for network trouble. Socket errors become ``Timeout``/``ConnectError`` here,
so the layers above see only the error tree.
"""

# Not ``from __future__ import annotations``: NamedTuple would make each string
# annotation a ForwardRef, compiled at import, on every call (docs/design.md,
# "No dataclasses on the call path"; tests/integration/test_lean_call.py).

import socket
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from backend.errors import ConnectError, ProtocolError, Timeout, TransportError
from backend.states import RUNNING
from backend.wire import protocol

PING_WIRE = protocol.encode(protocol.Request("ping", None, [], None).to_wire())


def transport_error(exc: OSError, where: str, timed_out: str) -> TransportError:
    """The one mapping of a socket error to the error tree: a timeout (``TimeoutError``,
    alias ``socket.timeout``) is ``Timeout(timed_out)``, any other ``OSError`` is
    ``ConnectError("<where>: <reason>")``. (Codec errors are ``ProtocolError``
    already: ``protocol.decode_body``.) Built only on failure: no cost per call."""
    if isinstance(exc, TimeoutError):
        return Timeout(timed_out)
    return ConnectError(f"{where}: {exc.strerror or exc}")


class PingResult(NamedTuple):
    """One ping's outcome. (A NamedTuple, as every record on a call's import path:
    docs/design.md, "No dataclasses on the call path".)"""

    ok: bool
    server_id: str | None = None
    sstate: str | None = None
    sload: int | None = None
    rtt_ms: float | None = None
    meta: Mapping[str, Any] = MappingProxyType({})  # read-only: the default is shared
    error: str | None = None

    def matches(self, server_id: str) -> bool:
        return self.ok and self.server_id == server_id

    def usable(self, server_id: str) -> bool:
        return self.matches(server_id) and self.sstate == RUNNING


def ping_result(resp: protocol.Response, rtt_ms: float) -> PingResult:
    meta = resp.meta
    sload = meta.get("sload")
    return PingResult(
        ok=resp.status == protocol.OK and isinstance(resp.result, str),
        server_id=resp.result if isinstance(resp.result, str) else None,
        sstate=meta.get("sstate") if isinstance(meta.get("sstate"), str) else None,
        sload=sload if isinstance(sload, int) and not isinstance(sload, bool) else None,
        rtt_ms=rtt_ms,
        meta=meta,
        error=None if resp.status == protocol.OK else f"answered {resp.status}",
    )


class Connection:
    """One TCP connection to a server (blocking)."""

    def __init__(
        self, host: str, port: int, timeout: float, max_frame: int = 1 << 20,
        *, sock: socket.socket | None = None,
    ) -> None:
        """Connect to ``host:port``, or adopt ``sock`` (already connected, e.g. by
        ``pingall.ping_all``, which then fills in ``server_id`` and ``nonce``)."""
        self.host, self.port = host, port
        if sock is not None:
            sock.setblocking(True)
            self.sock = sock
        else:
            try:
                self.sock = socket.create_connection((host, port), timeout=timeout)
            except OSError as exc:
                where = f"{host}:{port}"
                raise transport_error(exc, f"cannot connect to {where}", f"connect to {where} timed out") from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Responses are at most max-frame; allow a little for the envelope.
        self.max_frame = max_frame
        self.decoder = protocol.FrameDecoder(max_frame + 4096)
        self.server_id: str | None = None
        self.nonce: str | None = None
        self.authenticated = False
        self.backoff = 0

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes, timeout: float) -> None:
        try:
            self.sock.settimeout(max(timeout, 0.001))
            self.sock.sendall(data)
        except OSError as exc:
            where = f"send to {self.host}:{self.port}"
            raise transport_error(exc, f"{where} failed", f"{where} timed out") from exc

    def receive(self, timeout: float) -> protocol.Response:
        end = time.monotonic() + timeout
        while True:
            obj = self.decoder.next()
            if obj is not None:
                return protocol.parse_response(obj)
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout(f"no answer from {self.host}:{self.port} within {timeout:.3g}s")
            try:
                self.sock.settimeout(left)
                data = self.sock.recv(262144)
            except OSError as exc:
                raise transport_error(
                    exc, f"{self.host}:{self.port}", f"no answer from {self.host}:{self.port} within {timeout:.3g}s"
                ) from exc
            if not data:
                raise ConnectError(f"{self.host}:{self.port} closed the connection")
            self.decoder.feed(data)

    def request(self, req: protocol.Request | list[Any], timeout: float) -> protocol.Response:
        """Send one request (a raw list only for tests that send malformed ones)."""
        wire = req.to_wire() if isinstance(req, protocol.Request) else req
        self.send(protocol.encode_request(wire, self.max_frame), timeout)
        return self.receive(timeout)

    def ping(self, timeout: float) -> PingResult:
        t0 = time.perf_counter()
        self.send(PING_WIRE, timeout)
        resp = self.receive(timeout)
        result = ping_result(resp, (time.perf_counter() - t0) * 1000)
        self.adopt_ping(result)
        return result

    def adopt_ping(self, result: PingResult) -> None:
        """Remember the server-id and nonce a ping on this connection answered."""
        if result.ok:
            self.server_id = result.server_id
            nonce = result.meta.get("nonce")
            self.nonce = nonce if isinstance(nonce, str) else None


def ping(host: str, port: int, timeout: float = 2.0) -> PingResult:
    """Ping ``host:port`` once; never raises for network trouble."""
    t0 = time.perf_counter()
    try:
        conn = Connection(host, port, timeout)
    except TransportError as exc:
        return PingResult(ok=False, error=str(exc), rtt_ms=(time.perf_counter() - t0) * 1000)
    try:
        return conn.ping(timeout)
    except (TransportError, ProtocolError) as exc:
        return PingResult(ok=False, error=str(exc))
    finally:
        conn.close()


async def aping(host: str, port: int, timeout: float = 2.0) -> PingResult:
    """The asyncio twin of ``ping`` (used inside servers). asyncio is imported
    here, not at the top: the blocking client (``backend call``) never needs it."""
    import asyncio

    t0 = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(PING_WIRE)
            header = await reader.readexactly(4)
            (size,) = protocol.HEADER.unpack(header)
            if size > 65536:
                raise ProtocolError("ping answer too large")
            body = await reader.readexactly(size)
        resp = protocol.parse_response(protocol.decode_body(body))
        return ping_result(resp, (time.perf_counter() - t0) * 1000)
    except TimeoutError:
        return PingResult(ok=False, error=f"no answer within {timeout:g}s")
    except (OSError, asyncio.IncompleteReadError, ProtocolError) as exc:
        return PingResult(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        if writer is not None:
            writer.close()
