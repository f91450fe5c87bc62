"""Steps, CSV test data, and the metadat vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.db.commands.data import judge
from backend.errors import RemoteError
from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q


@pytest.fixture
def tid(lc: LocalCaller) -> int:
    lc.call("register-run", {"SYSTEM": "u"}, "run1")
    return int(lc.call("register-test", "t", run_id=1))


def bad_request(lc: LocalCaller, cmd: str, *params: Any, run_id: int | None = None) -> str:
    with pytest.raises(RemoteError) as info:
        lc.call(cmd, *params, run_id=run_id)
    assert info.value.code == "bad_request", info.value
    return info.value.message


def test_steps(lc: LocalCaller, tid: int, tmp_path: Path) -> None:
    assert lc.call("teststep-set-status!", tid, "build", "start", "n/a", run_id=1) is True
    lc.call("teststep-set-status!", tid, "build", "end", "FAIL", "oops", "b.log", run_id=1)
    lc.call("teststep-set-status!", tid, "build", "end", "PASS", "retry ok", "b.log", run_id=1)
    rows = q(
        tmp_path / "1.db",
        "SELECT stepname, state, status, comment, logfile FROM test_steps "
        "WHERE test_id = ? ORDER BY id",
        tid,
    )
    assert rows == [
        ("build", "start", "n/a", "", ""),
        ("build", "end", "PASS", "retry ok", "b.log"),
    ]
    got = lc.call("get-steps-for-test", tid, run_id=1)
    assert [(s["stepname"], s["state"], s["status"]) for s in got] == [r[:3] for r in rows]
    for params in [
        [tid, "s", "start"],
        [tid, "", "start", "x"],
        [tid, "s", 1, "x"],
        [999, "s", "start", "x"],
        [tid, "s", "a", "b", "c", "d", "e"],
    ]:
        bad_request(lc, "teststep-set-status!", *params, run_id=1)


@pytest.mark.parametrize(
    "value, expected, tol, status",
    [
        (10, 10, 1, "pass"),
        (11, 10, 1, "pass"),
        (11.5, 10, 1, "fail"),
        (8.9, 10, 1, "fail"),
        (5, 10, "<", "pass"),
        (15, 10, "<", "fail"),
        (10, 10, "<=", "pass"),
        (11, 10, ">", "pass"),
        (10, 10, ">=", "pass"),
        (9, 10, ">=", "fail"),
        (3, 3, None, "pass"),
        (3, 4, None, "fail"),
        (3, 4, "~", "ERROR: bad tol comparator ~"),
        ("abc", 4, 1, None),
        (4, None, 1, None),
    ],
)
def test_judge_like_megatest(value: Any, expected: Any, tol: Any, status: str | None) -> None:
    assert judge(value, expected, tol) == status


def test_csv_to_test_data_and_read(lc: LocalCaller, tid: int, tmp_path: Path) -> None:
    csv = (
        "perf, runtime, 10.5, 10, 1, s, fast enough\n"
        "\n"
        "perf,mem,600,512,<=,MB,,,\n"
        "misc,note,hello,,,,,WARN,text\n"
        'misc,quoted,"1,5",,,,"a, b",,\n'
        "misc,given,5,10,1,,,PASS,\n"
    )
    assert lc.call("csv->test-data", tid, csv, run_id=1) == 5
    rows = q(
        tmp_path / "1.db",
        "SELECT category, variable, value, expected, tol, units, comment, "
        "status, type FROM test_data WHERE test_id = ? ORDER BY category, variable",
        tid,
    )
    assert rows == [
        ("misc", "given", 5.0, 10.0, 1.0, "", "", "PASS", ""),
        ("misc", "note", "hello", None, None, "", "", "WARN", "text"),
        ("misc", "quoted", "1,5", None, None, "", "a, b", "", ""),
        ("perf", "mem", 600.0, 512.0, "<=", "MB", "", "fail", ""),
        ("perf", "runtime", 10.5, 10.0, 1.0, "s", "fast enough", "pass", ""),
    ]
    data = lc.call("read-test-data", tid, run_id=1)
    assert [(d["category"], d["variable"], d["status"]) for d in data] == [
        (r[0], r[1], r[7]) for r in rows
    ]
    assert [d["variable"] for d in lc.call("read-test-data", tid, "pe%", run_id=1)] == [
        "mem",
        "runtime",
    ]
    # loading again replaces rows (same test, category, variable)
    assert lc.call("csv->test-data", tid, "perf,mem,500,512,<=,MB", run_id=1) == 1
    assert q(
        tmp_path / "1.db", "SELECT count(*), sum(status='pass') FROM test_data WHERE variable='mem'"
    ) == [(1, 1)]


@pytest.mark.parametrize(
    "params",
    [
        [1],
        [1, 2],
        ["1", "a,b"],
        [999, "a,b"],
        [None, "a,b"],
        ["T", "a,b,1,2,3,4,5,6,7,8"],
        ["T", ",x,1"],
        ["T", "cat"],
        ["T", 'a,"b'],
    ],
)
def test_csv_bad_input(lc: LocalCaller, tid: int, params: list[Any]) -> None:
    params = [tid if p == "T" else p for p in params]
    bad_request(lc, "csv->test-data", *params, run_id=1)


def test_vars(lc: LocalCaller, tmp_path: Path) -> None:
    assert lc.call("get-var", "color") is None
    assert lc.call("set-var", "color", "blue") is True
    assert lc.call("get-var", "color") == "blue"
    lc.call("set-var", "n", 3)
    assert q(tmp_path / "main.db", "SELECT val FROM metadat WHERE var='n'") == [("3",)]
    assert lc.call("del-var", "color") is True
    assert lc.call("del-var", "color") is False
    assert "reserved" in bad_request(lc, "set-var", "SCHEMA_VERSION", "1")
    bad_request(lc, "del-var", "SCHEMA_VERSION")
    assert lc.call("set-var", "x", True) is True and lc.call("get-var", "x") == "true"  # JSON text
    bad_request(lc, "set-var", "x")
    bad_request(lc, "get-var", 1)
