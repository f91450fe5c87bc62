"""Roll-up of item tests into their parent (the row with item_path '').

Megatest keeps a top-level row for an iterated test and derives it from its
items (``update-pass-fail-counts`` + ``top-test-set-per-pf-counts``). Our rule,
applied whenever an item is registered or its state/status changes; items in
state DELETED are ignored:

* ``pass_count`` = items with status PASS, WARN or WAIVED;
  ``fail_count`` = items with status FAIL, CHECK or ABORT (Megatest's sets,
  plus ABORT, which Megatest left out).
* state: NOT_STARTED if every item is NOT_STARTED; else RUNNING while any item
  is NOT_STARTED, LAUNCHED, REMOTEHOSTSTART or RUNNING; else INCOMPLETE if any
  item is INCOMPLETE, else KILLED if any is KILLED, else COMPLETED.
* status: the worst status among the items, in the order
  ABORT > FAIL > CHECK > (any other string) > WARN > WAIVED > PASS > SKIP;
  items with status n/a (or empty) have no say; "n/a" if none has a status.

Setting the parent itself directly is allowed and applied as given; the next
item change recomputes it.
"""

from __future__ import annotations

import sqlite3

PASS_STATUSES = ("PASS", "WARN", "WAIVED")
FAIL_STATUSES = ("FAIL", "CHECK", "ABORT")
ACTIVE_STATES = ("NOT_STARTED", "LAUNCHED", "REMOTEHOSTSTART", "RUNNING")
RUNNING_STATES = ("RUNNING", "LAUNCHED", "REMOTEHOSTSTART")
# Worst first; a status not listed ranks between CHECK and WARN.
_WORST_FIRST = ("ABORT", "FAIL", "CHECK", None, "WARN", "WAIVED", "PASS", "SKIP")
_RANK = {s: i for i, s in enumerate(_WORST_FIRST)}
_UNKNOWN_RANK = _RANK[None]


def parent_state(states: list[str]) -> str:
    if all(s == "NOT_STARTED" for s in states):
        return "NOT_STARTED"
    if any(s in ACTIVE_STATES for s in states):
        return "RUNNING"
    if "INCOMPLETE" in states:
        return "INCOMPLETE"
    if "KILLED" in states:
        return "KILLED"
    return "COMPLETED"


def parent_status(statuses: list[str | None]) -> str:
    decided = [s for s in statuses if s and s != "n/a"]
    if not decided:
        return "n/a"
    return min(decided, key=lambda s: _RANK.get(s, _UNKNOWN_RANK))


def roll_up(conn: sqlite3.Connection, run_id: int, testname: str) -> None:
    """Recompute the parent row of ``testname`` in ``run_id`` from its items."""
    items = conn.execute(
        "SELECT state, status FROM tests WHERE run_id = ? AND testname = ? "
        "AND item_path != '' AND state != 'DELETED'",
        (run_id, testname),
    ).fetchall()
    if not items:
        return
    states = [r[0] for r in items]
    statuses = [r[1] for r in items]
    conn.execute(
        "UPDATE tests SET state = ?, status = ?, pass_count = ?, fail_count = ? "
        "WHERE run_id = ? AND testname = ? AND item_path = ''",
        (
            parent_state(states),
            parent_status(statuses),
            sum(1 for s in statuses if s in PASS_STATUSES),
            sum(1 for s in statuses if s in FAIL_STATUSES),
            run_id,
            testname,
        ),
    )
