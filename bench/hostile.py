"""Hostile load against one real server (issue 12, acceptance figures).

    python -m bench.hostile [--idle 2000] [--flooders 10] [--json]

Two scenarios, each against a fresh server in a temporary area, started with a
soft fd limit of 1024 (the server raises it to the hard limit itself):

- ``idle``: a process without the key opens ``--idle`` TCP connections and keeps
  them open, reopening any the server drops. Meanwhile a legitimate client pings
  (connect + ping, as ``backend list`` does) and writes through ``Client``.
- ``pipeline``: ``--flooders`` processes each pipeline pings as fast as they can
  on one authenticated connection (with the key: a greedy client, the harder
  case; a writer thread sends, a reader thread drains, reconnecting if closed). Meanwhile a
  legitimate client pings on its own connection and writes through ``Client``;
  the same client's figures with no flood are the baseline.

The server's RSS is sampled throughout. ``tests/faults/test_hostile_load.py``
runs smaller versions and asserts the behaviour (every legitimate request is
served, the flood cannot hold more than the caps, memory stays bounded), never
the speed; the numbers go to docs/reliability.md with the command that made them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from backend import registry
from backend.client.client import Client
from backend.wire import protocol
from backend.wire.connection import Connection

SOFT_FD_LIMIT = 1024

# The flood processes: small programs, no key, nothing of ours imported.
IDLE_FLOOD = r"""
import socket, sys, time, resource
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
socks = []
def fill():
    while len(socks) < n:
        try:
            s = socket.create_connection((host, port), timeout=2)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            time.sleep(0.01)
            return
fill()
print("ready", flush=True)
while True:  # reopen what the server dropped
    alive = []
    for s in socks:
        try:
            if s.recv(1) == b"":
                s.close(); continue
        except BlockingIOError:
            pass
        except OSError:
            s.close(); continue
        alive.append(s)
    socks[:] = alive
    fill()
    time.sleep(0.2)
"""

PIPELINE_FLOOD = r"""
import socket, sys, threading
from pathlib import Path
from backend.wire import protocol
from backend.wire.connection import Connection
host, port, area = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
key = (area / ".mtkey").read_text().strip().encode()
batch = protocol.encode(["ping", None, [], None]) * 500
def drain(s):
    try:
        while s.recv(1 << 20):
            pass
    except OSError:
        pass
first = True
while True:  # reconnect whenever the server closes on us
    try:
        c = Connection(host, port, 5)
        c.ping(5)
        c.request(["auth", None, [], {"auth": protocol.auth_token(key, c.server_id, c.nonce)}], 5)
        threading.Thread(target=drain, args=(c.sock,), daemon=True).start()
        if first:
            print("ready", flush=True)
            first = False
        c.sock.settimeout(None)
        while True:
            c.sock.sendall(batch)
    except Exception:
        pass
"""


@dataclass
class Figures:
    scenario: str
    ping_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def pct(xs: list[float], q: float) -> float | None:
            if not xs:
                return None
            xs = sorted(xs)
            return round(xs[min(int(q * len(xs)), len(xs) - 1)], 2)

        return {
            "scenario": self.scenario,
            "pings": len(self.ping_ms), "ping_p50_ms": pct(self.ping_ms, 0.5),
            "ping_p99_ms": pct(self.ping_ms, 0.99),
            "writes": len(self.write_ms), "write_p50_ms": pct(self.write_ms, 0.5),
            "write_p99_ms": pct(self.write_ms, 0.99),
            "errors": len(self.errors), "first_error": self.errors[0] if self.errors else None,
            "server_rss_mb_max": max(self.rss_mb) if self.rss_mb else None,
            "server_rss_mb_start": self.rss_mb[0] if self.rss_mb else None,
            **self.extra,
        }


def _low_fd_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_FD_LIMIT, hard))


def start_server(area: Path) -> tuple[subprocess.Popen[bytes], registry.Registration]:
    """A foreground server whose soft fd limit is 1024 when it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTSERVE_")}
    with open(area / "server-stderr.txt", "wb") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "server", "--area", str(area), "--db", "main.db",
             "--idle-timeout", "600"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, preexec_fn=_low_fd_limit,
        )
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(area / 'server-stderr.txt').read_text()}")
        for e in registry.scan(area / ".servinfo", "main.db").entries:
            if e.registration.pid == proc.pid:
                return proc, e.registration
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not register")


