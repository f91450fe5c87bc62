"""Test data: csv->test-data, insert-test-data, read-test-data, test-data-rollup.

CSV lines are ``category,variable,value,expected,tol,units,comment,status,type``
(Megatest's order; missing trailing fields are empty, blank lines skipped).
When ``status`` is empty or ``n/a`` and both value and expected are numbers,
the status is computed as Megatest does:

* tol a number: ``pass`` if expected - tol <= value <= expected + tol, else ``fail``;
* tol one of ``>``, ``<``, ``>=``, ``<=``: ``pass`` if ``value <op> expected``;
* tol empty: ``pass`` if value == expected (Megatest crashes here; we compare exactly);
* any other tol: ``ERROR: bad tol comparator <tol>`` (Megatest's text).

Otherwise the status is stored as given (empty stays empty). Numbers are stored
as numbers, anything else as text. A row replaces the row with the same
(test, category, variable), so loading the same CSV twice is harmless.
"""

from __future__ import annotations

import csv
import math
import operator
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    param,
    rows_as_dicts,
    want_opt_str,
    want_str,
)
from backend.db.commands.patterns import name_clause
from backend.db.commands.rollup import data_rollup, roll_up
from backend.db.commands.scope import require_run
from backend.db.commands.tests import test_row

FIELDS = ("category", "variable", "value", "expected", "tol", "units", "comment", "status", "type")
MAX_CSV = 512 * 1024
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}


def as_number(text: str) -> float | int | str | None:
    """Megatest's any->number-if-possible: a number if it parses, else the text."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        num = float(text)
    except ValueError:
        return text
    return num if math.isfinite(num) else text


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def judge(value: Any, expected: Any, tol: Any) -> str | None:
    """pass/fail for a row without a status, or None when it cannot be judged."""
    if not (is_num(value) and is_num(expected)):
        return None
    if is_num(tol):
        return "pass" if expected - tol <= value <= expected + tol else "fail"
    if tol is None:
        return "pass" if value == expected else "fail"
    cmp = COMPARATORS.get(str(tol))
    if cmp is None:
        return f"ERROR: bad tol comparator {tol}"
    return "pass" if cmp(value, expected) else "fail"


def parse_rows(csvdata: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    reader = csv.reader(csvdata.splitlines(), skipinitialspace=True, strict=True)
    try:
        for lineno, fields in enumerate(reader, 1):
            fields = [f.strip() for f in fields]
            if not any(fields):
                continue
            if len(fields) > len(FIELDS):
                raise bad(f"csv line {lineno}: more than {len(FIELDS)} fields")
            rec = dict(zip(FIELDS, fields + [""] * (len(FIELDS) - len(fields)), strict=True))
            if not rec["category"] or not rec["variable"]:
                raise bad(f"csv line {lineno}: category and variable are required")
            rows.append(rec)
    except csv.Error as exc:
        raise bad(f"csv: {exc}") from None
    return rows


@command("csv->test-data", write=True)
def csv_to_test_data(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, csvdata] -> number of rows stored."""
    run_id = require_run(ctx, "csv->test-data")
    arity(params, 2)
    test = test_row(conn, run_id, params[0])
    csvdata = want_str(params[1], "csvdata")
    if len(csvdata) > MAX_CSV:
        raise bad("csvdata is larger than 512 KiB")
    rows = parse_rows(csvdata)
    for rec in rows:
        value, expected, tol = (as_number(rec[k]) for k in ("value", "expected", "tol"))
        status = rec["status"]
        if status in ("", "n/a"):
            status = judge(value, expected, tol) or rec["status"]
        conn.execute(
            "INSERT INTO test_data(test_id, category, variable, value, expected, tol, units, "
            "comment, status, type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(test_id, category, variable) DO UPDATE SET value = excluded.value, "
            "expected = excluded.expected, tol = excluded.tol, units = excluded.units, "
            "comment = excluded.comment, status = excluded.status, type = excluded.type",
            (test["id"], rec["category"], rec["variable"], value, expected, tol,
             rec["units"], rec["comment"], status, rec["type"]),
        )
    return len(rows)


