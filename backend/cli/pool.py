"""``backend`` subcommands that run and operate the pool: server, serve, list,
ping, start, stop, restart, prune, logs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backend import registry
from backend.area import Area
from backend.cli.common import CliError, cli_dbfname, settings_from_flags
from backend.config import Settings, load_settings


def cmd_server(args: argparse.Namespace) -> int:
    from backend.client.launcher import scale_out
    from backend.server.server import run_server

    area = Area.open(args.area)
    dbfname = cli_dbfname(args.db)
    settings = settings_from_flags(area, args)
    if args.detached:
        from backend.server.standby import fork_standby

        # Before anything else (no threads, no loop yet): later starts fork from it.
        area.ensure_dirs()
        fork_standby(area, settings, scale_out)
    return run_server(area, dbfname, settings, detached=args.detached, scale_out=scale_out)


def cmd_serve(args: argparse.Namespace) -> int:
    from backend.ops.supervisor import Supervisor

    area = Area.open(args.area)
    dbs = [cli_dbfname(d) for d in (args.db or ["main.db"])]
    if args.servers_per_db < 1:
        raise CliError("--servers-per-db must be at least 1")
    settings = settings_from_flags(area, args)
    if args.servers_per_db > settings.max_servers:
        raise CliError(f"--servers-per-db {args.servers_per_db} exceeds max-servers {settings.max_servers}: "
                       f"raise max-servers (megatest.config [server] or --max-servers) or ask for fewer")
    from backend.cli.central import serve_sync_settings

    sup = Supervisor(area, settings, dbs, args.servers_per_db, json_lines=args.json,
                     sync=serve_sync_settings(area, args))
    if args.metrics_port is None:
        return sup.run()
    if not 0 <= args.metrics_port < 65536:
        raise CliError(f"--metrics-port {args.metrics_port} is not a port number")
    from backend.ops.metrics import serve_metrics

    try:
        http, thread = serve_metrics(area, settings, args.metrics_host, args.metrics_port)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: "
                       f"{exc.strerror or exc}") from exc
    print(f"metrics on http://{args.metrics_host}:{http.server_port}/metrics", flush=True)
    try:
        return sup.run()
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)


def _scan_rows(area: Area, settings: Settings, dbfname: str | None) -> tuple[list[Any], list[registry.Problem]]:
    from backend.client.status import make_row
    from backend.wire.connection import ping

    scan = registry.scan(area.servinfo_dir, dbfname)
    entries = registry.newest_first(scan.entries)
    with ThreadPoolExecutor(max_workers=16) as pool:
        pings = list(
            pool.map(
                lambda e: ping(e.registration.host, e.registration.port, settings.ping_timeout),
                entries,
            )
        )
    rows = [make_row(e, p, settings.stale_after) for e, p in zip(entries, pings, strict=True)]
    return rows, list(scan.problems)


def _text(value: Any) -> str:
    """A value in text output: never ``None``."""
    return "-" if value is None else str(value)


SERVER_ID_WIDTH = 12  # text output shows server-ids at this length (a prefix --server-id accepts)


def _print_rows(rows: list[Any], now: float) -> None:
    from backend.client.status import human_duration

    print(
        f"{'SERVER':<22} {'DB':<9} {'PID':>7} {'STATE':<13} {'LOAD':>4} {'AGE':>7} "
        f"{'TOUCHED':>7} {'PING':>9}  SERVER-ID"
    )
    for r in rows:
        d = r.as_json(now)
        state = d["state"] + ("*" if r.remote else "")
        ping_ms = "-" if d["ping_ms"] is None else f"{d['ping_ms']:.2f}ms"
        print(
            f"{d['server']:<22} {d['dbfname']:<9} {d['pid']:>7} {state:<13} {_text(d['load']):>4} "
            f"{human_duration(d['age_s']):>7} {human_duration(d['touched_s']):>7} {ping_ms:>9}  "
            f"{d['server_id'][:SERVER_ID_WIDTH]}"
        )
    if any(r.remote for r in rows):
        print("* on another host")


def cmd_list(args: argparse.Namespace) -> int:
    area = Area.open(args.area)
    dbfname = cli_dbfname(args.db) if args.db else None
    settings = load_settings(area.root)
    rows, problems = _scan_rows(area, settings, dbfname)
    now = time.time()
    if args.json:
        print(json.dumps({
            "area": str(area.root),
            "servers": [r.as_json(now) for r in rows],
            "problems": [{"name": p.name, "reason": p.reason} for p in problems],
        }, indent=2))
        return 0
    _print_rows(rows, now)
    for r in rows:
        ahead = registry.in_the_future(r.entry, now)
        if ahead:  # issue 12 item 7: say what was seen
            print(f"backend: warning: .servinfo/{r.entry.name}: touched {ahead:.0f}s in the future "
                  f"(clock skew?); {'beyond' if ahead > settings.stale_after else 'within'} "
                  f"stale-after, its ping decides", file=sys.stderr)
    for p in problems:
        print(f"backend: warning: .servinfo/{p.name}: {p.reason}", file=sys.stderr)
    return 0


def _parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"bad address {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def cmd_ping(args: argparse.Namespace) -> int:
    from backend.client.status import RUNNING, address_row
    from backend.wire.connection import ping

    area = Area.open(args.area)
    settings = load_settings(area.root)
    if args.address:
        host, port = _parse_address(args.address)
        rows = [address_row(host, port, ping(host, port, settings.ping_timeout))]
        what = f"{host}:{port}"
    else:
        dbfname = cli_dbfname(args.db)
        rows, _ = _scan_rows(area, settings, dbfname)
        if not rows:
            raise CliError(f"no server registered for {dbfname} in {area.root}")
        what = f"no running server for {dbfname}"
    now = time.time()
    if args.json:
        print(json.dumps({"area": str(area.root), "servers": [r.as_json(now) for r in rows]}, indent=2))
    else:
        for r in rows:
            d = r.as_json(now)
            timing = f"{d['ping_ms']:.2f}ms" if d["ping_ms"] is not None else f"({_text(d['error'])})"
            sid = _text(d["server_id"])[:SERVER_ID_WIDTH]
            print(f"{d['server']} {_text(d['dbfname'])} {d['state']} load={_text(d['load'])} {timing} "
                  f"server-id={sid}")
    if not any(r.state == RUNNING for r in rows):
        err = rows[0].as_json(now)["error"] if args.address else None
        raise CliError(f"{what}: no answer ({err})" if args.address else f"{what} answered")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from backend.client.launcher import start_server
    from backend.client.restart import wait_registered

    area = Area.open(args.area)
    dbfname = cli_dbfname(args.db)
    settings = load_settings(area.root)
    res = start_server(area, dbfname, settings, force=True, why="operator")
    if not res.started:
        raise CliError(f"not starting a server for {dbfname}: {res.reason}")
    if args.no_wait:
        out: dict[str, Any] = {"started": True, "pid": res.pid}
    else:
        entry = wait_registered(area, dbfname, res.pid, settings.call_deadline)
        if entry is None and res.pid is not None:
            from backend.client.launcher import early_exit

            reason = early_exit(area, dbfname, res.pid)  # issue 12 item 5: the real cause
            if reason:
                raise CliError(reason)
        if entry is None:
            raise CliError(
                f"server pid {res.pid} did not register within {settings.call_deadline:g}s "
                f"(see {area.log_path(dbfname, res.pid or 0)})"
            )
        reg = entry.registration
        out = {"started": True, "pid": reg.pid, "server": f"{reg.host}:{reg.port}",
               "server_id": reg.server_id, "dbfname": dbfname}
    if args.json:
        print(json.dumps(out))
    else:
        print(" ".join(f"{k}={v}" for k, v in out.items() if k != "started"))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from backend.cli.progress import Progress
    from backend.client.control import stop_servers
    from backend.client.standby import stop_standby

    area = Area.open(args.area)
    settings = load_settings(area.root)
    dbfname = cli_dbfname(args.db) if args.db else None
    n = len(registry.scan(area.servinfo_dir, dbfname).entries)
    with Progress(f"waiting for {n} server{'s' if n != 1 else ''} to exit", enabled=not args.quiet):
        results = stop_servers(area, settings, dbfname=dbfname, server_id=args.server_id,
                               timeout=args.timeout, force=args.force, kill_after=args.kill_after)
    # --all leaves nothing of ours running in the area: the warm standby goes too.
    standby_stopped = bool(args.all) and stop_standby(area)
    if not results and not standby_stopped:
        if args.all:
            print(json.dumps({"servers": [], "standby": "not running"}) if args.json else "nothing to stop")
            return 0
        raise CliError("no matching server registered")
    standby = "stopped" if standby_stopped else "not running"
    if args.json:
        print(json.dumps({"servers": [r.__dict__ for r in results],
                          **({"standby": standby} if args.all else {})}, indent=2))
    else:
        for r in results:
            print(f"{r.name}: {r.outcome}")
        if standby_stopped:
            print("standby: stopped")
    failed = [r for r in results if not r.stopped]
    if failed:
        raise CliError(f"{len(failed)} of {len(results)} servers not stopped: {failed[0].outcome}")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    from backend.client.restart import restart

    area = Area.open(args.area)
    settings = load_settings(area.root)
    dbs = [cli_dbfname(args.db)] if args.db else None
    done = restart(area, settings, dbs, timeout=args.timeout, force=args.force)
    if not done:
        print(json.dumps([]) if args.json else "nothing to restart")
        return 0
    if args.json:
        print(json.dumps([r.as_json() for r in done], indent=2))
    else:
        for r in done:
            new = f"new pid={r.new['pid']} {r.new['server']}" if r.new else "no new server"
            print(f"{r.dbfname}: {new}; {r.outcome}")
    failed = [r for r in done if not r.ok]
    if failed:
        raise CliError(f"{failed[0].dbfname}: {failed[0].outcome}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from backend.client.prune import prune

    area = Area.open(args.area)
    settings = load_settings(area.root)
    found = prune(area, settings, dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "pruned": [p.as_json() for p in found]}, indent=2))
        return 0
    if not found:
        print("nothing to prune")
    verb = "would remove" if args.dry_run else "removed"
    for p in found:
        print(f"{verb if args.dry_run or p.removed else 'kept (changed meanwhile)'} {p.kind} {p.name}: {p.reason}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from backend.client import logs

    area = Area.open(args.area)
    dbfname = cli_dbfname(args.db) if args.db else None
    if args.lines < 0:
        raise CliError("-n must be >= 0")
    if args.follow:
        logs.follow(area, dbfname, args.server_id, args.lines, sys.stdout)
        return 0
    files = logs.select(area, dbfname, args.server_id)
    if not files:
        which = f"server-id {args.server_id}" if args.server_id else (dbfname or "any db")
        raise CliError(f"no server log for {which} in {area.logs_dir}")
    logs.show(area, files, args.lines, sys.stdout)
    return 0
