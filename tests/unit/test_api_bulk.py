"""insert-test-data: the bulk twin of csv->test-data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend.errors import RemoteError
from backend.ops.demoload import LocalCaller


@pytest.fixture
def caller(tmp_path: Path):  # type: ignore[no-untyped-def]
    with LocalCaller(tmp_path / "db") as c:
        run_id = c.call("register-run", {"SYSTEM": "x"}, "r")
        test_id = c.call("register-test", "t", "", run_id=run_id)
        yield c, run_id, test_id


def test_rows_are_stored_judged_and_stamped_once(caller, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c, run_id, test_id = caller
    rows = [
        ["perf", "lat", 10.0, 10.5, 1.0, "ms"],           # within tol -> pass
        ["perf", "thr", 5, 10, ">"],                       # 5 > 10 false -> fail
        ["perf", "given", 1, 2, 0, "", "note", "WAIVED"],  # explicit status kept
        ["misc", "text", "abc"],                           # cannot judge -> ''
        ["perf", "bad", 1, 1, "~"],                        # Megatest's text for a bad comparator
        ["perf", "eq", 3, 3],                              # no tol: exact comparison
    ]
    assert c.call("insert-test-data", test_id, rows, run_id=run_id) == 6
    db = sqlite3.connect(f"file:{tmp_path / 'db' / f'{run_id % 10}.db'}?mode=ro", uri=True)
    try:
        got = dict(db.execute("SELECT variable, status FROM test_data").fetchall())
        stamps = {r[0] for r in db.execute("SELECT last_update FROM test_data")}
    finally:
        db.close()
    assert got == {"lat": "pass", "thr": "fail", "given": "WAIVED", "text": "",
                   "bad": "ERROR: bad tol comparator ~", "eq": "pass"}
    assert len(stamps) == 1 and next(iter(stamps)) > 0
    # Same keys again replace, not duplicate (like csv->test-data).
    assert c.call("insert-test-data", test_id, rows[:1], run_id=run_id) == 1
    assert len(c.call("read-test-data", test_id, run_id=run_id)) == 6


@pytest.mark.parametrize(
    "rows, needle",
    [
        ("nope", "rows must be an array"),
        ([["only-one"]], "row 0"),
        ([["c", ""]], "variable"),
        ([["c", "v", [1]]], "not a number, a string or nil"),
        ([["c", "v", 1, 2**70]], "not a number, a string or nil"),
        ([["c", "v", 1], "not a row"], "row 1"),
    ],
)
def test_bad_rows_are_refused_whole(caller, rows, needle: str) -> None:  # type: ignore[no-untyped-def]
    c, run_id, test_id = caller
    with pytest.raises(RemoteError, match=needle):
        c.call("insert-test-data", test_id, rows, run_id=run_id)
    assert c.call("read-test-data", test_id, run_id=run_id) == []


def test_unknown_test_id_is_bad_request(caller) -> None:  # type: ignore[no-untyped-def]
    c, run_id, _ = caller
    with pytest.raises(RemoteError, match="bad_request"):
        c.call("insert-test-data", 99999, [["c", "v", 1]], run_id=run_id)


def test_bulk_judging_matches_csv_judging(caller) -> None:  # type: ignore[no-untyped-def]
    """The SQL judge of insert-test-data and the Python judge of csv->test-data agree."""
    from backend.db.commands.data import as_number, judge

    c, run_id, test_id = caller
    cases = [("1", "1", ""), ("10.2", "10", "0.5"), ("11", "10", "0.5"), ("5", "3", ">"),
             ("5", "3", "<"), ("3", "3", ">="), ("2", "3", "<="), ("4", "3", "!"), ("x", "3", "1")]
    rows = [["k", f"v{i}", as_number(v), as_number(e), as_number(t)] for i, (v, e, t) in enumerate(cases)]
    c.call("insert-test-data", test_id, rows, run_id=run_id)
    got = {r["variable"]: r["status"] for r in c.call("read-test-data", test_id, run_id=run_id)}
    for i, (v, e, t) in enumerate(cases):
        want = judge(as_number(v), as_number(e), as_number(t)) or ""
        assert got[f"v{i}"] == want, (v, e, t)
