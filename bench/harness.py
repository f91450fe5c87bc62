"""``backend bench``: each scenario against our real server and a baseline, in the
same run, interleaved, several repetitions; medians and min-max reported.

Absolute numbers on shared machines drift by 2x between runs; the ratio of two
targets measured side by side, and server CPU per request, do not. So every
figure that a goal is stated on is a ratio or a CPU cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import loadgen, redis_peer, report
from bench.targets import Target, proc_cpu_seconds, start_baseline, start_ours

Result = dict[str, Any]


def _measure(target: Target, run: Callable[[], tuple[int, float]]) -> dict[str, float]:
    cpu0 = target.cpu_seconds()
    n, elapsed = run()
    cpu = target.cpu_seconds() - cpu0
    return {"rps": n / elapsed, "requests": n, "cpu_us_per_req": cpu * 1e6 / max(n, 1)}


def _drive_msgpack(
    target: Target, make: loadgen.MakeRequest, conns: int, duration: float
) -> Callable[[], tuple[int, float]]:
    def drive() -> tuple[int, float]:
        if conns == 1:
            return loadgen.sequential(target, make, duration)
        return loadgen.concurrent(target, make, conns, duration)

    return drive


def _drive_resp(
    target: Target, make: redis_peer.MakeCommand, conns: int, duration: float
) -> Callable[[], tuple[int, float]]:
    def drive() -> tuple[int, float]:
        if conns == 1:
            return redis_peer.sequential(target, make, duration)
        return redis_peer.concurrent(target, make, conns, duration)

    return drive


def _interleaved(
    name: str, ours: tuple[Target, Callable[[], tuple[int, float]]],
    peer: tuple[Target, Callable[[], tuple[int, float]]], reps: int,
) -> list[Result]:
    rows: list[Result] = []
    for rep in range(reps):
        # Alternate who goes first so drift in machine load hits both alike.
        order = [peer, ours]
        if rep % 2:
            order.reverse()
        for target, drive in order:
            m = _measure(target, drive)
            rows.append({"scenario": name, "target": target.name, "rep": rep, **m})
    return rows


def _side_by_side(
    name: str, ours: Target, base: Target, make_ours: loadgen.MakeRequest,
    make_base: loadgen.MakeRequest, conns: int, reps: int, duration: float,
) -> list[Result]:
    return _interleaved(
        name, (ours, _drive_msgpack(ours, make_ours, conns, duration)),
        (base, _drive_msgpack(base, make_base, conns, duration)), reps,
    )


def bench_ping(work: Path, reps: int, duration: float) -> list[Result]:
    area = work / "ping-area"
    area.mkdir()
    ours, base = start_ours(area), start_baseline(work)
    try:
        def ping(_: int) -> list[Any]:
            return ["ping", None, [], None]
        return _side_by_side("ping c1", ours, base, ping, ping, 1, reps, duration) + _side_by_side(
            "ping c50", ours, base, ping, ping, 50, reps, duration
        )
    finally:
        ours.stop()
        base.stop()


def bench_write(work: Path, reps: int, duration: float) -> list[Result]:
    from backend.client.client import Client

    area = work / "write-area"
    area.mkdir()
    from backend.ops.demoload import LocalCaller

    with Client(area) as client:
        run_id = client.call("register-run", {"SYSTEM": "bench"}, "bench-run")
    # The baseline gets the same run in its own main.db (same id: both are fresh).
    with LocalCaller(work / "baseline-db") as local:
        assert local.call("register-run", {"SYSTEM": "bench"}, "bench-run") == run_id
    # The run's tests live in its run db; serve that db with one server.
    dbfname = f"{run_id % 10}.db"
    ours, base = start_ours(area, dbfname), start_baseline(work)
    seq = [0]

    def unique(i: int) -> str:
        seq[0] += 1
        return f"t{seq[0]}"

    try:
        def make_ours(i: int) -> list[Any]:
            return ["register-test", run_id, [unique(i), ""], None]

        def make_base(i: int) -> list[Any]:
            return ["register-test", run_id, [unique(i), ""], None]

        return _side_by_side(
            "write c1", ours, base, make_ours, make_base, 1, reps, duration
        ) + _side_by_side("write c50", ours, base, make_ours, make_base, 50, reps, duration)
    finally:
        ours.stop()
        base.stop()


def bench_redis(work: Path, reps: int, duration: float, notes: list[str]) -> list[Result]:
    """Ours against a durable Redis (``appendfsync always``) in the same run:
    ``ping`` vs ``PING``, and ``set-var`` (answered after its group commit is
    durable) vs ``SET``, each on a key of its own, at 1 and 50 connections."""
    binary = redis_peer.find_redis_server()
    if binary is None:
        notes.append("Redis rows skipped: redis-server is not on PATH "
                     f"({redis_peer.INSTALL_HINT} to include them).")
        return []
    area = _fresh(work, "redis-area")
    ours = start_ours(area)
    try:
        redis = redis_peer.start_redis(binary, work / "redis-data")
    except BaseException:
        ours.stop()
        raise
    seq = [0]

    def unique() -> int:
        seq[0] += 1
        return seq[0]

    def ping(_: int) -> list[Any]:
        return ["ping", None, [], None]

    def set_var(_: int) -> list[Any]:
        return ["set-var", None, [f"k{unique()}", "v"], None]

    def redis_ping(_: int) -> list[bytes]:
        return [b"PING"]

    def redis_set(_: int) -> list[bytes]:
        return [b"SET", b"k%d" % unique(), b"v"]

    rows: list[Result] = []
    try:
        for what, mk_ours, mk_redis in (("ping", ping, redis_ping),
                                        ("durable write", set_var, redis_set)):
            for conns in (1, 50):
                rows += _interleaved(
                    f"Redis {what} c{conns}",
                    (ours, _drive_msgpack(ours, mk_ours, conns, duration)),
                    (redis, _drive_resp(redis, mk_redis, conns, duration)), reps,
                )
    finally:
        ours.stop()
        redis.stop()
    return rows


def bench_bulk(work: Path, reps: int, rows_per_call: int = 20_000) -> list[Result]:
    """Rows/s through ``insert-test-data`` vs ``executemany`` in this process,
    same schema, same rows, one transaction per batch on both sides, alternating
    who goes first. CPU per row: the server process's (decode, checks, sqlite)
    against the baseline thread's own."""
    from backend import registry
    from backend.client.client import Client
    from backend.db import store
    from backend.db.commands.data import bulk_sql, padded
    from backend.ops.demoload import LocalCaller

    area = _fresh(work, "bulk-area")
    with Client(area) as client:
        run_id = client.call("register-run", {"SYSTEM": "bench"}, "bulk")
        test_id = client.call("register-test", "bulk", "", run_id=run_id)
        dbfname = f"{run_id % 10}.db"
        (entry,) = registry.scan(area / ".servinfo", dbfname).entries
        server_pid = entry.registration.pid
        base_dir = work / "bulk-baseline"
        with LocalCaller(base_dir) as local:
            local.call("register-run", {"SYSTEM": "bench"}, "bulk")
            base_test = local.call("register-test", "bulk", "", run_id=run_id)
        conn = store.connect(base_dir / dbfname)

        def baseline(rows: list[list[Any]]) -> float:
            t0 = time.thread_time()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(bulk_sql(base_test, time.time()), padded(rows))
            conn.execute("COMMIT")
            return time.thread_time() - t0

        def ours(rows: list[list[Any]]) -> float:
            c0 = proc_cpu_seconds(server_pid)
            n = client.call("insert-test-data", test_id, rows, run_id=run_id)
            assert n == len(rows)
            return proc_cpu_seconds(server_pid) - c0

        rows_out: list[Result] = []
        try:
            for rep in range(reps):
                order = [("baseline", baseline), ("mtserve", ours)]
                if rep % 2:
                    order.reverse()
                for target, insert in order:
                    rows = [["cat", f"{target}{rep}-{i}", float(i), float(i), 0.5, "ms"]
                            for i in range(rows_per_call)]
                    t0 = time.perf_counter()
                    cpu = insert(rows)
                    rows_out.append({"scenario": "bulk", "target": target, "rep": rep,
                                     "rps": rows_per_call / (time.perf_counter() - t0),
                                     "requests": rows_per_call,
                                     "cpu_us_per_req": cpu * 1e6 / rows_per_call})
        finally:
            conn.close()
    from backend.area import Area
    from backend.client.control import stop_servers
    from backend.client.standby import stop_standby
    from backend.config import load_settings

    stop_servers(Area.open(area), load_settings(area), timeout=10)
    stop_standby(Area.open(area))
    return rows_out


