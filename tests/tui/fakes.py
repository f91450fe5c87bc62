"""Fakes for monitor tests: registrations, a pinger, a probe, a frozen clock."""

from __future__ import annotations

import bisect
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend import registry
from backend.wire.connection import PingResult
from mttui.model import Probe

FROZEN = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def fake_reg(port: int, pid: int, dbfname: str = "main.db", *, sid: str | None = None,
             start: float = FROZEN - 300, host: str = "127.0.0.1",
             hostname: str | None = None) -> registry.Registration:
    extras = {"hostname": hostname} if hostname else {}
    return registry.Registration(host, port, start, sid or f"{port:04x}{pid:08x}" * 2, pid,
                                 dbfname, extras)


def publish(area: Path, reg: registry.Registration, mtime: float | None = None) -> Path:
    servinfo = area / ".servinfo"
    servinfo.mkdir(exist_ok=True)
    path = registry.publish(servinfo, reg)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


class FakePinger:
    """Answers from a table keyed by port; unknown ports do not answer."""

    def __init__(self, answers: dict[int, PingResult] | None = None) -> None:
        self.answers = answers or {}
        self.calls = 0

    def __call__(self, host: str, port: int, timeout: float) -> PingResult:
        self.calls += 1
        return self.answers.get(port, PingResult(ok=False, error="connection refused"))


def ok(sid: str, sload: int = 0, rtt: float = 0.5, sstate: str = "running") -> PingResult:
    return PingResult(ok=True, server_id=sid, sstate=sstate, sload=sload, rtt_ms=rtt)


def fake_probe(gone_pids: tuple[int, ...] = ()) -> Probe:
    return Probe(
        is_local=lambda reg: "hostname" not in reg.extras,
        locally_gone=lambda reg: reg.pid in gone_pids,
        proc_info=lambda reg: [f"status sleeping  threads 3  rss 30.0 MiB (pid {reg.pid})"],
    )


async def until(pilot: Any, pred: Callable[[], Any], limit: float = 10.0,
                what: str = "condition") -> Any:
    """Let the app run until ``pred()`` is true (checked every 20 ms)."""
    end = time.monotonic() + limit
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await pilot.pause(0.02)


def wire_stats(reg: registry.Registration, now: float, requests: int, errors: int = 0,
               latency_s: float = 0.002) -> dict[str, Any]:
    """A ``stats`` answer as a server sends it (backend/stats.py's wire map)."""
    from backend.stats import BATCH_BOUNDS, LATENCY_BOUNDS, STATS_VERSION

    buckets = [0] * (len(LATENCY_BOUNDS) + 1)
    buckets[bisect.bisect_left(LATENCY_BOUNDS, latency_s)] = requests + errors
    return {
        "version": STATS_VERSION, "server_id": reg.server_id, "dbfname": reg.dbfname,
        "pid": reg.pid, "host": reg.host, "port": reg.port, "hostname": "fake",
        "state": "running", "started": reg.start, "now": now, "uptime_s": now - reg.start,
        "inflight": 0, "bytes_in": 0, "bytes_out": 0,
        "connections": {"open": 1, "total": 1, "refused": 0}, "auth_failures": 0,
        "latency_bounds": list(LATENCY_BOUNDS),
        "commands": {"call": {"outcomes": {"ok": requests, "db_error": errors},
                              "buckets": buckets, "sum_s": latency_s * (requests + errors)}},
        "db": {"commits": requests, "batch_bounds": list(BATCH_BOUNDS),
               "batch_buckets": [0] * (len(BATCH_BOUNDS) + 1), "file_bytes": 0, "wal_bytes": 0},
    }


class FakeStats:
    """A stats fetcher factory: per port, ``(req/s, errors per call, latency s)``;
    each call of a port's server is ``step`` seconds of its time later. Unknown
    ports do not answer."""

    def __init__(self, rates: dict[int, tuple[float, int, float]], step: float = 5.0,
                 start: float = FROZEN) -> None:
        self.rates, self.step, self.start = rates, step, start
        self.calls: dict[int, int] = {}
        self.made = 0

    def __call__(self) -> Callable[[registry.Entry, float], Any]:
        from backend.client.statsfetch import Sample
        from backend.stats import ServerStats

        self.made += 1

        def fetch(entry: registry.Entry, timeout: float) -> Sample:
            reg = entry.registration
            if reg.port not in self.rates:
                return Sample(entry, None, "connection refused")
            n = self.calls[reg.port] = self.calls.get(reg.port, 0) + 1
            rate, errs, lat = self.rates[reg.port]
            now = self.start + self.step * n
            # Busier and quieter intervals (the graphs should show a shape), never negative.
            done = rate * (now - reg.start) + rate * self.step * 0.8 * sum(
                math.sin(i) for i in range(n + 1))
            wire = wire_stats(reg, now, max(int(done), 0), errs * (n // 4), lat * (1 + n % 3))
            return Sample(entry, ServerStats.from_wire(wire))

        return fetch
