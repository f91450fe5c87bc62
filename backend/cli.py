"""``backend``: the operator's command line (SPEC §7).

Every error is one line on stderr (``backend: error: ...``) and a non-zero
exit: 1 for failures, 2 for usage errors. No traceback reaches a user.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

from backend import registry
from backend.area import Area, validate_dbfname
from backend.config import Settings, load_settings
from backend.errors import BackendError, ConfigError

EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_CODES = """\
exit codes:
  0    success (also: stop --all with nothing running, prune with nothing to prune)
  1    failure; one line on stderr says why
  2    usage error (bad flags or arguments)
  130  interrupted (Ctrl-C)
"""
LOAD_HELP = "load = requests in flight on the server (Megatest's sload)"


class _Parser(argparse.ArgumentParser):
    # Help text that costs imports (the command table) is built only when shown.
    lazy_epilog: Callable[[], str] | None = None

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

    def format_help(self) -> str:
        if self.lazy_epilog is not None:
            self.epilog = self.lazy_epilog()
        return super().format_help()


class CliError(BackendError):
    pass


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override megatest.config [server] and MTSERVE_*)")
    defaults = Settings()
    for f in Settings.__dataclass_fields__.values():
        flag = "--" + f.name.replace("_", "-")
        g.add_argument(flag, dest=f"set_{f.name}", metavar=str(f.type).upper(), default=None,
                       help=f"default {getattr(defaults, f.name)}")


def _settings(area: Area, args: argparse.Namespace) -> Settings:
    flags = {k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None}
    return load_settings(area.root, flags)


def cli_dbfname(text: str) -> str:
    """A dbfname as an operator types it: also in canonical form, so ``01.db``
    (which would be a different file from ``1.db``, and which Megatest never
    names) is refused instead of starting a server for an empty db."""
    name = validate_dbfname(text)
    digits = name[:-3]
    if digits.isdigit() and str(int(digits)) != digits:
        raise CliError(f"invalid dbfname {text!r}: run dbs are named without leading zeros ({int(digits)}.db)")
    return name


def _area_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--area", required=True, metavar="PATH", help="the area (test-suite) directory")


def _json_arg(p: argparse.ArgumentParser, what: str = "the output") -> None:
    p.add_argument("--json", action="store_true", help=f"{what} as JSON")


def _quiet_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress line on stderr during long waits (none is shown when stderr is not a terminal)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mtserve")
    except PackageNotFoundError:
        return "unknown"


def _call_epilog() -> str:
    from backend.client.client import known_commands
    from backend.commandhelp import summaries

    text = summaries(sorted(known_commands()))
    return (f"commands (docs/api.md has params, results and errors):\n{text}\n\n"
            f"PARAM: JSON when it parses (42, true, null, [\"a\"], {{\"k\": \"v\"}}), else the string itself;\n"
            f"a PARAM starting with {{ or [ that does not parse is an error.\n\n{EXIT_CODES}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backend", description="mtserve database servers: run, inspect, call.",
                     epilog=EXIT_CODES + "\ndocs/operations.md is the operator's guide.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def add(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=kw.pop("epilog", EXIT_CODES),
                              formatter_class=argparse.RawDescriptionHelpFormatter, **kw)

    p = add("server", "run one server in the foreground (what the launcher starts)")
    _area_arg(p)
    p.add_argument("--db", required=True, help="dbfname: main.db or <n>.db")
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    _add_settings_flags(p)

    p = add("serve", "run and supervise server processes (headless mode); one per area")
    _area_arg(p)
    p.add_argument("--db", action="append", help="dbfname to serve (repeatable; default main.db)")
    p.add_argument("--servers-per-db", type=int, default=1, metavar="N",
                   help="servers kept running per db (default 1; at most max-servers)")
    _json_arg(p, "state changes (one line each)")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve Prometheus /metrics on this port (0: any free port, printed)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default loopback)")
    _add_settings_flags(p)

    p = add("list", f"every registration with state, load, age, touched, ping ({LOAD_HELP})")
    _area_arg(p)
    p.add_argument("--db", help="only this dbfname")
    _json_arg(p)

    p = add("ping", "ping the servers of a db, or one HOST:PORT, with timing")
    _area_arg(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--db", help="ping every registered server of this dbfname")
    target.add_argument("address", nargs="?", metavar="HOST:PORT", help="ping this address")
    _json_arg(p, "the same records as list --json")

    p = add("start", "start a server for a db through the launcher")
    _area_arg(p)
    p.add_argument("--db", required=True, help="dbfname: main.db or <n>.db")
    p.add_argument("--no-wait", action="store_true", help="do not wait for it to register")
    _json_arg(p)

    p = add("stop", "stop servers with the authenticated stop command (--force: then SIGTERM, SIGKILL)")
    _area_arg(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--db", help="every server of this dbfname")
    which.add_argument("--server-id", metavar="ID", help="one server (a unique prefix is enough)")
    which.add_argument("--all", action="store_true", help="every server of the area, and the warm standby")
    p.add_argument("--timeout", type=float, default=15.0, metavar="S",
                   help="seconds to wait for a server to exit after asking (default 15)")
    p.add_argument("--force", action="store_true",
                   help="if it does not exit (or cannot be asked): SIGTERM, then SIGKILL, for a local server "
                        "proven to be this area's; then remove its registration")
    p.add_argument("--kill-after", type=float, default=5.0, metavar="S",
                   help="with --force: seconds between SIGTERM and SIGKILL (default 5)")
    _json_arg(p)
    _quiet_arg(p)

    p = add("restart", "start a new server, then stop the old ones (the db is never without a server)")
    _area_arg(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--db", help="restart the servers of this dbfname")
    which.add_argument("--all", action="store_true", help="every db that has a registration")
    p.add_argument("--timeout", type=float, default=15.0, metavar="S",
                   help="seconds to wait for each old server to exit (default 15)")
    p.add_argument("--force", action="store_true", help="stop old servers as stop --force does")
    _json_arg(p)

    p = add("prune", "remove registrations of servers that are provably dead, and leftover lock/temp files")
    _area_arg(p)
    p.add_argument("--dry-run", "-n", action="store_true", help="say what would be removed; remove nothing")
    _json_arg(p)

    p = add("logs", "server logs, newest server first (-f: follow, also across restarts)")
    _area_arg(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--db", help="only the servers of this dbfname")
    which.add_argument("--server-id", metavar="ID", help="only this server (a prefix is enough)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C ends)")
    p.add_argument("-n", "--lines", type=int, default=10, metavar="N", help="last N lines of each log (default 10)")

    p = add("key", "create the area key if missing; show its path and fingerprint")
    _area_arg(p)
    _json_arg(p)

    p = add("demo-load", "a synthetic harness: runs, tests, steps, data")
    _area_arg(p)
    p.add_argument("--tests", type=int, default=10, help="tests per run (default 10)")
    p.add_argument("--items", type=int, default=3, help="items per iterated test (default 3)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--pause", type=float, default=0.0, help="seconds between calls (a light load)")
    p.add_argument("--forever", action="store_true", help="run the same run again when it ends")
    _json_arg(p, "the summary of each run")

    p = add("bench", "side-by-side benchmarks (see docs/perf.md; backend bench --help)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark's own flags")

    p = add("call", "run a database command")
    assert isinstance(p, _Parser)
    p.lazy_epilog = _call_epilog
    _area_arg(p)
    p.add_argument("--run-id", type=int, default=None, help="the run: its db is <run-id %% num-run-dbs>.db")
    _json_arg(p, "the result")
    p.add_argument("--direct", action="store_true", help="read the db file without a server")
    p.add_argument("--deadline", type=float, default=None, metavar="S",
                   help="seconds for the whole call (default call-deadline, 30)")
    _quiet_arg(p)
    p.add_argument("cmd", metavar="CMD", help="the command (listed below)")
    p.add_argument("params", nargs="*", metavar="PARAM", help="JSON if it parses, else a string")

    from backend.ops import observe

    observe.add_parsers(sub)
    return parser


# -- commands ---------------------------------------------------------------------


def cmd_server(args: argparse.Namespace) -> int:
    from backend.client.launcher import scale_out
    from backend.server.server import run_server

    area = Area.open(args.area)
    dbfname = cli_dbfname(args.db)
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
    dbs = [cli_dbfname(d) for d in (args.db or ["main.db"])]
    if args.servers_per_db < 1:
        raise CliError("--servers-per-db must be at least 1")
    settings = _settings(area, args)
    if args.servers_per_db > settings.max_servers:
        raise CliError(f"--servers-per-db {args.servers_per_db} exceeds max-servers {settings.max_servers}: "
                       f"raise max-servers (megatest.config [server] or --max-servers) or ask for fewer")
    sup = Supervisor(area, settings, dbs, args.servers_per_db, json_lines=args.json)
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
    for p in problems:
        print(f"backend: warning: .servinfo/{p.name}: {p.reason}", file=sys.stderr)
    return 0


def _parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"bad address {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def cmd_ping(args: argparse.Namespace) -> int:
    from backend.client.status import address_row
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
    if not any(r.state == "RUNNING" for r in rows):
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
    from backend.client.control import stop_servers
    from backend.client.standby import stop_standby
    from backend.progress import Progress

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


def cmd_call(args: argparse.Namespace) -> int:
    from backend.callcheck import check_run, parse_param
    from backend.client.client import check_command

    area = Area.open(args.area)
    params = [parse_param(p, i) for i, p in enumerate(args.params, 1)]
    settings = load_settings(area.root)
    check_command(args.cmd)
    if args.direct:
        from backend.db.direct import call_direct

        result = call_direct(area, settings, args.cmd, args.run_id, params)
    else:
        from backend.client.client import Client
        from backend.progress import Progress

        check_run(area, args.cmd, args.run_id)
        with Progress("waiting for a server to answer", enabled=not args.quiet) as progress, \
                Client(area, settings, on_wait=progress.set) as client:
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
    "start": cmd_start, "stop": cmd_stop, "restart": cmd_restart, "prune": cmd_prune,
    "logs": cmd_logs, "call": cmd_call,
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
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAIL
    except OSError as exc:
        print(f"backend: error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL


__all__ = ["main", "build_parser", "ConfigError"]
