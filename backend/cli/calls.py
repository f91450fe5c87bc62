"""``backend`` subcommands that use the database: call, key, demo-load, bench."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from backend.area import Area
from backend.cli.common import CliError
from backend.config import load_settings

if TYPE_CHECKING:
    import argparse


def cmd_call(args: argparse.Namespace) -> int:
    from backend.cli.callcheck import check_command, check_run, parse_param

    area = Area.open(args.area)
    params = [parse_param(p, i) for i, p in enumerate(args.params, 1)]
    settings = load_settings(area.root)
    check_command(args.cmd, params)
    if args.direct:
        from backend.db.direct import call_direct

        result = call_direct(area, settings, args.cmd, args.run_id, params)
    else:
        from backend.cli.progress import Progress
        from backend.client.client import Client

        check_run(area, args.cmd, args.run_id)
        with Progress("waiting for a server to answer", enabled=not args.quiet) as progress, \
                Client(area, settings, on_wait=progress.set) as client:
            result = client.call(args.cmd, *params, run_id=args.run_id, deadline=args.deadline)
    if args.json or not isinstance(result, str):
        import json  # not for a string answer (callcheck._JSON_FIRST says why)

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
    import json

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
    import json

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
