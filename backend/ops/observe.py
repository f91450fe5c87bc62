"""``backend stats``, ``backend metrics`` and ``backend events`` (docs/observability.md).

Kept apart from ``backend.cli`` (which parses and dispatches) because their
rendering is most of their code; ``backend/cli/parser.py`` has their parsers
and ``backend.cli`` imports this module only when one of them runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from backend import syncstate
from backend.area import Area, validate_dbfname
from backend.config import load_settings
from backend.errors import BackendError
from backend.stats import ServerStats, Summary, percentile, summarize


class ObserveError(BackendError):
    pass


# -- stats ------------------------------------------------------------------------


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _row(label: str, db: str, pid: str, state: str, s: Summary) -> str:
    return (f"{label:<22} {db:<8} {pid:>7} {state:<13} {_rate(s.rate_now):>8} {_rate(s.rate_avg):>8} "
            f"{s.requests:>9} {s.errors:>6} {_ms(s.p50_ms):>7} {_ms(s.p99_ms):>7} {s.inflight:>4} "
            f"{s.connections:>5}")


HEADER = (f"{'SERVER':<22} {'DB':<8} {'PID':>7} {'STATE':<13} {'REQ/S':>8} {'AVG/S':>8} "
          f"{'REQUESTS':>9} {'ERRORS':>6} {'P50MS':>7} {'P99MS':>7} {'INFL':>4} {'CONNS':>5}")


def _commands_json(s: ServerStats) -> dict[str, Any]:
    out = {}
    for name, c in sorted(s.commands.items()):
        p50 = percentile(s.latency_bounds, c.buckets, 0.5)
        p99 = percentile(s.latency_bounds, c.buckets, 0.99)
        out[name] = {"count": c.count, "errors": c.errors, "outcomes": c.outcomes,
                     "p50_ms": None if p50 is None else round(p50 * 1000, 3),
                     "p99_ms": None if p99 is None else round(p99 * 1000, 3)}
    return out


def cmd_stats(args: argparse.Namespace) -> int:
    from backend.client.statsfetch import fetch_area

    area = Area.open(args.area)
    dbfname = validate_dbfname(args.db) if args.db else None
    settings = load_settings(area.root)
    if args.interval < 0 or args.interval > 60:
        raise ObserveError("--interval must be between 0 and 60 seconds")
    first = fetch_area(area, settings, dbfname)
    if not first:
        raise ObserveError(f"no server registered{' for ' + dbfname if dbfname else ''} in {area.root}")
    before: dict[str, ServerStats] | None = None
    samples = first
    if args.interval > 0:
        before = {s.stats.server_id: s.stats for s in first if s.stats is not None}
        time.sleep(args.interval)
        samples = fetch_area(area, settings, dbfname)
    ok = sorted((s.stats for s in samples if s.stats is not None),
                key=lambda st: (st.dbfname, st.host, st.port))
    failed = [s for s in samples if s.stats is None]
    per_server = [(st, summarize([st], before)) for st in ok]
    dbs = sorted({st.dbfname for st in ok})
    per_db = {db: summarize([st for st in ok if st.dbfname == db], before) for db in dbs}
    total = summarize(ok, before)
    if args.json:
        print(json.dumps({
            "area": str(area.root),
            "interval_s": args.interval,
            "servers": [{"server": f"{st.host}:{st.port}", "dbfname": st.dbfname, "pid": st.pid,
                         "server_id": st.server_id, "hostname": st.hostname, "state": st.state,
                         "uptime_s": round(st.uptime_s, 3), **sm.as_json(),
                         "auth_failures": st.auth_failures, "connections_total": st.connections_total,
                         "connections_refused": st.connections_refused, "bytes_in": st.bytes_in,
                         "bytes_out": st.bytes_out, "db_commits": st.db_commits,
                         "db_file_bytes": st.db_file_bytes, "db_wal_bytes": st.db_wal_bytes,
                         "commands": _commands_json(st)}
                        for st, sm in per_server],
            "dbs": {db: sm.as_json() for db, sm in per_db.items()},
            "total": total.as_json(),
            "unreachable": [{"name": s.entry.name, "error": s.error} for s in failed],
            "sync": syncstate.read(area),  # the background sync of backend serve, if any
        }, indent=2))
        return 0
    print(HEADER)
    for st, sm in per_server:
        print(_row(f"{st.host}:{st.port}", st.dbfname, str(st.pid), st.state, sm))
    if len(ok) > 1:
        for db, sm in per_db.items():
            print(_row(f"= db {db} ({sm.servers})", db, "", "", sm))
        print(_row(f"= area ({total.servers})", "", "", "", total))
    sync = syncstate.read(area)
    if sync is not None:
        print(f"central {syncstate.describe(sync)}")
    for s in failed:
        print(f"backend: warning: {s.entry.name}: no stats ({s.error})", file=sys.stderr)
    if not ok:
        raise ObserveError(f"none of {len(failed)} registered servers answered stats")
    return 0


# -- metrics ------------------------------------------------------------------------


def cmd_metrics(args: argparse.Namespace) -> int:
    from backend.ops.metrics import render

    area = Area.open(args.area)
    sys.stdout.write(render(area, load_settings(area.root)))
    return 0


# -- events -------------------------------------------------------------------------


def cmd_events(args: argparse.Namespace) -> int:
    from backend import events

    area = Area.open(args.area)
    if args.lines is not None and args.lines < 0:
        raise ObserveError("--lines must be >= 0")

    def show(event: dict[str, Any]) -> None:
        print(json.dumps(event) if args.json else events.describe(event), flush=True)

    history = events.read_events(area)
    if args.lines is not None:
        history = history[len(history) - args.lines:] if args.lines else []
    # Follow from the end of what was read: take the position before printing.
    stream = events.follow(area) if args.follow else None
    for event in history:
        show(event)
    if stream is not None:
        for event in stream:
            show(event)
    return 0


COMMANDS = {"stats": cmd_stats, "metrics": cmd_metrics, "events": cmd_events}
