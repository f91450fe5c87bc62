"""Fakes for monitor tests: registrations, a pinger, a probe, a frozen clock."""

from __future__ import annotations

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
