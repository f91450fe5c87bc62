"""``backend``: the operator's command line (SPEC §7).

Every error is one line on stderr (``backend: error: ...``) and a non-zero
exit: 1 for failures, 2 for usage errors. No traceback reaches a user.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

from backend import registry
from backend.area import Area, validate_dbfname
from backend.config import Settings, load_settings
from backend.errors import BackendError, ConfigError

EXIT_FAIL, EXIT_USAGE = 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class CliError(BackendError):
    pass


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override megatest.config [server] and MTSERVE_*)")
    for f in Settings.__dataclass_fields__.values():
        flag = "--" + f.name.replace("_", "-")
        g.add_argument(flag, dest=f"set_{f.name}", metavar=str(f.type).upper(), default=None)


def _settings(area: Area, args: argparse.Namespace) -> Settings:
    flags = {k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None}
    return load_settings(area.root, flags)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backend", description="mtserve database servers: run, inspect, call.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("server", help="run one server in the foreground")
    p.add_argument("--area", required=True)
    p.add_argument("--db", required=True, help="dbfname: main.db or <n>.db")
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    _add_settings_flags(p)

    p = sub.add_parser("serve", help="run and supervise server processes (headless mode)")
    p.add_argument("--area", required=True)
    p.add_argument("--db", action="append", help="dbfname to serve (repeatable; default main.db)")
    p.add_argument("--servers-per-db", type=int, default=1)
    p.add_argument("--json", action="store_true", help="state changes as JSON lines")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve Prometheus /metrics on this port (0: any free port, printed)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default loopback)")
    p.add_argument("--sync-to", help="also sync the area into this central PostgreSQL (docs/central.md)")
    p.add_argument("--sync-every", help="seconds between syncs (default 60, [sync] every)")
    p.add_argument("--area-tag", help=argparse.SUPPRESS)
    _add_settings_flags(p)

    p = sub.add_parser("list", help="every registration with state, load, age, touched, ping")
    p.add_argument("--area", required=True)
    p.add_argument("--db", help="only this dbfname")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ping", help="ping the servers of a db, or one HOST:PORT")
    p.add_argument("--area", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--db")
    target.add_argument("address", nargs="?", metavar="HOST:PORT")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("start", help="start a server for a db through the launcher")
    p.add_argument("--area", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--no-wait", action="store_true", help="do not wait for it to register")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stop", help="stop servers with the authenticated stop command")
    p.add_argument("--area", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--db")
    which.add_argument("--server-id")
    which.add_argument("--all", action="store_true")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for exit")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("key", help="create the area key if missing; show its path and fingerprint")
    p.add_argument("--area", required=True)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo-load", help="a synthetic harness: runs, tests, steps, data")
    p.add_argument("--area", required=True)
    p.add_argument("--tests", type=int, default=10)
    p.add_argument("--items", type=int, default=3)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--pause", type=float, default=0.0, help="seconds between calls (a light load)")
    p.add_argument("--forever", action="store_true", help="run the same run again when it ends")
    p.add_argument("--json", action="store_true", help="print the summary of each run as JSON")

    p = sub.add_parser("bench", help="side-by-side benchmarks (see docs/perf.md)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER)

    p = sub.add_parser("sync", help="sync the area into a central PostgreSQL (docs/central.md)")
    p.add_argument("--area", required=True)
    p.add_argument("--to", help="postgresql://... or an [ext-sync] name (default MTSERVE_SYNC_TO, [sync] to)")
    p.add_argument("--area-tag", help="tag(s) for the area, comma-separated (default: 'local' if untagged)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("central", help="query the central PostgreSQL across areas")
    p.add_argument("--to", help="postgresql://... (default MTSERVE_SYNC_TO)")
    csub = p.add_subparsers(dest="what", required=True, parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true")
    common.add_argument("--limit", type=int, default=200, help="at most this many rows (default 200)")
    q = csub.add_parser("runs", help="runs of every area, newest first", parents=[common])
    q.add_argument("--target", default="%", help="target pattern, %% as wildcard (default all)")
    q.add_argument("--deleted", action="store_true", help="include runs deleted in their area")
    q = csub.add_parser("tests", help="a test's history across areas, newest first", parents=[common])
    q.add_argument("testname")
    q.add_argument("--target", default="%", help="target pattern, %% as wildcard")
    q.add_argument("--item", default="%", help="item path pattern, %% as wildcard")

    p = sub.add_parser("call", help="run a database command")
    p.add_argument("--area", required=True)
    p.add_argument("--run-id", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--direct", action="store_true", help="read the db file without a server")
    p.add_argument("--deadline", type=float, default=None, help="seconds (default call-deadline)")
    p.add_argument("cmd")
    p.add_argument("params", nargs="*", metavar="PARAM", help="JSON if it parses, else a string")

    from backend.ops import observe

    observe.add_parsers(sub)
    return parser


# -- commands ---------------------------------------------------------------------


def cmd_server(args: argparse.Namespace) -> int:
    from backend.client.launcher import scale_out
    from backend.server.server import run_server

    area = Area.open(args.area)
    dbfname = validate_dbfname(args.db)
    settings = _settings(area, args)
    if args.detached:
        from backend.server.standby import fork_standby

        # Before anything else (no threads, no loop yet): later starts fork from it.
        area.ensure_dirs()
        fork_standby(area, settings, scale_out)
    return run_server(area, dbfname, settings, detached=args.detached, scale_out=scale_out)


def cmd_serve(args: argparse.Namespace) -> int:
    from backend.ops.supervisor import Supervisor

    area = Area.open(args.area)
    dbs = [validate_dbfname(d) for d in (args.db or ["main.db"])]
    if args.servers_per_db < 1:
        raise CliError("--servers-per-db must be at least 1")
    settings = _settings(area, args)
    if args.servers_per_db > settings.max_servers:
        raise CliError(f"--servers-per-db {args.servers_per_db} exceeds max-servers {settings.max_servers}")
    from backend.central.settings import load_sync_settings

    # A destination from the flag, MTSERVE_SYNC_TO or [sync] to turns the background sync on.
    sync = load_sync_settings(area.root, to=args.sync_to, every=args.sync_every, area_tag=args.area_tag)
    if not sync.to and args.sync_every is not None:
        raise CliError("--sync-every needs a destination: --sync-to, MTSERVE_SYNC_TO or [sync] to")
    sup = Supervisor(area, settings, dbs, args.servers_per_db, json_lines=args.json,
                     sync=sync if sync.to else None)
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


def cmd_list(args: argparse.Namespace) -> int:
    from backend.client.status import human_duration

    area = Area.open(args.area)
    dbfname = validate_dbfname(args.db) if args.db else None
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
    print(
        f"{'SERVER':<22} {'DB':<9} {'PID':>7} {'STATE':<13} {'LOAD':>4} {'AGE':>7} "
        f"{'TOUCHED':>7} {'PING':>9}  SERVER-ID"
    )
    for r in rows:
        d = r.as_json(now)
        state = d["state"] + ("*" if r.remote else "")
        load = "-" if d["sload"] is None else str(d["sload"])
        ping_ms = "-" if d["ping_ms"] is None else f"{d['ping_ms']:.2f}ms"
        print(
            f"{d['server']:<22} {d['dbfname']:<9} {d['pid']:>7} {state:<13} {load:>4} "
            f"{human_duration(d['age_s']):>7} {human_duration(d['touched_s']):>7} {ping_ms:>9}  {d['server_id'][:12]}"
        )
    if any(r.remote for r in rows):
        print("* on another host")
    for p in problems:
        print(f"backend: warning: .servinfo/{p.name}: {p.reason}", file=sys.stderr)
    return 0


def _parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"bad address {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def cmd_ping(args: argparse.Namespace) -> int:
    from backend.client.status import make_row
    from backend.wire.connection import ping

    area = Area.open(args.area)
    settings = load_settings(area.root)
    if args.address:
        host, port = _parse_address(args.address)
        res = ping(host, port, settings.ping_timeout)
        if args.json:
            print(json.dumps({"server": f"{host}:{port}", "ok": res.ok, "server_id": res.server_id,
                              "sstate": res.sstate, "sload": res.sload, "ping_ms": res.rtt_ms,
                              "error": res.error}))
        if not res.ok:
            raise CliError(f"{host}:{port}: no answer ({res.error})")
        if not args.json:
            print(f"{host}:{port} {res.sstate} sload={res.sload} {res.rtt_ms:.2f}ms server-id={res.server_id}")
        return 0
    dbfname = validate_dbfname(args.db)
    entries = registry.newest_first(registry.scan(area.servinfo_dir, dbfname).entries)
    if not entries:
        raise CliError(f"no server registered for {dbfname} in {area.root}")
    rows = [
        make_row(e, ping(e.registration.host, e.registration.port, settings.ping_timeout), settings.stale_after)
        for e in entries
    ]
    if args.json:
        print(json.dumps([r.as_json() for r in rows], indent=2))
    else:
        for r in rows:
            d = r.as_json()
            timing = f"{d['ping_ms']:.2f}ms" if d["ping_ms"] is not None else f"({d['error']})"
            print(f"{d['server']} {d['dbfname']} {d['state']} sload={d['sload']} {timing} server-id={d['server_id']}")
    if not any(r.state == "RUNNING" for r in rows):
        raise CliError(f"no running server for {dbfname} answered")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from backend.client.launcher import start_server

    area = Area.open(args.area)
    dbfname = validate_dbfname(args.db)
    settings = load_settings(area.root)
    res = start_server(area, dbfname, settings, force=True, why="operator")
    if not res.started:
        raise CliError(f"not starting a server for {dbfname}: {res.reason}")
    if args.no_wait:
        out: dict[str, Any] = {"started": True, "pid": res.pid}
    else:
        entry = _wait_registered(area, dbfname, res.pid, settings.call_deadline)
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


def _wait_registered(area: Area, dbfname: str, pid: int | None, timeout: float) -> registry.Entry | None:
    import psutil

    end = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < end:
        for e in registry.scan(area.servinfo_dir, dbfname).entries:
            if e.registration.pid == pid:
                return e
        if pid is not None and not psutil.pid_exists(pid):
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return None


def cmd_stop(args: argparse.Namespace) -> int:
    from backend.client.control import stop_servers
    from backend.client.standby import stop_standby

    area = Area.open(args.area)
    settings = load_settings(area.root)
    dbfname = validate_dbfname(args.db) if args.db else None
    results = stop_servers(area, settings, dbfname=dbfname, server_id=args.server_id,
                           timeout=args.timeout)
    # --all leaves nothing of ours running in the area: the warm standby goes too.
    standby_stopped = bool(args.all) and stop_standby(area)
    if not results and not standby_stopped:
        raise CliError("no matching server registered")
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    else:
        for r in results:
            print(f"{r.name}: {r.outcome}")
        if standby_stopped:
            print("standby: stopped")
    failed = [r for r in results if not r.stopped]
    if failed:
        raise CliError(f"{len(failed)} of {len(results)} servers not stopped: {failed[0].outcome}")
    return 0


def _param(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_call(args: argparse.Namespace) -> int:
    area = Area.open(args.area)
    params = [_param(p) for p in args.params]
    settings = load_settings(area.root)
    if args.direct:
        from backend.db.direct import call_direct

        result = call_direct(area, settings, args.cmd, args.run_id, params)
    else:
        from backend.client.client import Client

        with Client(area, settings) as client:
            result = client.call(args.cmd, *params, run_id=args.run_id, deadline=args.deadline)
    if args.json or not isinstance(result, str):
        print(json.dumps(result, default=_json_default))
    else:
        print(result)
    return 0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"cannot show {type(obj).__name__}")


def cmd_key(args: argparse.Namespace) -> int:
    import hashlib

    area = Area.open(args.area)
    existed = area.read_key() is not None
    key = area.key()
    # Never print the secret itself: a fingerprint lets hosts compare keys.
    info = {"path": str(area.key_path), "created": not existed,
            "fingerprint": hashlib.sha256(key).hexdigest()[:16]}
    print(json.dumps(info) if args.json else
          f"{info['path']} ({'created' if info['created'] else 'exists'}) fingerprint {info['fingerprint']}")
    return 0


def cmd_demo_load(args: argparse.Namespace) -> int:
    from backend.client.client import Client
    from backend.ops.demoload import run_demo_load

    area = Area.open(args.area)
    if args.tests < 1 or args.items < 0 or args.pause < 0:
        raise CliError("--tests must be >= 1, --items and --pause >= 0")
    with Client(area) as client:

        def paced(cmd: str, *params: Any, run_id: int | None = None) -> Any:
            if args.pause:
                time.sleep(args.pause)
            return client.call(cmd, *params, run_id=run_id)

        log = (lambda _msg: None) if args.json else print
        runname = None
        while True:
            # --forever keeps re-running the same run, so the load stays on
            # main.db and that run's db instead of spreading over every run db.
            summary = run_demo_load(paced, tests=args.tests, items=args.items, seed=args.seed,
                                    log=log, runname=runname)
            runname = summary["runname"]
            print(json.dumps(summary) if args.json else
                  f"run-id {summary['run_id']}: {summary['passed']} passed, "
                  f"{summary['failed']} failed, {summary['calls']} calls", flush=True)
            if not args.forever:
                return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from backend.central.report import sync_line
    from backend.central.settings import load_sync_settings
    from backend.central.sync import sync_area

    area = Area.open(args.area)
    conf = load_sync_settings(area.root, to=args.to, area_tag=args.area_tag)
    if not conf.to:
        raise CliError("no central database: give --to postgresql://..., MTSERVE_SYNC_TO or [sync] to")
    result = sync_area(area, conf.to, area_tag=conf.area_tag)
    print(json.dumps(result.as_dict()) if args.json else sync_line(result))
    return 0


def cmd_central(args: argparse.Namespace) -> int:
    from backend.central import query, report
    from backend.central.settings import load_sync_settings

    dest = load_sync_settings(None, to=args.to).to
    if not dest:
        raise CliError("no central database: give --to postgresql://... or MTSERVE_SYNC_TO")
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    if args.what == "runs":
        rows = query.runs_by_target(dest, args.target, include_deleted=args.deleted, limit=args.limit)
        cols = report.RUN_COLS
    else:
        rows = query.test_history(dest, args.testname, item_path=args.item, target=args.target, limit=args.limit)
        cols = report.TEST_COLS
    print(json.dumps(rows, indent=2) if args.json else report.table(rows, cols))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    # The one import from backend into bench (bench uses the monitor and Textual):
    # lazy, and listed under ignore_imports of the import-linter contract.
    try:
        from bench.harness import main as bench_main
    except ImportError as exc:
        raise CliError(f"the benchmark harness is not installed: {exc}") from exc
    rest = args.bench_args[1:] if args.bench_args[:1] == ["--"] else args.bench_args
    return bench_main(rest)


COMMANDS = {
    "bench": cmd_bench,
    "demo-load": cmd_demo_load,
    "key": cmd_key,
    "server": cmd_server, "serve": cmd_serve, "list": cmd_list, "ping": cmd_ping,
    "start": cmd_start, "stop": cmd_stop, "call": cmd_call,
    "sync": cmd_sync, "central": cmd_central,
}


def _observe_commands() -> dict[str, Any]:
    from backend.ops.observe import COMMANDS as observe

    return observe


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # The harness owns its flags; argparse.REMAINDER would not pass "--quick" through.
        argv = ["bench", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    try:
        handler = COMMANDS.get(args.command) or _observe_commands()[args.command]
        return handler(args)
    except BackendError as exc:
        print(f"backend: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("backend: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAIL
    except OSError as exc:
        print(f"backend: error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL


__all__ = ["main", "build_parser", "ConfigError"]
