"""insert-test-data: the bulk twin of csv->test-data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend.demoload import LocalCaller
from backend.errors import RemoteError


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
    ]
    assert c.call("insert-test-data", test_id, rows, run_id=run_id) == 4
    db = sqlite3.connect(f"file:{tmp_path / 'db' / f'{run_id % 10}.db'}?mode=ro", uri=True)
    try:
        got = dict(db.execute("SELECT variable, status FROM test_data").fetchall())
        stamps = {r[0] for r in db.execute("SELECT last_update FROM test_data")}
    finally:
        db.close()
    assert got == {"lat": "pass", "thr": "fail", "given": "WAIVED", "text": ""}
    assert len(stamps) == 1 and next(iter(stamps)) > 0
    # Same keys again replace, not duplicate (like csv->test-data).
    assert c.call("insert-test-data", test_id, rows[:1], run_id=run_id) == 1
    assert len(c.call("read-test-data", test_id, run_id=run_id)) == 4


@pytest.mark.parametrize(
    "rows, needle",
    [
        ("nope", "rows must be an array"),
        ([["only-one"]], "row 0"),
        ([["c", ""]], "variable"),
        ([["c", "v", [1]]], "value must be"),
        ([["c", "v", True]], "value must be"),
        ([["c", "v", 1, 1, 0, 5]], "units must be"),
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