def _sample_rss(pid: int, out: list[float], stop: threading.Event) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            out.append(round(proc.memory_info().rss / 2**20, 1))
        except psutil.Error:
            return
        stop.wait(0.25)


def _measure(area: Path, reg: registry.Registration, fig: Figures, seconds: float,
             fresh_connections: bool) -> None:
    """The legitimate client: pings and writes, alternating, for ``seconds``."""
    end = time.monotonic() + seconds
    persistent = None if fresh_connections else _authenticated(area, reg)
    with Client(area, launch=None) as client:
        client.call("set-var", "warm", "up", deadline=30)
        i = 0
        while time.monotonic() < end:
            i += 1
            t0 = time.perf_counter()
            try:
                if persistent is None:
                    conn = Connection(reg.host, reg.port, 5)
                    try:
                        ok = conn.ping(5).ok
                    finally:
                        conn.close()
                else:
                    ok = persistent.ping(5).ok
                if not ok:
                    fig.errors.append("ping not ok")
                fig.ping_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                client.call("set-var", f"k{i % 50}", str(i), deadline=30)
                fig.write_ms.append((time.perf_counter() - t0) * 1000)
            except Exception as exc:  # noqa: BLE001 - a figure, not a crash
                fig.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.01)
    if persistent is not None:
        persistent.close()


def _authenticated(area: Path, reg: registry.Registration) -> Connection:
    """A connection that stays open: authenticated (an unauthenticated one is
    closed after auth-deadline)."""
    conn = Connection(reg.host, reg.port, 5)
    conn.ping(5)
    key = (area / ".mtkey").read_text().strip().encode()
    conn.request(["auth", None, [], {"auth": protocol.auth_token(key, reg.server_id, conn.nonce or "")}], 5)
    return conn


def _spawn_flood(code: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready"
    return proc


def _stop(procs: list[subprocess.Popen[Any]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
    for p in procs:
        p.wait(10)
        if p.stdout:
            p.stdout.close()


def idle_flood(area: Path, n: int, seconds: float) -> Figures:
    fig = Figures(f"{n} idle unauthenticated connections")
    server, reg = start_server(area)
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(server.pid, fig.rss_mb, stop))
    sampler.start()
    flood: list[subprocess.Popen[str]] = []
    try:
        flood.append(_spawn_flood(IDLE_FLOOD, reg.host, str(reg.port), str(n)))
        time.sleep(1.0)
        _measure(area, reg, fig, seconds, fresh_connections=True)
        fig.extra["server_fd_limit"] = psutil.Process(server.pid).rlimit(resource.RLIMIT_NOFILE)[0]
        fig.extra["server_fds_max_seen"] = psutil.Process(server.pid).num_fds()
        fig.extra["server_alive"] = server.poll() is None
    finally:
        _stop(flood)
        stop.set()
        sampler.join()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return fig


def pipeline_flood(area: Path, flooders: int, seconds: float) -> tuple[Figures, Figures]:
    base = Figures("unloaded")
    fig = Figures(f"{flooders} pipelining flooders")
    server, reg = start_server(area)
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(server.pid, fig.rss_mb, stop))
    sampler.start()
    flood: list[subprocess.Popen[str]] = []
    try:
        _measure(area, reg, base, seconds, fresh_connections=False)
        for _ in range(flooders):
            flood.append(_spawn_flood(PIPELINE_FLOOD, reg.host, str(reg.port), str(area)))
        time.sleep(0.5)
        _measure(area, reg, fig, seconds, fresh_connections=False)
        fig.extra["server_alive"] = server.poll() is None
        fig.extra["flooders_alive"] = sum(p.poll() is None for p in flood)
    finally:
        _stop(flood)
        stop.set()
        sampler.join()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return base, fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n")[0])
    ap.add_argument("--idle", type=int, default=2000, help="idle connections (0: skip)")
    ap.add_argument("--flooders", type=int, default=10, help="pipelining flooders (0: skip)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring time per scenario")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mtserve-hostile-") as tmp:
        if args.idle:
            area = Path(tmp, "idle")
            area.mkdir()
            rows.append(idle_flood(area, args.idle, args.seconds).summary())
        if args.flooders:
            area = Path(tmp, "pipeline")
            area.mkdir()
            base, fig = pipeline_flood(area, args.flooders, args.seconds)
            rows += [base.summary(), fig.summary()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
