"""Redis as a peer: a ``redis-server`` of our own on loopback, and a RESP load
generator built like ``bench.loadgen`` (raw sockets, one blocking connection in
lockstep or N asyncio connections), so both servers are driven by the same kind
of Python client and pay the same client cost. A client library (redis-py)
would put a different, heavier client in front of Redis than in front of ours.

The server runs with ``--save ''`` (no snapshots), ``--appendonly yes
--appendfsync always`` (an acknowledged SET is fsynced, like an acknowledged
write of ours), AOF rewrites off, in a temporary directory, in its own process
group; ``RedisTarget.stop`` signals that group and reaps it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.targets import Target

MakeCommand = Callable[[int], list[bytes]]

INSTALL_HINT = "apt-get install redis-server"


class RespError(RuntimeError):
    """A reply the decoder cannot read, or an error reply from Redis."""


def encode(args: list[bytes]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def parse(buf: bytearray | bytes, pos: int = 0) -> tuple[Any, int] | None:
    """One reply from ``buf`` at ``pos``: (value, position after it), or None
    when the reply is not complete yet. Error replies come back as RespError
    values (the caller decides), so a pipeline of replies stays in step."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, line = buf[pos : pos + 1], bytes(buf[pos + 1 : end])
    after = end + 2
    if kind == b"+":
        return line.decode(), after
    if kind == b"-":
        return RespError(line.decode()), after
    if kind == b":":
        return int(line), after
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, after
        if len(buf) < after + n + 2:
            return None
        return bytes(buf[after : after + n]), after + n + 2
    if kind == b"*":
        n = int(line)
        if n < 0:
            return None, after
        items: list[Any] = []
        for _ in range(n):
            got = parse(buf, after)
            if got is None:
                return None
            item, after = got
            items.append(item)
        return items, after
    raise RespError(f"unexpected reply type {kind!r}")


_INCOMPLETE = object()  # not None: a nil reply ($-1) is a complete reply of None


def _take(buf: bytearray) -> Any:
    """Pop one complete reply off the front of ``buf`` (or _INCOMPLETE); raise on an error reply."""
    got = parse(buf) if buf else None
    if got is None:
        return _INCOMPLETE
    value, used = got
    del buf[:used]
    if isinstance(value, RespError):
        raise value
    return value


def _recv_reply(sock: socket.socket, buf: bytearray) -> Any:
    while True:
        value = _take(buf)
        if value is not _INCOMPLETE:
            return value
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buf += data


def sequential(target: Target, make: MakeCommand, duration: float) -> tuple[int, float]:
    """Replies in ``duration`` seconds over one connection (cf. loadgen.sequential)."""
    sock = socket.create_connection((target.host, target.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    try:
        sock.sendall(encode([b"PING"]))  # the same one warm-up round trip as ours
        _recv_reply(sock, buf)
        n = 0
        t0 = time.perf_counter()
        end = t0 + duration
        while True:
            sock.sendall(encode(make(n)))
            _recv_reply(sock, buf)
            n += 1
            if n % 64 == 0 and time.perf_counter() > end:
                break
        return n, time.perf_counter() - t0
    finally:
        sock.close()


async def _read_reply(reader: asyncio.StreamReader, buf: bytearray) -> Any:
    while True:
        value = _take(buf)
        if value is not _INCOMPLETE:
            return value
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed")
        buf += data


async def _worker(target: Target, make: MakeCommand, end: float, counter: list[int], base: int) -> None:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    buf = bytearray()
    try:
        writer.write(encode([b"PING"]))
        await _read_reply(reader, buf)
        i = 0
        while time.perf_counter() < end:
            writer.write(encode(make(base + i)))
            await _read_reply(reader, buf)
            i += 1
            counter[0] += 1
    finally:
        writer.close()


def concurrent(target: Target, make: MakeCommand, conns: int, duration: float) -> tuple[int, float]:
    """Replies in ``duration`` seconds from ``conns`` connections (cf. loadgen.concurrent)."""

    async def run() -> tuple[int, float]:
        counter = [0]
        t0 = time.perf_counter()
        end = t0 + duration
        await asyncio.gather(
            *(_worker(target, make, end, counter, i * 10_000_000) for i in range(conns))
        )
        return counter[0], time.perf_counter() - t0

    return asyncio.run(run())


@dataclass
class RedisTarget(Target):
    def stop(self) -> None:
        """SIGTERM to the server's own process group, SIGKILL after 15 s; always reaped."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def find_redis_server() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(binary: str, workdir: Path, attempts: int = 5) -> RedisTarget:
    """A durable Redis on a free loopback port in ``workdir``.

    The port is picked by binding port 0 and closing; another process may take
    it before Redis binds, so a Redis that exits at once is retried on a new port.
    """
    workdir.mkdir(exist_ok=True)
    last = ""
    for _ in range(attempts):
        port = _free_port()
        with open(workdir / "redis.stderr", "wb") as errf:  # the child keeps its own copy
            proc = subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
                 "--dir", str(workdir), "--save", "", "--appendonly", "yes",
                 "--appendfsync", "always", "--auto-aof-rewrite-percentage", "0",
                 "--daemonize", "no", "--logfile", str(workdir / "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf,
                start_new_session=True,
            )
        target = RedisTarget("redis", "127.0.0.1", port, proc.pid, None, proc)
        try:
            if _wait_pong(target, proc, timeout=15):
                return target
        except BaseException:
            target.stop()
            raise
        target.stop()
        last = " ".join(
            f.read_text(errors="replace").strip()[-300:]
            for f in (workdir / "redis.stderr", workdir / "redis.log") if f.exists()
        ).strip()
    raise RuntimeError(f"redis-server did not start on loopback: {last or 'no output'}")


def _wait_pong(target: Target, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((target.host, target.port), timeout=1) as s:
                s.sendall(encode([b"PING"]))
                if _recv_reply(s, bytearray()) == "PONG":
                    return True
        except (OSError, RespError):
            pass
        time.sleep(0.02)
    return False
