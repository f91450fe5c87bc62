"""The blocking work behind the monitor, run in thread workers (no Textual here).

Each function takes what it needs and returns an immutable result; the app
applies results on its own thread, so no state is shared between threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from backend import registry
from backend.area import Area
from backend.client.control import StopResult, stop_server
from backend.client.launcher import LaunchResult, start_server
from backend.config import Settings
from backend.errors import BackendError
from backend.wire.connection import PingResult
from mttui.model import Pinger, Probe, Snapshot

MAX_PARALLEL_PINGS = 16


def read_snapshot(servinfo: Path, cache: registry.ScanCache, probe: Probe) -> Snapshot:
    """One full read of ``.servinfo/`` (unchanged files come from ``cache``)."""
    try:
        scan = registry.scan(servinfo, cache=cache)
    except BackendError as exc:
        return Snapshot(error=str(exc))
    except OSError as exc:  # e.g. the area itself vanished
        return Snapshot(error=f"cannot read {servinfo}: {exc.strerror or exc}")
    remote = frozenset(e.name for e in scan.entries if not probe.is_local(e.registration))
    return Snapshot(scan.entries, scan.problems, None, remote)


@dataclass(frozen=True)
class PingRound:
    pings: dict[str, PingResult]
    gone: dict[str, bool]  # local process check, only for failed pings
    when: float
    elapsed_ms: float


def ping_all(
    entries: Iterable[registry.Entry], pinger: Pinger, timeout: float, probe: Probe,
    clock: Callable[[], float],
) -> PingRound:
    """Ping every entry once, at most MAX_PARALLEL_PINGS at a time."""
    todo = list(entries)
    t0 = time.perf_counter()
    pings: dict[str, PingResult] = {}
    if todo:
        workers = min(len(todo), MAX_PARALLEL_PINGS)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ping") as pool:
            results = pool.map(
                lambda e: pinger(e.registration.host, e.registration.port, timeout), todo
            )
            pings = {e.name: r for e, r in zip(todo, results, strict=True)}
    gone = {
        e.name: probe.locally_gone(e.registration) for e in todo if not pings[e.name].ok
    }
    return PingRound(pings, gone, clock(), (time.perf_counter() - t0) * 1000)


@dataclass(frozen=True)
class PingOne:
    key: str
    server: str
    result: PingResult


def ping_one(entry: registry.Entry, pinger: Pinger, timeout: float) -> PingOne:
    reg = entry.registration
    return PingOne(entry.name, f"{reg.host}:{reg.port}", pinger(reg.host, reg.port, timeout))


def stop(area: Area, settings: Settings, entry: registry.Entry) -> StopResult:
    return stop_server(area, settings, entry, timeout=15.0)


def start(area: Area, settings: Settings, dbfname: str) -> LaunchResult:
    return start_server(area, dbfname, settings, force=True)
