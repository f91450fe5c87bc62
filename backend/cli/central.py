"""``backend sync`` and ``backend central``: an area into the central PostgreSQL,
and queries across areas (docs/central.md). psycopg is imported only here,
lazily, when one of these commands runs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from backend.area import Area
from backend.cli.common import CliError, number


def add_parsers(sub: Any, add: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    p = add("sync", "sync the area into a central PostgreSQL (Megatest's -sync-to; docs/central.md)")
    p.add_argument("--area", required=True, metavar="PATH", help="the area (test-suite) directory")
    p.add_argument("--to", help="postgresql://... or an [ext-sync] name (default MTSERVE_SYNC_TO, [sync] to)")
    p.add_argument("--area-tag", help="tag(s) for the area, comma-separated (default: 'local' if untagged)")
    p.add_argument("--json", action="store_true", help="the sync's figures as JSON")

    p = add("central", "query the central PostgreSQL across areas")
    p.add_argument("--to", help="postgresql://... (default MTSERVE_SYNC_TO)")
    csub = p.add_subparsers(dest="what", required=True, parser_class=parser_class)
    common = parser_class(add_help=False)
    common.add_argument("--json", action="store_true", help="rows as JSON")
    common.add_argument("--limit", type=number(int, 1, 10**7), default=200, help="at most this many rows (default 200)")
    q = csub.add_parser("runs", help="runs of every area, newest first", parents=[common])
    q.add_argument("--target", default="%", help="target pattern, %% as wildcard (default all)")
    q.add_argument("--deleted", action="store_true", help="include runs deleted in their area")
    q = csub.add_parser("tests", help="a test's history across areas, newest first", parents=[common])
    q.add_argument("testname", help="the test's name")
    q.add_argument("--target", default="%", help="target pattern, %% as wildcard")
    q.add_argument("--item", default="%", help="item path pattern, %% as wildcard")


def add_serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sync-to", help="also sync the area into this central PostgreSQL (docs/central.md)")
    p.add_argument("--sync-every", help="seconds between syncs (default 60, [sync] every)")
    p.add_argument("--area-tag", help=argparse.SUPPRESS)


def serve_sync_settings(area: Area, args: argparse.Namespace) -> Any:
    """The background sync's settings for ``backend serve``, or None when no
    destination is set (flag, MTSERVE_SYNC_TO or [sync] to)."""
    from backend.central.settings import load_sync_settings

    sync = load_sync_settings(area.root, to=args.sync_to, every=args.sync_every, area_tag=args.area_tag)
    if not sync.to and args.sync_every is not None:
        raise CliError("--sync-every needs a destination: --sync-to, MTSERVE_SYNC_TO or [sync] to")
    return sync if sync.to else None


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

