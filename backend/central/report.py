"""Text for people: a sync result, runs and test history as aligned columns."""

from __future__ import annotations

import time
from typing import Any

from backend.central.sync import SyncResult

TABLES = ("runs", "run_stats", "tests", "test_steps", "test_data")


def sync_line(res: SyncResult) -> str:
    parts = []
    for tbl in TABLES:
        c = res.tables.get(tbl)
        if c is None:
            continue
        extra = "".join(f" {n} {k}" for k, n in (("refused", c.refused), ("skipped", c.skipped)) if n)
        parts.append(f"{tbl} {c.inserted} new {c.changed} changed ({c.read} read{extra})")
    return (f"{res.area} -> area {res.area_name} (id {res.area_id}) in {res.seconds:.2f}s: "
            + ("; ".join(parts) or "nothing to sync"))


def _when(epoch: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(int(epoch)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    """``cols``: (heading, key); ``event_time`` shown as a date."""
    cells = [[h for h, _ in cols]]
    for r in rows:
        cells.append([_when(r[k]) if k == "event_time" else str(r[k] if r[k] is not None else "")
                      for _, k in cols])
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(cols))).rstrip() for c in cells)


RUN_COLS = [("AREA", "area_name"), ("TARGET", "target"), ("RUN", "run_name"), ("STATE", "state"),
            ("STATUS", "status"), ("PASS", "pass_count"), ("FAIL", "fail_count"), ("TIME", "event_time")]
TEST_COLS = [("AREA", "area_name"), ("TARGET", "target"), ("RUN", "run_name"), ("ITEM", "item_path"),
             ("STATE", "state"), ("STATUS", "status"), ("HOST", "host"), ("TIME", "event_time")]
