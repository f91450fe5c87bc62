"""Ping several servers at once and stop waiting as soon as the choice is clear.

Pinging candidates one after the other made every call pay the whole ping
timeout of a frozen server (SIGSTOPped: the kernel still accepts its
connections, nothing ever answers) before it reached a healthy one (issue 13
item 1: 2.2 s per call for six minutes). Here every candidate is connected and
pinged concurrently on non-blocking sockets in one ``selectors`` loop (no
threads, so nothing is left running when we return), and the loop ends

- when every probe is resolved, or
- a short *grace* after the first answer that ``usable`` accepts (other
  answers arriving in the grace still compete on load: load balancing), or
- at the timeout.

A probe still unresolved when the loop ends early is closed and reported as
``pending``, not as a failure: it may just be slower than the grace. Only a
probe that waited the whole timeout is ``timed_out`` (the caller may remember
that server as suspect). The ping connection of an answered probe is returned
open, so the chosen server costs no second connect.

Part of the wire layer (with ``connection.py``): the client policy decides
what to do with the answers.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Callable, Sequence

from backend.errors import ProtocolError
from backend.wire import protocol
from backend.wire.connection import PING_WIRE, Connection, PingResult, ping_result

GRACE_MIN, GRACE_MAX = 0.002, 0.05


class Probe:
    """The ping of one ``host:port``, filled in as it goes. A plain class with
    ``__slots__``, not a dataclass: every ``backend call`` imports this module
    (docs/design.md, "No dataclasses on the call path")."""

    __slots__ = ("host", "port", "result", "conn", "timed_out", "_sock", "_out", "_decoder")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.result: PingResult | None = None  # None: unresolved when we stopped waiting
        self.conn: Connection | None = None  # the pinged connection, when result.ok
        self.timed_out = False  # waited the whole timeout without an answer
        self._sock: socket.socket | None = None
        self._out = b""
        self._decoder = protocol.FrameDecoder(65536)

    def __repr__(self) -> str:
        return (f"Probe(host={self.host!r}, port={self.port!r}, result={self.result!r}, "
                f"conn={self.conn!r}, timed_out={self.timed_out!r})")

    @property
    def pending(self) -> bool:
        return self.result is None


def grace_after(first_answer_s: float) -> float:
    """How long to keep listening once a usable answer came after ``first_answer_s``:
    twice that round trip (a loaded server answers pings later, and should still
    compete), bounded to a few ms .. 50 ms so a frozen peer costs almost nothing."""
    return min(max(2 * first_answer_s, GRACE_MIN), GRACE_MAX)


def ping_all(
    targets: Sequence[tuple[str, int]],
    timeout: float,
    *,
    usable: Callable[[int, PingResult], bool] = lambda _i, r: r.ok,
    max_frame: int = 1 << 20,
    clock: Callable[[], float] = time.monotonic,
) -> list[Probe]:
    """Ping every ``(host, port)`` concurrently; one ``Probe`` per target, in order."""
    probes = [Probe(host, port) for host, port in targets]
    sel = selectors.DefaultSelector()
    start = clock()
    end = start + timeout
    decide_at: float | None = None
    try:
        for i, probe in enumerate(probes):
            _connect(sel, i, probe, start)
        while sel.get_map():
            now = clock()
            stop = end if decide_at is None else min(end, decide_at)
            if now >= stop:
                break
            for key, events in sel.select(stop - now):
                i = key.data
                probe = probes[i]
                _step(sel, probe, events, start, clock())
                res = probe.result
                if decide_at is None and res is not None and usable(i, res):
                    decide_at = clock() + grace_after(clock() - start)
        timed_out = clock() >= end
        for probe in probes:
            if probe.pending:
                probe.timed_out = timed_out
                _close(sel, probe)
                if timed_out:
                    probe.result = PingResult(ok=False, error=f"no answer within {timeout:g}s")
    finally:
        sel.close()
    for probe in probes:
        if probe.result is not None and probe.result.ok and probe._sock is not None:
            probe.conn = Connection(probe.host, probe.port, timeout, max_frame, sock=probe._sock)
            probe.conn.adopt_ping(probe.result)
            probe._sock = None
    return probes


def _connect(sel: selectors.BaseSelector, i: int, probe: Probe, start: float) -> None:
    try:
        # An ASCII host as bytes: a str would load the idna codec (~4 ms per CLI call).
        host: str | bytes = probe.host.encode() if probe.host.isascii() else probe.host
        family, kind, proto, _, addr = socket.getaddrinfo(host, probe.port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        probe.result = PingResult(ok=False, error=f"cannot connect to {probe.host}:{probe.port}: {exc}")
        return
    sock.setblocking(False)
    err = sock.connect_ex(addr)
    if err not in (0, errno.EINPROGRESS):
        sock.close()
        probe.result = PingResult(
            ok=False, error=f"cannot connect to {probe.host}:{probe.port}: {errno.errorcode.get(err, err)}"
        )
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    probe._sock, probe._out = sock, PING_WIRE
    sel.register(sock, selectors.EVENT_WRITE, i)


def _step(sel: selectors.BaseSelector, probe: Probe, events: int, start: float, now: float) -> None:
    sock = probe._sock
    assert sock is not None
    try:
        if events & selectors.EVENT_WRITE:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise ConnectionError(err, errno.errorcode.get(err, str(err)))
            sent = sock.send(probe._out)
            probe._out = probe._out[sent:]
            if not probe._out:
                sel.modify(sock, selectors.EVENT_READ, sel.get_key(sock).data)
            return
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(0, "closed the connection")
        probe._decoder.feed(data)
        obj = probe._decoder.next()
        if obj is None:
            return
        probe.result = ping_result(protocol.parse_response(obj), (now - start) * 1000)
        sel.unregister(sock)
        if not probe.result.ok:
            _close(sel, probe)
    except BlockingIOError:
        return
    except (OSError, ProtocolError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        probe.result = PingResult(ok=False, error=f"{probe.host}:{probe.port}: {reason}")
        _close(sel, probe)


def _close(sel: selectors.BaseSelector, probe: Probe) -> None:
    sock, probe._sock = probe._sock, None
    if sock is None:
        return
    try:
        sel.unregister(sock)
    except (KeyError, ValueError):
        pass
    sock.close()
