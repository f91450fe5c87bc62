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


async def _worker(target: Target, make: MakeRequest, end: float, counter: list[int], base: int) -> None:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(protocol.encode(["ping", None, [], None]))
        pong = await _read(reader)
        auth = target.auth_meta(pong[2], pong[3].get("nonce"))
        i = 0
        while time.perf_counter() < end:
            wire = make(base + i)
            if auth is not None and i == 0 and wire[0] != "ping":
                wire[3] = auth
            writer.write(protocol.encode(wire))
            resp = await _read(reader)
            if resp[0] != "ok":
                raise RuntimeError(f"{target.name}: {resp}")
            i += 1
            counter[0] += 1
    finally:
        writer.close()


async def _read(reader: asyncio.StreamReader) -> Any:
    (n,) = protocol.HEADER.unpack(await reader.readexactly(4))
    return msgpack.unpackb(await reader.readexactly(n), raw=False)


def concurrent(target: Target, make: MakeRequest, conns: int, duration: float) -> tuple[int, float]:
    """Requests answered in ``duration`` seconds by ``conns`` connections."""

    async def run() -> tuple[int, float]:
        counter = [0]
        t0 = time.perf_counter()
        end = t0 + duration
        await asyncio.gather(
            *(_worker(target, make, end, counter, i * 10_000_000) for i in range(conns))
        )
        return counter[0], time.perf_counter() - t0

    return asyncio.run(run())
