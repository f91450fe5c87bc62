"""Roll-up of item tests into their parent (the row with item_path '').

Megatest keeps a top-level row for an iterated test and derives it from its
items in ``set-state-status-and-roll-up-items`` (db.scm L3576-3689, reference
§3.2). Ours is that rule, with the reference's fixes for bug B29, applied in
the same transaction whenever an item is registered, changed or deleted:

* Items in a dont-roll-up state (DELETED, REMOVING, CLEANING,
  ARCHIVE_REMOVING) have no say, unless every item is in one (Megatest
  counted them always).
* ``states``: the items' distinct states, highest std-states rank first
  (RUNNING > REMOTEHOSTSTART > LAUNCHED > COMPLETED > NOT_STARTED > KILLED >
  KILLREQ > STUCK > others); ``statuses`` likewise by std-statuses rank, worst
  first (ABORT > PREQ_DISCARDED > PREQ_FAIL > FAIL > DEAD > STUCK/DEAD > CHECK
  > WAIVED > WARN > SKIP > PASS > n/a > others). Ties (unranked values) by name.
* state: RUNNING if an item is in a running state (RUNNING, REMOTEHOSTSTART,
  LAUNCHED, STARTED); else NOT_STARTED if a status is PREQ_FAIL; else
  COMPLETED if an item is NOT_STARTED with a status that is not an ok
  not-started status ("bad not-started", e.g. PREQ_DISCARDED); else the first
  state that is not COMPLETED or dont-roll-up; else the first state.
* status: PREQ_FAIL if a status is PREQ_FAIL; else STARTED if there is a bad
  not-started item or the state is NOT_STARTED with unfinished items; else the
  first (worst) status.
* Every item NOT_STARTED/n/a (freshly registered, nothing changed yet):
  NOT_STARTED/n/a. (Megatest only rolls up on an item's change, so it never
  meets this case; its rule would say NOT_STARTED/STARTED.)
* ``pass_count`` = items with status PASS, WARN or WAIVED, ``fail_count`` =
  items with status FAIL, CHECK or ABORT (Megatest's update-pass-fail-counts
  sets, plus ABORT).
"""

from __future__ import annotations

import sqlite3

PASS_STATUSES = ("PASS", "WARN", "WAIVED")
FAIL_STATUSES = ("FAIL", "CHECK", "ABORT")
RUNNING_STATES = ("RUNNING", "LAUNCHED", "REMOTEHOSTSTART")
ROLLUP_RUNNING_STATES = (*RUNNING_STATES, "STARTED")
DONT_ROLL_UP = frozenset({"DELETED", "REMOVING", "CLEANING", "ARCHIVE_REMOVING"})
NOT_STARTED_OK = frozenset({"n/a", "na", "PASS", "FAIL", "WARN", "CHECK", "WAIVED", "DEAD", "SKIP"})
# Megatest's std-states / std-statuses (common.scm L515-575): rank = position.
STATE_RANK = {s: i for i, s in enumerate(
    ("ARCHIVED", "STUCK", "KILLREQ", "KILLED", "NOT_STARTED", "COMPLETED", "LAUNCHED",
     "REMOTEHOSTSTART", "RUNNING"))}
STATUS_RANK = {s: i + 1 for i, s in enumerate(
    ("n/a", "PASS", "SKIP", "WARN", "WAIVED", "CHECK", "STUCK/DEAD", "DEAD", "FAIL", "PREQ_FAIL",
     "PREQ_DISCARDED", "ABORT"))}


def _ranked(values: set[str], rank: dict[str, int]) -> list[str]:
    return sorted(values, key=lambda v: (-rank.get(v, 0), v))


def parent_state_status(items: list[tuple[str, str]]) -> tuple[str, str]:
    """The parent's (state, status) from its items' (state, status) pairs."""
    considered = [i for i in items if i[0] not in DONT_ROLL_UP] or items
    if all(i == ("NOT_STARTED", "n/a") for i in considered):
        return ("NOT_STARTED", "n/a")
    states = _ranked({s for s, _ in considered}, STATE_RANK)
    statuses = _ranked({s for _, s in considered}, STATUS_RANK)
    running = any(s in ROLLUP_RUNNING_STATES for s in states)
    bad_not_started = any(s == "NOT_STARTED" and st not in NOT_STARTED_OK for s, st in considered)
    non_completes = [s for s in states if s != "COMPLETED" and s not in DONT_ROLL_UP]
    preq_fail = "PREQ_FAIL" in statuses
    if running:
        state = "RUNNING"
    elif preq_fail:
        state = "NOT_STARTED"
    elif bad_not_started:
        state = "COMPLETED"
    else:
        state = non_completes[0] if non_completes else states[0]
    if preq_fail:
        status = "PREQ_FAIL"
    elif bad_not_started or (state == "NOT_STARTED" and non_completes):
        status = "STARTED"
    else:
        status = statuses[0]
    return state, status


def roll_up(conn: sqlite3.Connection, run_id: int, testname: str) -> None:
    """Recompute the parent row of ``testname`` in ``run_id`` from its items."""
    items = conn.execute(
        "SELECT state, status FROM tests WHERE run_id = ? AND testname = ? AND item_path != ''",
        (run_id, testname),
    ).fetchall()
    if not items:
        return
    pairs = [(str(r[0]), str(r[1])) for r in items]
    state, status = parent_state_status(pairs)
    counted = [st for s, st in pairs if s not in DONT_ROLL_UP]
    conn.execute(
        "UPDATE tests SET state = ?, status = ?, pass_count = ?, fail_count = ? "
        "WHERE run_id = ? AND testname = ? AND item_path = ''",
        (
            state,
            status,
            sum(1 for s in counted if s in PASS_STATUSES),
            sum(1 for s in counted if s in FAIL_STATUSES),
            run_id,
            testname,
        ),
    )


def data_rollup(conn: sqlite3.Connection, test_id: int) -> None:
    """Megatest's test-data-rollup: pass/fail counts of the test's data rows
    (status pass/fail, any case; DELETED rows do not count), then FAIL if any
    failed, else PASS if any passed and the status is not WARN or FAIL."""
    conn.execute(
        "UPDATE tests SET "
        "fail_count = (SELECT count(*) FROM test_data WHERE test_id = ?1 AND status LIKE 'fail'), "
        "pass_count = (SELECT count(*) FROM test_data WHERE test_id = ?1 AND status LIKE 'pass') "
        "WHERE id = ?1",
        (test_id,),
    )
    conn.execute(
        "UPDATE tests SET status = CASE WHEN fail_count > 0 THEN 'FAIL' "
        "WHEN pass_count > 0 AND status NOT IN ('WARN', 'FAIL') THEN 'PASS' ELSE status END "
        "WHERE id = ?",
        (test_id,),
    )
