"""Helpers of the fault battery: real servers, raw sockets, writer processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from backend import registry
from backend.wire import protocol
from backend.wire.connection import Connection, ping
from tests.helpers import clean_env, entries, wait_for


def server_env(**env: str) -> dict[str, str]:
    e = clean_env()
    e.update({f"MTSERVE_{k.upper()}": v for k, v in env.items()})
    return e


def start_server(
    area: Path, db: str = "main.db", preexec: Callable[[], None] | None = None, **env: str
) -> tuple[subprocess.Popen[str], registry.Entry]:
    """A foreground ``backend server`` and its registration once it answers ``running``."""
    # stderr to a file, not a pipe nobody drains: a chatty server must never block on it
    errfile = area.parent / f"server-stderr-{time.monotonic_ns()}.txt"
    with open(errfile, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "server", "--area", str(area), "--db", db],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, text=True,
            env=server_env(**env), preexec_fn=preexec,
        )

    def registered() -> registry.Entry | None:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {errfile.read_text()}")
        return next((x for x in entries(area, db) if x.registration.pid == proc.pid), None)

    entry = wait_for(registered, 20, what="registration")
    reg = entry.registration
    wait_for(lambda: ping(reg.host, reg.port).sstate == "running", 10, what="running")
    return proc, entry


def stop_proc(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15) -> int:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)
    finally:
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream:
                stream.close()


def key_of(area: Path) -> bytes:
    return (area / ".mtkey").read_text().strip().encode()


def authed(area: Path, entry: registry.Entry, timeout: float = 5) -> tuple[Connection, dict[str, str]]:
    """An authenticated connection (the next request carries ``auth``)."""
    reg = entry.registration
    conn = Connection(reg.host, reg.port, timeout)
    conn.ping(timeout)
    return conn, {"auth": protocol.auth_token(key_of(area), reg.server_id, conn.nonce or "")}


def raw_socket(entry: registry.Entry, timeout: float = 5) -> socket.socket:
    reg = entry.registration
    return socket.create_connection((reg.host, reg.port), timeout=timeout)


def recv_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the peer sends until it closes (True) or ``timeout`` passes (False)."""
    sock.settimeout(0.05)
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def decode_all(data: bytes) -> list[Any]:
    dec = protocol.FrameDecoder(1 << 24)
    dec.feed(data)
    out = []
    while (obj := dec.next()) is not None:
        out.append(obj)
    return out


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def log_text(area: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (area / "logs").glob("*.log"))


# A writer process: unique set-var keys through a Client (auto-start on), one
# line per *acknowledged* write appended (and flushed) to the ack file.
WRITER = r"""
import sys, time
from backend.client.client import Client
from backend.errors import BackendError
area, tag, n, ackfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fails = 0
with open(ackfile, "a", buffering=1) as out, Client(area) as c:
    for i in range(n):
        key = f"{tag}-{i}"
        try:
            c.call("set-var", key, str(i), deadline=30)
        except BackendError as exc:
            fails += 1
            print(f"FAIL {key} {exc}", file=sys.stderr)
            continue
        out.write(key + "\n")
        time.sleep(0.01)  # paced, so that the nemesis gets its kills in
print(f"done fails={fails}", file=sys.stderr)
"""


def spawn_writer(
    area: Path, tag: str, n: int, ackfile: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(area), tag, str(n), str(ackfile)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or clean_env(),
    )


