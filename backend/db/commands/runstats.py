"""Run statistics and times (api.scm: get-raw-run-stats and get-test-times of
the TESTS group, get-main-run-stats, get-run-stats and get-run-times of the
RUNS group).

``get-raw-run-stats`` runs on the run's db (run-id in the request); the others
are main.db commands (run-id None) that also read the tests of the runs they
report on from the run databases (``crossdb``: read-only connections).

Which rows count: the same rule as the running counts (docs/api.md, "Running
counts"): a parent row that has items is a summary of them, not a job, and is
left out of ``get-raw-run-stats``; ``get-run-stats`` counts every row, as
Megatest does.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import CallContext, arity, command, want_int, want_str
from backend.db.commands.crossdb import select_main, select_run_tests
from backend.db.commands.patterns import to_glob
from backend.db.commands.runlist import LIVE, target_expr
from backend.db.commands.runs import get_key_names
from backend.db.commands.scope import require_main, require_run

# A parent row that has items is a summary, not a job (the rule of the counts).
LEAF = (
    "NOT (t.item_path = '' AND EXISTS (SELECT 1 FROM tests i WHERE i.run_id = t.run_id "
    "AND i.testname = t.testname AND i.item_path != ''))"
)


@command("get-raw-run-stats", write=False)
def get_raw_run_stats(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> [{state, status, count}] of the run's jobs (deleted ones included)."""
    run_id = require_run(ctx, "get-raw-run-stats")
    arity(params, 0)
    return [
        {"state": r[0], "status": r[1], "count": r[2]}
        for r in conn.execute(
            f"SELECT state, status, count(*) FROM tests t WHERE run_id = ? AND {LEAF} "
            "GROUP BY state, status ORDER BY state DESC, status DESC",
            (run_id,),
        )
    ]


@command("get-main-run-stats", write=False)
def get_main_run_stats(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> [{state, status, count}] recorded in run_stats by update-run-stats,
    newest row first; [] for a deleted or unknown run."""
    require_main(ctx, "get-main-run-stats")
    arity(params, 1)
    run_id = want_int(params[0], "run-id")
    return select_main(
        conn, ctx,
        "SELECT s.state, s.status, s.count FROM run_stats s JOIN runs r ON r.id = s.run_id "
        "WHERE s.run_id = ? AND r.state NOT IN ('deleted', 'DELETED') ORDER BY s.id DESC",
        [run_id],
    )


@command("get-run-stats", write=False)
def get_run_stats(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> [{runname, netstate, count}]: "Totals" first, then one block per run
    (not deleted), newest run first; net state = the status of COMPLETED rows,
    else the state; each block in ascending net-state order."""
    require_main(ctx, "get-run-stats")
    arity(params, 0)
    runs = conn.execute(
        f"SELECT id, runname FROM runs WHERE {LIVE} ORDER BY event_time DESC, id DESC"
    ).fetchall()
    counts = select_run_tests(
        conn, ctx, [r[0] for r in runs],
        "SELECT run_id, CASE WHEN state = 'COMPLETED' THEN status ELSE state END AS net, "
        "count(*) AS n FROM tests WHERE run_id IN ({ids}) GROUP BY run_id, net", [],
    )
    per_run: dict[int, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for c in counts:
        per_run.setdefault(c["run_id"], {})[c["net"]] = c["n"]
        totals[c["net"]] = totals.get(c["net"], 0) + c["n"]
    out = [{"runname": "Totals", "netstate": k, "count": v} for k, v in sorted(totals.items())]
    for run_id, runname in runs:
        out += [{"runname": runname, "netstate": k, "count": v}
                for k, v in sorted(per_run.get(run_id, {}).items())]
    return out


@command("get-run-times", write=False)
def get_run_times(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[runpatt, targetpatt] -> [{runname, minutes, target}] per matching run with
    tests (deleted included, as Megatest): (last end - first start) // 60,
    newest run id first."""
    require_main(ctx, "get-run-times")
    arity(params, 2)
    runpatt = want_str(params[0], "runname pattern")
    targpatt = want_str(params[1], "target pattern")
    keys = get_key_names(conn)
    if not keys:
        return []
    runs = conn.execute(
        f"SELECT id, runname, {target_expr(keys)} FROM runs WHERE runname GLOB ? "
        f"AND ({target_expr(keys)}) GLOB ? ORDER BY id DESC",
        (to_glob(runpatt), to_glob(targpatt)),
    ).fetchall()
    spans = {
        s["run_id"]: s["minutes"]
        for s in select_run_tests(
            conn, ctx, [r[0] for r in runs],
            "SELECT run_id, CAST((max(event_time + run_duration) - min(event_time)) / 60 "
            "AS INTEGER) AS minutes FROM tests WHERE run_id IN ({ids}) GROUP BY run_id", [],
        )
    }
    return [{"runname": name, "minutes": spans[rid], "target": target}
            for rid, name, target in runs if rid in spans]


@command("get-test-times", write=False)
def get_test_times(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[runname, target] -> [{testname, item_path, run_duration}] of the tests of
    the runs with exactly that name and target, newest row first."""
    require_main(ctx, "get-test-times")
    arity(params, 2)
    runname = want_str(params[0], "runname")
    target = want_str(params[1], "target")
    keys = get_key_names(conn)
    if not keys:
        return []
    ids = [r[0] for r in conn.execute(
        f"SELECT id FROM runs WHERE runname = ? AND ({target_expr(keys)}) = ? ORDER BY id DESC",
        (runname, target))]
    rows = select_run_tests(
        conn, ctx, ids,
        "SELECT testname, item_path, run_duration, id, run_id FROM tests "
        "WHERE run_id IN ({ids}) ORDER BY id DESC", [],
    )
    return [{"testname": r["testname"], "item_path": r["item_path"],
             "run_duration": r["run_duration"]} for r in rows]
