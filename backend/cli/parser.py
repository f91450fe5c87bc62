"""The ``backend`` argument parser: every subcommand, option and help text.

Exit codes are in every command's ``--help`` (``EXIT_CODES``). The top
parser and ``call`` are built by ``callparser.py``, which a ``backend call``
uses alone (it never imports this module).
"""

from __future__ import annotations

import argparse
from typing import Any

from backend.cli import central
from backend.cli.callparser import Parser, add_call, area_arg, json_arg, quiet_arg, top_parser
from backend.cli.common import LOAD_HELP, SECONDS, number
from backend.config import SETTING_TYPES, Settings


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override megatest.config [server] and MTSERVE_*)")
    defaults = Settings()
    for name, typ in SETTING_TYPES.items():
        flag = "--" + name.replace("_", "-")
        g.add_argument(flag, dest=f"set_{name}", metavar=typ.__name__.upper(), default=None,
                       help=f"default {getattr(defaults, name)}")


def build_parser() -> argparse.ArgumentParser:
    parser, sub, add = top_parser()

    p = add("server", "run one server in the foreground (what the launcher starts)")
    area_arg(p)
    p.add_argument("--db", required=True, help="dbfname: main.db or <n>.db")
    p.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    _add_settings_flags(p)

    p = add("serve", "run and supervise server processes (headless mode); one per area")
    area_arg(p)
    p.add_argument("--db", action="append", help="dbfname to serve (repeatable; default main.db)")
    p.add_argument("--servers-per-db", type=number(int, 1, 1000), default=1, metavar="N",
                   help="servers kept running per db (default 1; at most max-servers)")
    json_arg(p, "state changes (one line each)")
    p.add_argument("--metrics-port", type=number(int, 0, 65535), default=None,
                   help="serve Prometheus /metrics on this port (0: any free port, printed)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default loopback)")
    central.add_serve_flags(p)
    _add_settings_flags(p)

    p = add("list", f"every registration with state, load, age, touched, ping ({LOAD_HELP})")
    area_arg(p)
    p.add_argument("--db", help="only this dbfname")
    json_arg(p)

    p = add("ping", "ping the servers of a db, or one HOST:PORT, with timing")
    area_arg(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--db", help="ping every registered server of this dbfname")
    target.add_argument("address", nargs="?", metavar="HOST:PORT", help="ping this address")
    json_arg(p, "the same records as list --json")

    p = add("start", "start a server for a db through the launcher")
    area_arg(p)
    p.add_argument("--db", required=True, help="dbfname: main.db or <n>.db")
    p.add_argument("--no-wait", action="store_true", help="do not wait for it to register")
    json_arg(p)

    p = add("stop", "stop servers with the authenticated stop command (--force: then SIGTERM, SIGKILL)")
    area_arg(p)
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
    json_arg(p)
    quiet_arg(p)

    p = add("restart", "start a new server, then stop the old ones (the db is never without a server)")
    area_arg(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--db", help="restart the servers of this dbfname")
    which.add_argument("--all", action="store_true", help="every db that has a registration")
    p.add_argument("--timeout", type=SECONDS, default=15.0, metavar="S",
                   help="seconds to wait for each old server to exit (default 15)")
    p.add_argument("--force", action="store_true", help="stop old servers as stop --force does")
    json_arg(p)

    p = add("prune", "remove registrations of servers that are provably dead, and leftover lock/temp files")
    area_arg(p)
    p.add_argument("--dry-run", "-n", action="store_true", help="say what would be removed; remove nothing")
    json_arg(p)

    p = add("logs", "server logs, newest server first (-f: follow, also across restarts)")
    area_arg(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--db", help="only the servers of this dbfname")
    which.add_argument("--server-id", metavar="ID", help="only this server (a prefix is enough)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C ends)")
    p.add_argument("-n", "--lines", type=number(int, 0, 10**7), default=10, metavar="N",
                   help="last N lines of each log (default 10)")

    p = add("key", "create the area key if missing; show its path and fingerprint")
    area_arg(p)
    json_arg(p)

    p = add("demo-load", "a synthetic harness: runs, tests, steps, data")
    area_arg(p)
    p.add_argument("--tests", type=number(int, 1, 10**6), default=10, help="tests per run (default 10)")
    p.add_argument("--items", type=number(int, 0, 10**4), default=3, help="items per iterated test (default 3)")
    p.add_argument("--seed", type=number(int, -(2**63), 2**63 - 1), default=None, help="random seed (default: random)")
    p.add_argument("--pause", type=number(float, 0, 3600), default=0.0, help="seconds between calls (a light load)")
    p.add_argument("--forever", action="store_true", help="run the same run again when it ends")
    json_arg(p, "the summary of each run")

    p = add("bench", "side-by-side benchmarks (see docs/perf.md; backend bench --help)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="the benchmark's own flags")

    add_call(add)

    central.add_parsers(sub, add, Parser)
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
