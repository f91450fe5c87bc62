"""The ``backend`` argument parser: every subcommand, option and help text.

Exit codes are in every command's ``--help`` (``EXIT_CODES``); ``call --help``
lists the database commands, built only when shown (it costs imports).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from backend.cli import central
from backend.cli.common import EXIT_CODES, EXIT_USAGE, LOAD_HELP, RUN_ID, SECONDS, number
from backend.config import Settings


class _Parser(argparse.ArgumentParser):
    # Help text that costs imports (the command table) is built only when shown.
    lazy_epilog: Callable[[], str] | None = None

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")

    def format_help(self) -> str:
        if self.lazy_epilog is not None:
            self.epilog = self.lazy_epilog()
        return super().format_help()


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override megatest.config [server] and MTSERVE_*)")
    defaults = Settings()
    for f in Settings.__dataclass_fields__.values():
        flag = "--" + f.name.replace("_", "-")
        g.add_argument(flag, dest=f"set_{f.name}", metavar=str(f.type).upper(), default=None,
                       help=f"default {getattr(defaults, f.name)}")


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


class _VersionAction(argparse.Action):
    # importlib.metadata costs ~20 ms: looked up only when --version is given.
    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"{parser.prog} {_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def _call_epilog() -> str:
    from backend.cli.callcheck import known_commands
    from backend.commandhelp import summaries

    text = summaries(sorted(known_commands()))
    return (f"commands (docs/api.md has params, results and errors):\n{text}\n\n"
            f"PARAM: JSON when it parses (42, true, null, [\"a\"], {{\"k\": \"v\"}}), else the string itself;\n"
            f"a PARAM starting with {{ or [ that does not parse is an error.\n\n{EXIT_CODES}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backend", description="mtserve database servers: run, inspect, call.",
                     epilog=EXIT_CODES + "\ndocs/operations.md is the operator's guide.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
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
    p.add_argument("--servers-per-db", type=number(int, 1, 1000), default=1, metavar="N",
                   help="servers kept running per db (default 1; at most max-servers)")
    _json_arg(p, "state changes (one line each)")
    p.add_argument("--metrics-port", type=number(int, 0, 65535), default=None,
                   help="serve Prometheus /metrics on this port (0: any free port, printed)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default loopback)")
    central.add_serve_flags(p)
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
    p.add_argument("--timeout", type=SECONDS, default=15.0, metavar="S",
                   help="seconds to wait for a server to exit after asking (default 15)")
    p.add_argument("--force", action="store_true",
                   help="if it does not exit (or cannot be asked): SIGTERM, then SIGKILL, for a local server "
                        "proven to be this area's; then remove its registration")
    p.add_argument("--kill-after", type=SECONDS, default=5.0, metavar="S",
                   help="with --force: seconds between SIGTERM and SIGKILL (default 5)")
    _json_arg(p)
    _quiet_arg(p)

    p = add("restart", "start a new server, then stop the old ones (the db is never without a server)")
    _area_arg(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--db", help="restart the servers of this dbfname")
    which.add_argument("--all", action="store_true", help="every db that has a registration")
    p.add_argument("--timeout", type=SECONDS, default=15.0, metavar="S",
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
    p.add_argument("-n", "--lines", type=number(int, 0, 10**7), default=10, metavar="N",
                   help="last N lines of each log (default 10)")

    p = add("key", "create the area key if missing; show its path and fingerprint")
    _area_arg(p)
    _json_arg(p)

    p = add("demo-load", "a synthetic harness: runs, tests, steps, data")
    _area_arg(p)
    p.add_argument("--tests", type=number(int, 1, 10**6), default=10, help="tests per run (default 10)")
    p.add_argument("--items", type=number(int, 0, 10**4), default=3, help="items per iterated test (default 3)")
    p.add_argument("--seed", type=number(int, -(2**63), 2**63 - 1), default=None, help="random seed (default: random)")
    p.add_argument("--pause", type=number(float, 0, 3600), default=0.0, help="seconds between calls (a light load)")
    p.add_argument("--forever", action="store_true", help="run the same run again when it ends")
    _json_arg(p, "the summary of each run")

    p = add("bench", "side-by-side benchmarks (see docs/perf.md; backend bench --help)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark's own flags")

    p = add("call", "run a database command")
    assert isinstance(p, _Parser)
    p.lazy_epilog = _call_epilog
    _area_arg(p)
    p.add_argument("--run-id", type=RUN_ID, default=None, help="the run: its db is <run-id %% num-run-dbs>.db")
    _json_arg(p, "the result")
    p.add_argument("--direct", action="store_true", help="read the db file without a server")
    p.add_argument("--deadline", type=SECONDS, default=None, metavar="S",
                   help="seconds for the whole call (default call-deadline, 30)")
    _quiet_arg(p)
    p.add_argument("cmd", metavar="CMD", help="the command (listed below)")
    p.add_argument("params", nargs="*", metavar="PARAM", help="JSON if it parses, else a string")

    central.add_parsers(sub, add, _Parser)
    _add_observe_parsers(add)
    return parser


def _add_observe_parsers(add: Any) -> None:
    """stats, metrics, events (run by ``backend.ops.observe``, imported only then)."""
    p = add("stats", "per-server counters: req/s, latency, errors, load, connections")
    p.add_argument("--area", required=True, metavar="PATH", help="the area (test-suite) directory")
    p.add_argument("--db", help="only this dbfname")
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between the two samples the current rate is taken over (0: one sample)")
    p.add_argument("--json", action="store_true", help="the figures as JSON")

    p = add("metrics", "every server's counters in the Prometheus text format")
    p.add_argument("--area", required=True, metavar="PATH", help="the area (test-suite) directory")

    p = add("events", "the area's event history (starts, retirements, crashes ...)")
    p.add_argument("--area", required=True, metavar="PATH", help="the area (test-suite) directory")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("-n", "--lines", type=int, default=None, help="only the last N events")


# -- commands ---------------------------------------------------------------------