MAX_BULK_ROWS = 200_000
_NUM = "typeof({0}) IN ('integer', 'real')"
_JUDGED = (
    f"CASE WHEN ifnull(?8, '') NOT IN ('', 'n/a') THEN ?8 "
    f"WHEN {_NUM.format('?3')} AND {_NUM.format('?4')} THEN CASE "
    f"WHEN {_NUM.format('?5')} THEN iif(?3 BETWEEN ?4 - ?5 AND ?4 + ?5, 'pass', 'fail') "
    "WHEN ?5 IS NULL THEN iif(?3 = ?4, 'pass', 'fail') "
    "WHEN ?5 = '>' THEN iif(?3 > ?4, 'pass', 'fail') "
    "WHEN ?5 = '<' THEN iif(?3 < ?4, 'pass', 'fail') "
    "WHEN ?5 = '>=' THEN iif(?3 >= ?4, 'pass', 'fail') "
    "WHEN ?5 = '<=' THEN iif(?3 <= ?4, 'pass', 'fail') "
    "ELSE 'ERROR: bad tol comparator ' || ?5 END "
    "ELSE ifnull(?8, '') END"
)
_PAD: list[Any] = [None] * len(FIELDS)


def bulk_sql(test_id: int, stamp: float) -> str:
    # test_id is an integer from the tests table and stamp a float: safe to inline,
    # so each row binds exactly its own 9 fields.
    return (
        "INSERT INTO test_data(test_id, category, variable, value, expected, tol, units, "
        f"comment, status, type, last_update) VALUES ({int(test_id)}, ?1, ?2, ?3, ?4, ?5, "
        f"ifnull(?6, ''), ifnull(?7, ''), {_JUDGED}, ifnull(?9, ''), {float(stamp)!r}) "
        "ON CONFLICT(test_id, category, variable) DO UPDATE SET value = excluded.value, "
        "expected = excluded.expected, tol = excluded.tol, units = excluded.units, "
        "comment = excluded.comment, status = excluded.status, type = excluded.type"
    )


def padded(rows: list[Any]) -> list[list[Any]]:
    """Rows padded to 9 fields; only what SQL cannot check is checked here (per-row
    Python is what a bulk path cannot afford: the judging is done by sqlite)."""
    out: list[list[Any]] = []
    n = len(FIELDS)
    for i, row in enumerate(rows):
        if type(row) is not list or not 2 <= len(row) <= n:
            raise bad(f"row {i}: expected a list of 2..{n} fields ({', '.join(FIELDS)})")
        cat, var = row[0], row[1]
        if type(cat) is not str or type(var) is not str or not var:
            raise bad(f"row {i}: category and variable must be strings (variable non-empty)")
        out.append(row if len(row) == n else row + _PAD[len(row):])
    return out


@command("insert-test-data", write=True)
def insert_test_data(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, rows] -> number of rows stored. The bulk twin of csv->test-data:
    each row is ``[category, variable, value, expected, tol, units, comment,
    status, type]`` (trailing fields optional), judged by the same rules (in
    SQL), stored with one ``executemany`` and one last_update stamp."""
    run_id = require_run(ctx, "insert-test-data")
    arity(params, 2)
    test = test_row(conn, run_id, params[0])
    rows = params[1]
    if not isinstance(rows, list):
        raise bad("rows must be an array of arrays")
    if len(rows) > MAX_BULK_ROWS:
        raise bad(f"at most {MAX_BULK_ROWS} rows per call")
    try:
        conn.executemany(bulk_sql(test["id"], time.time()), padded(rows))
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError, OverflowError) as exc:
        # A field sqlite cannot bind (a nested array or map, an integer over 64 bits).
        raise bad(f"a row field is not a number, a string or nil ({exc})") from None
    return len(rows)


@command("read-test-data", write=False)
def read_test_data(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, categorypatt?] -> test_data rows ordered by category, variable."""
    run_id = require_run(ctx, "read-test-data")
    arity(params, 1, 2)
    test = test_row(conn, run_id, params[0])
    where, args = name_clause("category", want_str(param(params, 1, "%"), "category pattern"))
    return rows_as_dicts(
        conn.execute(
            f"SELECT * FROM test_data WHERE test_id = ? AND {where} ORDER BY category, variable",
            [test["id"], *args],
        )
    )


@command("test-data-rollup", write=True)
def test_data_rollup(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, status?] -> True. ``status`` is accepted and unused (as Megatest)."""
    run_id = require_run(ctx, "test-data-rollup")
    arity(params, 1, 2)
    test = test_row(conn, run_id, params[0])
    want_opt_str(param(params, 1), "status")
    data_rollup(conn, test["id"])
    if test["item_path"]:
        roll_up(conn, run_id, test["testname"])
    return True
