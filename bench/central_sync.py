"""Rows per second synced into a central PostgreSQL (docs/central.md).

    python -m bench.central_sync [--tests 10000] [--to postgresql://...]

Builds an area of ``--tests`` tests (one run; each test 2 steps recorded as
start+end rows = 4 step rows, and 2 data rows) with group-committed batches in
this process, then measures four passes of ``sync_area``: the first (every
row new); "incremental", after 1% of the tests changed state and got one new
step each (it also re-reads the steps and data written in the last second of
the bulk build: PLAIN_STAMP_MARGIN); "steady", the same change to another 1% (the
watermarks now sit at the last change, as in a live area); and one with
nothing changed. Without ``--to`` it starts a
throwaway server like the tests do (tests/central/pgserver.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backend.area import Area
from backend.central.sync import PLAIN_STAMP_MARGIN, sync_area
from backend.ops.demoload import LocalCaller

BATCH = 500


def build_area(root: Path, tests: int) -> int:
    (root / "megatest.config").write_text("")
    with LocalCaller(root / ".mtdb") as lc:
        run_id = lc("register-run", {"SYSTEM": "linux", "RELEASE": "v1"}, "bench_run", "new", "n/a", "bench")

        def batched(items: list[tuple[str, list[Any]]]) -> list[Any]:
            out: list[Any] = []
            for i in range(0, len(items), BATCH):
                res = lc.run([(cmd, run_id, params, None) for cmd, params in items[i:i + BATCH]])
                bad = [r for ok, r in res if not ok]
                if bad:
                    raise SystemExit(f"building the area failed: {bad[0]}")
                out.extend(r for _, r in res)
            return out

        ids = batched([("register-test", [f"test{t // 100:03d}", f"item/{t % 100}"]) for t in range(tests)])
        steps = []
        for tid in ids:
            for step in ("setup", "run"):
                steps.append(("teststep-set-status!", [tid, step, "start", "n/a", "", ""]))
                steps.append(("teststep-set-status!", [tid, step, "end", "PASS", "", f"{step}.log"]))
        batched(steps)
        batched([("csv->test-data", [tid, "perf,runtime,12.5,10,5,s,,,\nperf,memory,300,512,<=,MB,,,"])
                 for tid in ids])
        batched([("test-set-state-status-by-id", [tid, "COMPLETED", "PASS", ""]) for tid in ids])
        return int(run_id)


def change_some(root: Path, run_id: int, every: int, offset: int = 0) -> int:
    with LocalCaller(root / ".mtdb") as lc:
        tids = [t["id"] for t in lc("get-tests-for-run", run_id=run_id) if t["item_path"]][offset::every]
        items = []
        for tid in tids:
            items.append(("test-set-state-status-by-id", run_id, [tid, "COMPLETED", "FAIL", "changed"], None))
            items.append(("teststep-set-status!", run_id, [tid, "rerun", "end", "FAIL", "", ""], None))
        for i in range(0, len(items), BATCH):
            lc.run(items[i:i + BATCH])
        return len(tids)


def measure(url: str, tests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mtserve-bench-") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        run_id = build_area(root, tests)
        built = time.monotonic() - t0
        area = Area.open(root)
        # Step and data rows are re-read PLAIN_STAMP_MARGIN seconds back: let the
        # build age past it, as an area's rows have between two syncs.
        time.sleep(PLAIN_STAMP_MARGIN + 0.5)
        out: dict[str, Any] = {"tests": tests, "build_seconds": round(built, 1)}
        first = sync_area(area, url)
        changed = change_some(root, run_id, 100)
        time.sleep(PLAIN_STAMP_MARGIN + 0.5)
        second = sync_area(area, url)
        change_some(root, run_id, 100, offset=50)
        time.sleep(PLAIN_STAMP_MARGIN + 0.5)
        steady = sync_area(area, url)
        unchanged = sync_area(area, url)
        for name, res in (("first", first), ("incremental", second), ("steady", steady),
                          ("unchanged", unchanged)):
            out[name] = {"written": res.written, "read": res.rows, "seconds": round(res.seconds, 3),
                         "written_per_s": round(res.written / res.seconds) if res.seconds else None,
                         "read_per_s": round(res.rows / res.seconds) if res.seconds else None}
        out["incremental"]["tests_changed"] = out["steady"]["tests_changed"] = changed
        return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.central_sync", description=__doc__.splitlines()[0])
    p.add_argument("--tests", type=int, default=10000)
    p.add_argument("--to", help="a central PostgreSQL URL (default: a throwaway server)")
    args = p.parse_args(argv)
    if args.to:
        print(json.dumps(measure(args.to, args.tests), indent=2))
        return 0
    from tests.central.pgserver import PgServer

    srv = PgServer.start()
    try:
        print(json.dumps(measure(srv.url(), args.tests), indent=2))
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