def bench_start(work: Path, reps: int) -> list[Result]:
    """Launcher start -> first successful ping, vs spawning a bare interpreter.

    Each repetition uses a fresh area: its first start spawns an interpreter
    ("start, first in area", which leaves the warm standby behind); the second
    start, after the first server stopped, is forked by the standby ("start").
    """
    from backend.area import Area
    from backend.client.control import stop_servers
    from backend.client.launcher import start_server
    from backend.client.standby import stop_standby
    from backend.config import load_settings

    rows: list[Result] = []
    for rep in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare_ms = (time.perf_counter() - t0) * 1000
        area = Area.open(_fresh(work, f"start-{rep}"))
        settings = load_settings(area.root)
        try:
            for scenario in ("start, first in area", "start"):
                rows.append({"scenario": scenario, "target": "baseline", "rep": rep, "ms": bare_ms})
                t0 = time.perf_counter()
                res = start_server(area, "main.db", settings, force=True)
                assert res.started, res.reason
                _wait_running(area.root)
                rows.append({"scenario": scenario, "target": "mtserve", "rep": rep,
                             "ms": (time.perf_counter() - t0) * 1000})
                stop_servers(area, settings, timeout=10)
        finally:
            stop_standby(area)
    return rows


def bench_cold_call(work: Path, reps: int) -> list[Result]:
    """``Client.call`` on an area with no server -> answer."""
    from backend.area import Area
    from backend.client.client import Client
    from backend.client.control import stop_servers
    from backend.client.standby import stop_standby
    from backend.config import load_settings

    rows: list[Result] = []
    for rep in range(reps):
        area = Area.open(_fresh(work, f"cold-{rep}"))
        t0 = time.perf_counter()
        with Client(area) as client:
            client.call("get-var", "x")
        rows.append({"scenario": "cold-call", "target": "mtserve", "rep": rep,
                     "ms": (time.perf_counter() - t0) * 1000})
        stop_servers(area, load_settings(area.root), timeout=10)
        stop_standby(area)
    return rows


