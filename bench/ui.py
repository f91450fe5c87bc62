"""The monitor's figures: file -> row on screen, refresh cost, idle CPU.

The app runs headless (``App.run_test``) on real registration files with the
real watchdog observer. Pings are answered by an in-process stand-in (no
server is behind these files), so what is measured is the monitor's own work.
The baseline of a refresh is the same refresh with an empty table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import resource
import secrets
import time
from pathlib import Path
from typing import Any

from backend import registry
from backend.wire.connection import PingResult
from bench.targets import start_ours


def _reg(port: int, db: str = "main.db") -> registry.Registration:
    return registry.Registration(
        "127.0.0.1", port, time.time(), secrets.token_hex(16), 100000 + port, db
    )


class _Answers:
    """Every registered server answers at once, running, load 0."""

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}

    def __call__(self, host: str, port: int, timeout: float) -> PingResult:
        sid = self.ids.get(port)
        if sid is None:
            return PingResult(ok=False, error="refused")
        return PingResult(ok=True, server_id=sid, sstate="running", sload=0, rtt_ms=0.1)


def _publish(area: Path, answers: _Answers, port: int, db: str = "main.db") -> str:
    reg = _reg(port, db)
    answers.ids[port] = reg.server_id
    registry.publish(area / ".servinfo", reg)
    return reg.name


def _no_stats() -> Any:
    """Traffic columns on, no server behind them (the cells read "-"): the refresh
    and file -> row figures include the traffic columns' layout cost."""
    from backend.client.statsfetch import Sample

    return lambda entry, timeout: Sample(entry, None, "bench: no server")


async def _until(pilot: Any, pred: Any, limit: float) -> float:
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > limit:
            raise RuntimeError("the monitor did not show the row in time")
        await asyncio.sleep(0.002)
    return (time.perf_counter() - t0) * 1000


async def _file_to_row(area: Path, reps: int) -> list[float]:
    from mttui.__main__ import make_app

    answers = _Answers()
    app = make_app(area, pinger=answers, interval=3600, stats_fetcher=_no_stats)
    out: list[float] = []
    async with app.run_test(size=(150, 40)) as pilot:
        await _until(pilot, lambda: app.loaded, 10)
        for i in range(reps):
            # Servers do not appear four times a second: space them beyond the
            # redraw cap, so this measures latency, not the cap.
            await asyncio.sleep(0.3)
            n = app.table.row_count
            t0 = time.perf_counter()
            _publish(area, answers, 30000 + i)
            await _until(pilot, lambda n=n: app.table.row_count > n, 10)
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def _refresh(area: Path, rows: int, reps: int) -> list[float]:
    from mttui.__main__ import make_app

    answers = _Answers()
    for i in range(rows):
        _publish(area, answers, 20000 + i, f"{i % 50}.db")
    app = make_app(area, pinger=answers, interval=3600, stats_fetcher=_no_stats)
    out: list[float] = []
    async with app.run_test(size=(150, 40)) as pilot:
        await _until(pilot, lambda: app.table.row_count == rows and (rows == 0 or app.ping_rounds), 60)
        for _ in range(reps):
            app.dirty = True  # the clock moved: ages and "touched" change in every row
            app.flush()
            out.append(app.last_refresh_ms)
            await pilot.pause()
    return out


class _StatsViaOneServer:
    """A stats fetcher factory for ``servers`` registrations with one real server
    behind them: every fetch is a real ping + auth + ``stats`` round trip on
    loopback to that server (so the monitor's process does the socket, HMAC and
    msgpack work of polling that many servers), answered under the name of the
    registration asked for."""

    def __init__(self, server_area: Path) -> None:
        from backend.area import Area

        scan = registry.scan(server_area / ".servinfo")
        self.entry = scan.entries[0]
        self.key = Area(server_area).key()

    def __call__(self) -> Any:
        from backend.client.statsfetch import Sample, fetch_stats

        def fetch(entry: registry.Entry, timeout: float) -> Sample:
            got = fetch_stats(self.key, self.entry, timeout)
            if got.stats is None:
                return Sample(entry, None, got.error)
            return Sample(entry, dataclasses.replace(got.stats, server_id=entry.registration.server_id))

        return fetch


async def _idle_cpu(area: Path, servers: int, windows: int, seconds: float,
                    stats_server: Path | None = None) -> list[float]:
    """Percent of one core the monitor uses while watching ``servers`` rows,
    pinging every 2 s (the default) and redrawing as ages tick; one figure per
    window of ``seconds`` (the median of several resists a passing disturbance).
    With ``stats_server`` (an area with one running server) the traffic columns
    are on and every registration's counters are polled through that server."""
    from mttui.__main__ import make_app

    answers = _Answers()
    for i in range(servers):
        _publish(area, answers, 40000 + i)
    fetcher = _StatsViaOneServer(stats_server) if stats_server else None
    app = make_app(area, pinger=answers, interval=2.0, traffic=fetcher is not None,
                   stats_fetcher=fetcher)
    out: list[float] = []
    async with app.run_test(size=(150, 40)) as pilot:
        await _until(pilot, lambda: app.table.row_count == servers and (app.ping_rounds or not servers), 60)
        if fetcher is not None:
            await _until(pilot, lambda: len(app.book.current) == servers, 60)
        await asyncio.sleep(2.0)  # let the first load settle: this measures idling
        for _ in range(windows):
            # getrusage, not os.times: its 10 ms ticks are 0.2 % of a 6 s window.
            c0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            await asyncio.sleep(seconds)
            c1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
            out.append(100 * cpu / (t1 - t0))
    return out


def bench_ui(work: Path, quick: bool) -> list[dict[str, Any]]:
    reps = 10 if quick else 30
    rows: list[dict[str, Any]] = []

    def area(name: str) -> Path:
        p = work / name
        (p / ".servinfo").mkdir(parents=True)
        return p

    for i, ms in enumerate(asyncio.run(_file_to_row(area("ui-file"), reps))):
        rows.append({"scenario": "file -> row", "target": "mtserve", "rep": i, "ms": ms})
    empty = asyncio.run(_refresh(area("ui-0"), 0, reps))
    for n in (100, 1000):
        timings = asyncio.run(_refresh(area(f"ui-{n}"), n, reps))
        for i, (ms, base) in enumerate(zip(timings, empty, strict=True)):
            rows.append({"scenario": f"refresh {n} rows", "target": "mtserve", "rep": i, "ms": ms})
            rows.append({"scenario": f"refresh {n} rows", "target": "baseline", "rep": i, "ms": base})
    # Windows of 6 s: three ping rounds each, a whole number of 2 s ticks.
    idle = asyncio.run(_idle_cpu(area("ui-idle"), 100, 3 if quick else 5, 6.0))
    for i, pct in enumerate(idle):
        rows.append({"scenario": "idle CPU, 100 servers", "target": "mtserve", "rep": i, "pct": pct})
    # Windows of 10 s: two stats polls (every 5 s) and five ping rounds each.
    server = start_ours(area("ui-stats-server"))
    try:
        busy = asyncio.run(_idle_cpu(area("ui-traffic"), 100, 3 if quick else 5, 10.0,
                                     stats_server=work / "ui-stats-server"))
    finally:
        server.stop()
    for i, pct in enumerate(busy):
        rows.append({"scenario": "traffic CPU, 100 servers", "target": "mtserve", "rep": i, "pct": pct})
    return rows
