"""The upsert statements of a sync pass, one per central table.

Every row is matched on Megatest's natural key. A re-sent row that changed
nothing writes nothing (``WHERE ... IS DISTINCT FROM``) and returns no row, so
``last_update`` means "last changed here" instead of Megatest's insert time
(P16), and a pass that re-reads rows costs no central writes. The ids of
unchanged tests are looked up by their keys instead (``TEST_IDS``).
"""

from __future__ import annotations


def _changed(table: str, cols: list[str]) -> str:
    mine = ", ".join(f"{table}.{c}" for c in cols)
    theirs = ", ".join(f"excluded.{c}" for c in cols)
    return f"({mine}) IS DISTINCT FROM ({theirs})"


def _upsert(table: str, key: list[str], cols: list[str]) -> str:
    allc = key + cols
    values = ", ".join(f"%({c})s" for c in allc)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols)
    return (f"INSERT INTO {table} AS {table} ({', '.join(allc)}, last_update) VALUES ({values}, %(now)s) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}, last_update = excluded.last_update "
            f"WHERE {_changed(table, cols)} RETURNING id, (xmax = 0) AS inserted")


RUN_COLS = ["state", "status", "owner", "event_time", "comment", "fail_count", "pass_count"]
RUNS = _upsert("runs", ["target", "ttype_id", "run_name", "area_id"], RUN_COLS)
# A run deleted in the area is only updated, never created (Megatest's rule:
# a run created and deleted between two passes never appears centrally).
RUNS_DELETED = (
    "UPDATE runs SET " + ", ".join(f"{c} = %({c})s" for c in RUN_COLS) + ", last_update = %(now)s "
    "WHERE target = %(target)s AND ttype_id = %(ttype_id)s AND run_name = %(run_name)s "
    "AND area_id = %(area_id)s AND (" + ", ".join(RUN_COLS) + ") IS DISTINCT FROM ("
    + ", ".join(f"%({c})s" for c in RUN_COLS) + ") RETURNING id, false"
)
TEST_COLS = ["state", "status", "host", "cpuload", "diskfree", "uname", "rundir", "shortdir",
             "attemptnum", "final_logf", "logdat", "run_duration", "comment", "event_time",
             "fail_count", "pass_count", "archived"]
TESTS = _upsert("tests", ["run_id", "test_name", "item_path"], TEST_COLS)
STEP_COLS = ["status", "event_time", "comment", "logfile"]
STEPS = _upsert("test_steps", ["test_id", "stepname", "state"], STEP_COLS)
DATA_COLS = ["value", "expected", "tol", "tol_text", "units", "comment", "status", "type"]
DATA = _upsert("test_data", ["test_id", "category", "variable"], DATA_COLS)
RUN_STATS = _upsert("run_stats", ["run_id", "state", "status"], ["count"])

# Central ids of tests by natural key, for tests an upsert did not return.
TEST_IDS = (
    "SELECT t.id, t.run_id, t.test_name, t.item_path FROM tests t "
    "JOIN unnest(%s::integer[], %s::text[], %s::text[]) AS k(run_id, test_name, item_path) "
    "ON t.run_id = k.run_id AND t.test_name = k.test_name AND t.item_path = k.item_path"
)