def _fresh(work: Path, name: str) -> Path:
    p = work / name
    p.mkdir()
    return p


def _wait_running(area: Path) -> None:
    from backend import registry
    from backend.wire.connection import ping

    delay = 0.001
    end = time.monotonic() + 30
    while time.monotonic() < end:
        for e in registry.scan(area / ".servinfo", "main.db").entries:
            if ping(e.registration.host, e.registration.port, 1).sstate == "running":
                return
        time.sleep(delay)
        delay = min(delay * 2, 0.01)
    raise RuntimeError("server never answered")


SCENARIOS = ("ping", "write", "redis", "bulk", "start", "cold-call", "cli", "ui")


def run(
    scenarios: list[str], quick: bool, reps: int | None = None, duration: float | None = None
) -> dict[str, Any]:
    reps = reps or (3 if quick else 7)
    duration = duration or (0.4 if quick else 2.0)
    started = machine()  # the load at the start, before our own load adds to it
    results: list[Result] = []
    notes: list[str] = []
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mtbench-") as tmp:
        work = Path(tmp)
        for name in scenarios:
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            if name == "ping":
                results += bench_ping(work, reps, duration)
            elif name == "write":
                results += bench_write(work, reps, duration)
            elif name == "redis":
                results += bench_redis(work, reps, duration, notes)
            elif name == "cli":
                from bench.cli_call import bench_cli

                cli_rows, extra["cli_importtime"] = bench_cli(work, max(reps, 10) if quick else max(reps, 40))
                results += cli_rows
            elif name == "bulk":
                results += bench_bulk(work, reps)
            elif name == "start":
                results += bench_start(work, max(reps, 5) if quick else max(reps, 20))
            elif name == "cold-call":
                results += bench_cold_call(work, reps if quick else max(reps, 10))
            elif name == "ui":
                from bench.ui import bench_ui

                results += bench_ui(work, quick)
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": quick,
        "machine": {**started, "loadavg_at_end": os.getloadavg()[0]},
        "command": "backend bench" + (" --quick" if quick else ""),
        "results": results,
        "summary": report.summarize(results),
        "notes": notes,
        **extra,
    }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="backend bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer, shorter repetitions (< 2 min)")
    p.add_argument("--scenario", action="append", choices=SCENARIOS,
                   help="run only this scenario (repeatable; default all)")
    p.add_argument("--reps", type=int, help="repetitions per scenario (default 3 quick, 7 full)")
    p.add_argument("--duration", type=float, help="seconds per throughput measurement")
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON instead of the table (as --json does elsewhere)")
    p.add_argument("--output", metavar="FILE", help="also write the raw results as JSON to FILE")
    p.add_argument("--write-docs", action="store_true", help="update docs/perf.md and its chart")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a scenario misses its goal (the 'met' column says no)")
    p.epilog = "exit codes: 0 done (with --check: every goal met), 1 a goal not met with --check, 2 usage"
    args = p.parse_args(argv)
    if (args.reps is not None and args.reps < 1) or (args.duration is not None and args.duration <= 0):
        p.error("--reps must be >= 1 and --duration > 0")
    try:
        data = run(args.scenario or list(SCENARIOS), args.quick, args.reps, args.duration)
    except RuntimeError as exc:  # a target that would not start or answered wrongly: one line
        print(f"backend bench: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(report.markdown_table(data["summary"]))
        for note in data["notes"]:
            print(f"note: {note}")
    if args.output:
        Path(args.output).write_text(json.dumps(data, indent=2))
    if args.write_docs:
        report.write_docs(data, Path("docs"))
    missed = [r["scenario"] for r in data["summary"] if r.get("meets_goal") is False]
    if args.check and missed:
        print(f"backend bench: goal not met: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0
