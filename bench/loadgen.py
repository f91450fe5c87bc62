"""Load generators, identical for both targets: one blocking connection doing
request/response in sequence, and N asyncio connections doing the same."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import msgpack

from backend.wire import protocol
from bench.targets import Target

MakeRequest = Callable[[int], list[Any]]


def _recv_frame(sock: socket.socket, buf: bytearray) -> Any:
    while True:
        if len(buf) >= 4:
            (n,) = protocol.HEADER.unpack_from(buf)
            if len(buf) >= 4 + n:
                body = bytes(buf[4 : 4 + n])
                del buf[: 4 + n]
                return msgpack.unpackb(body, raw=False)
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buf += data


def sequential(target: Target, make: MakeRequest, duration: float) -> tuple[int, float]:
    """Requests answered in ``duration`` seconds over one connection."""
    sock = socket.create_connection((target.host, target.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    try:
        sock.sendall(protocol.encode(["ping", None, [], None]))
        pong = _recv_frame(sock, buf)
        auth = target.auth_meta(pong[2], pong[3].get("nonce"))
        n = 0
        t0 = time.perf_counter()
        end = t0 + duration
        while True:
            wire = make(n)
            if auth is not None and n == 0 and wire[0] != "ping":
                wire[3] = auth
            sock.sendall(protocol.encode(wire))
            resp = _recv_frame(sock, buf)
            if resp[0] != "ok":
                raise RuntimeError(f"{target.name}: {resp}")
            n += 1
            if n % 64 == 0 and time.perf_counter() > end:
                break
        return n, time.perf_counter() - t0
    finally:
        sock.close()


INCOMPLETE: Any = object()  # take() found no whole reply yet (None is a reply: nil)


class Wire:
    """How one kind of server is spoken to by ``drive``: the first request (a ping:
    the one warm-up round trip), each next request, and how a whole reply is
    taken off the front of the receive buffer (``INCOMPLETE`` if none is whole)
    and checked (raise on a failure)."""

    def first(self) -> bytes:
        raise NotImplementedError

    def greeted(self, reply: Any) -> None:
        """The first request's reply (e.g. the nonce to authenticate with)."""

    def request(self, i: int) -> bytes:
        raise NotImplementedError

    def take(self, buf: bytearray) -> Any:
        raise NotImplementedError

    def check(self, reply: Any) -> None:
        """Raise if ``reply`` is not a success."""


class _Lockstep(asyncio.Protocol):
    """One connection in request/response lockstep, driven from ``data_received``.

    An ``asyncio.Protocol``, not streams: at 50 connections the load generator
    shares the 2 cores with the server, and the streams' waiter futures and task
    wake-ups made it the larger of the two costs (~45-55 µs per request against
    the servers' 14-30), so the ratio measured mostly the client. Both targets
    (and Redis, ``redis_peer``) are driven by this same code.
    """

    def __init__(self, wire: Wire, end: float, counter: list[int], done: asyncio.Future[None]) -> None:
        self.wire, self.end, self.counter, self.done = wire, end, counter, done
        self.buf = bytearray()
        self.i = 0
        self.greeted = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.wire.first())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        wire = self.wire
        try:
            while (reply := wire.take(self.buf)) is not INCOMPLETE:
                if not self.greeted:
                    self.greeted = True
                    wire.greeted(reply)
                else:
                    wire.check(reply)
                    self.counter[0] += 1
                    self.i += 1
                if time.perf_counter() >= self.end:
                    self._finish(None)
                    return
                assert self.transport is not None
                self.transport.write(wire.request(self.i))
        except Exception as exc:  # a failed reply ends the run with its error
            self._finish(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():  # closed by the server before the run ended
            self._finish(exc or ConnectionError("closed"))

    def _finish(self, exc: BaseException | None) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)


def drive(target: Target, wires: list[Wire], duration: float) -> tuple[int, float]:
    """Replies in ``duration`` seconds, one lockstep connection per ``Wire``."""

    async def run() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        counter = [0]
        t0 = time.perf_counter()
        end = t0 + duration
        done = []
        for wire in wires:
            fut: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(
                lambda w=wire, f=fut: _Lockstep(w, end, counter, f), target.host, target.port
            )
            done.append(fut)
        await asyncio.gather(*done)
        return counter[0], time.perf_counter() - t0

    return asyncio.run(run())


class _Ours(Wire):
    """Our protocol (and the baseline's): frames of msgpack, the first request
    authenticated when the target has a key."""

    def __init__(self, target: Target, make: MakeRequest, base: int) -> None:
        self.target, self.make, self.base = target, make, base
        self.auth: dict[str, str] | None = None

    def first(self) -> bytes:
        return _PING

    def greeted(self, reply: Any) -> None:
        self.auth = self.target.auth_meta(reply[2], reply[3].get("nonce"))

    def request(self, i: int) -> bytes:
        wire = self.make(self.base + i)
        if self.auth is not None and i == 0 and wire[0] != "ping":
            wire[3] = self.auth
        return protocol.encode(wire)

    def take(self, buf: bytearray) -> Any:
        if len(buf) < 4:
            return INCOMPLETE
        (n,) = protocol.HEADER.unpack_from(buf)
        if len(buf) < 4 + n:
            return INCOMPLETE
        body = bytes(buf[4 : 4 + n])
        del buf[: 4 + n]
        return msgpack.unpackb(body, raw=False)

    def check(self, reply: Any) -> None:
        if reply[0] != "ok":
            raise RuntimeError(f"{self.target.name}: {reply}")


_PING = protocol.encode(["ping", None, [], None])


def concurrent(target: Target, make: MakeRequest, conns: int, duration: float) -> tuple[int, float]:
    """Requests answered in ``duration`` seconds by ``conns`` connections."""
    return drive(target, [_Ours(target, make, i * 10_000_000) for i in range(conns)], duration)
