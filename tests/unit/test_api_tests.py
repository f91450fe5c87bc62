"""Tests of a run: register-test, lookups, get-tests-for-run, state changes with
roll-up, running counts, prerequisites."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backend.errors import RemoteError
from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q

KEYS = {"SYSTEM": "ubuntu", "RELEASE": "v1"}


@pytest.fixture
def run(lc: LocalCaller) -> int:
    return int(lc.call("register-run", KEYS, "run1"))


def bad_request(lc: LocalCaller, cmd: str, *params: Any, run_id: int | None = None) -> str:
    with pytest.raises(RemoteError) as info:
        lc.call(cmd, *params, run_id=run_id)
    assert info.value.code == "bad_request", info.value
    return info.value.message


def test_register_test_lives_in_the_run_db(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    tid = lc.call("register-test", "alpha", run_id=run)
    assert q(
        tmp_path / f"{run % 10}.db",
        "SELECT id, run_id, testname, item_path, state, status FROM tests",
    ) == [(tid, run, "alpha", "", "NOT_STARTED", "n/a")]
    assert q(tmp_path / "main.db", "SELECT count(*) FROM tests") == [(0,)]


def test_register_test_is_idempotent_and_creates_parent(
    lc: LocalCaller, run: int, tmp_path: Path
) -> None:
    i1 = lc.call("register-test", "beta", "a/1", run_id=run)
    assert lc.call("register-test", "beta", "a/1", run_id=run) == i1
    parent = lc.call("get-test-id", "beta", run_id=run)
    assert parent is not None and parent != i1
    assert lc.call("get-test-id", "beta", "a/1", run_id=run) == i1
    assert lc.call("get-test-id", "nope", run_id=run) is None
    assert q(tmp_path / "1.db", "SELECT count(*) FROM tests") == [(2,)]


def test_runs_sharing_a_db_file_are_separate(lc: LocalCaller) -> None:
    runs = [lc.call("register-run", KEYS, f"r{i}") for i in range(11)]
    r1, r11 = runs[0], runs[10]
    assert r1 % 10 == r11 % 10  # both in 1.db
    t1 = lc.call("register-test", "x", run_id=r1)
    t11 = lc.call("register-test", "x", run_id=r11)
    assert t1 != t11
    assert "unknown test-id" in bad_request(lc, "get-test-info-by-id", t1, run_id=r11)


def test_unknown_run_id(lc: LocalCaller, run: int) -> None:
    assert bad_request(lc, "register-test", "x", run_id=7) == "unknown run-id 7"
    assert "needs a run-id" in bad_request(lc, "register-test", "x")
    for cmd, params in [
        ("get-test-id", ["x"]),
        ("get-tests-for-run", []),
        ("get-count-tests-running-for-run-id", []),
    ]:
        assert bad_request(lc, cmd, *params, run_id=99) == "unknown run-id 99"


def test_get_test_info_by_id_matches_the_file(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    tid = lc.call("register-test", "alpha", "i", run_id=run)
    info = lc.call("get-test-info-by-id", tid, run_id=run)
    conn = sqlite3.connect(tmp_path / "1.db")
    try:
        conn.row_factory = sqlite3.Row
        assert info == dict(conn.execute("SELECT * FROM tests WHERE id = ?", (tid,)).fetchone())
    finally:
        conn.close()
    assert "unknown test-id 999" in bad_request(lc, "get-test-info-by-id", 999, run_id=run)
    bad_request(lc, "get-test-info-by-id", "1", run_id=run)


@pytest.mark.parametrize("params", [[], [""], ["a/b"], [3], ["a", 3], ["a", "b", "c"]])
def test_register_test_bad_input(lc: LocalCaller, run: int, params: list[Any]) -> None:
    bad_request(lc, "register-test", *params, run_id=run)


def populate(lc: LocalCaller, run: int) -> dict[str, int]:
    ids = {}
    for name, item in [
        ("alpha", ""),
        ("beta", "x/1"),
        ("beta", "x/2"),
        ("beta", "y/1"),
        ("test_1", ""),
        ("testA1", ""),
    ]:
        ids[f"{name}/{item}"] = lc.call("register-test", name, item, run_id=run)
    ids["beta/"] = lc.call("get-test-id", "beta", "", run_id=run)
    return ids


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [f"{r['testname']}/{r['item_path']}" for r in rows]


def test_get_tests_for_run_patterns_and_filters(lc: LocalCaller, run: int) -> None:
    ids = populate(lc, run)
    lc.call("test-set-state-status-by-id", ids["alpha/"], "COMPLETED", "PASS", run_id=run)
    lc.call("test-set-state-status-by-id", ids["beta/x/1"], "RUNNING", "n/a", run_id=run)

    def get(*params: Any) -> list[str]:
        return names(lc.call("get-tests-for-run", *params, run_id=run))

    assert len(get()) == 7
    assert get("beta") == ["beta/", "beta/x/1", "beta/x/2", "beta/y/1"]
    assert get("beta/") == ["beta/"]
    assert get("beta/x/%") == ["beta/x/1", "beta/x/2"]
    assert get("test_1") == ["test_1/"]  # '_' is literal
    assert get("alpha,test*") == ["alpha/", "testA1/", "test_1/"]
    assert get("%", ["COMPLETED"]) == ["alpha/"]
    assert get("%", [], ["PASS"]) == ["alpha/"]
    assert get("%", ["NOT_STARTED"], [], 0, None, True) == ["alpha/", "beta/", "beta/x/1"]
    assert get("%", None, None, 2, 3) == get()[2:5]
    assert get("%", None, None, 0, -1, False, "id", "desc") == names(
        sorted(lc.call("get-tests-for-run", run_id=run), key=lambda r: -r["id"])
    )
    rows = lc.call(
        "get-tests-for-run",
        "alpha",
        None,
        None,
        0,
        None,
        False,
        None,
        None,
        ["id", "state"],
        run_id=run,
    )
    assert rows == [{"id": ids["alpha/"], "state": "COMPLETED"}]


@pytest.mark.parametrize(
    "params",
    [
        [1],
        ["%", "RUNNING,x", 3],
        ["%", [1]],
        ["%", [], [], -1],
        ["%", [], [], 0, "5"],
        ["%", [], [], 0, 5, "yes"],
        ["%", [], [], 0, 5, False, "name; DROP TABLE tests"],
        ["%", [], [], 0, 5, False, "id", "sideways"],
        ["%", [], [], 0, 5, False, "id", "asc", ["*"]],
        ["%", [], [], 0, 5, False, "id", "asc", [], None],
        ["%", [], [], 0, 5, False, "id", "asc", None, "now"],
        list(range(11)),
    ],
)
def test_get_tests_for_run_bad_input(lc: LocalCaller, run: int, params: list[Any]) -> None:
    bad_request(lc, "get-tests-for-run", *params, run_id=run)


def test_get_tests_for_run_incremental(lc: LocalCaller, run: int) -> None:
    ids = populate(lc, run)
    rows = lc.call("get-tests-for-run", run_id=run)
    seen = max(r["last_update"] for r in rows)

    def since(mark: float) -> list[str]:
        return names(
            lc.call(
                "get-tests-for-run",
                "%",
                None,
                None,
                0,
                -1,
                False,
                None,
                None,
                None,
                mark,
                run_id=run,
            )
        )

    assert since(seen) == []
    lc.call("test-set-state-status-by-id", ids["alpha/"], "RUNNING", None, run_id=run)
    assert since(seen) == ["alpha/"]
    lc.call("test-set-state-status-by-id", ids["beta/x/2"], "LAUNCHED", None, run_id=run)
    # the item and its rolled-up parent both changed
    assert since(seen) == ["alpha/", "beta/", "beta/x/2"]
    assert since(0) == names(rows)


def state_of(lc: LocalCaller, run: int, tid: int) -> tuple[str, str, int, int]:
    r = lc.call("get-test-info-by-id", tid, run_id=run)
    return (r["state"], r["status"], r["pass_count"], r["fail_count"])


def test_roll_up_of_items_into_parent(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    items = [lc.call("register-test", "suite", f"i{n}", run_id=run) for n in range(3)]
    top = lc.call("get-test-id", "suite", run_id=run)
    assert state_of(lc, run, top) == ("NOT_STARTED", "n/a", 0, 0)

    def set_(i: int, state: str | None, status: str | None) -> None:
        assert lc.call("test-set-state-status-by-id", items[i], state, status, run_id=run) is True

    set_(0, "LAUNCHED", "n/a")
    assert state_of(lc, run, top) == ("RUNNING", "n/a", 0, 0)
    set_(0, "COMPLETED", "PASS")
    # others not started yet: Megatest's NOT_STARTED with unfinished items -> STARTED
    assert state_of(lc, run, top) == ("NOT_STARTED", "STARTED", 1, 0)
    set_(1, "COMPLETED", "WARN")
    set_(2, "COMPLETED", "PASS")
    assert state_of(lc, run, top) == ("COMPLETED", "WARN", 3, 0)
    set_(2, None, "FAIL")  # status only; state kept
    assert state_of(lc, run, top) == ("COMPLETED", "FAIL", 2, 1)
    set_(1, "INCOMPLETE", "ABORT")
    assert state_of(lc, run, top) == ("INCOMPLETE", "ABORT", 1, 2)
    # a new item re-opens the parent
    items.append(lc.call("register-test", "suite", "i3", run_id=run))
    assert state_of(lc, run, top)[:2] == ("NOT_STARTED", "STARTED")
    # the file agrees
    assert q(tmp_path / "1.db", "SELECT state, status FROM tests WHERE id = ?", top) == [
        ("NOT_STARTED", "STARTED")
    ]
    # an item that cannot start for a failed prerequisite: the parent says so
    set_(3, "NOT_STARTED", "PREQ_FAIL")
    assert state_of(lc, run, top)[:2] == ("NOT_STARTED", "PREQ_FAIL")
    # deleted items have no say, unless all are deleted
    for i in (1, 3):
        lc.call("delete-test-records", items[i], run_id=run)
    assert state_of(lc, run, top) == ("COMPLETED", "FAIL", 1, 1)


def test_set_state_status_details(lc: LocalCaller, run: int) -> None:
    tid = lc.call("register-test", "solo", run_id=run)
    lc.call("test-set-state-status-by-id", tid, "COMPLETED", "PASS", "all good", run_id=run)
    r = lc.call("get-test-info-by-id", tid, run_id=run)
    assert (r["state"], r["status"], r["comment"]) == ("COMPLETED", "PASS", "all good")
    lc.call("test-set-state-status-by-id", tid, None, None, run_id=run)  # no-op, still fine
    for params in [[tid], [tid, 1, "PASS"], ["x", "A", "B"], [tid, "A", "B", 5], [10**6, "A", "B"]]:
        bad_request(lc, "test-set-state-status-by-id", *params, run_id=run)


def test_running_counts(lc: LocalCaller, run: int) -> None:
    other = lc.call("register-run", KEYS, "run11")  # run-id 2 -> 2.db
    items = [lc.call("register-test", "multi", f"i{n}", run_id=run) for n in range(3)]
    solo = lc.call("register-test", "solo", run_id=run)
    lc.call("test-set-state-status-by-id", items[0], "RUNNING", "n/a", run_id=run)
    lc.call("test-set-state-status-by-id", items[1], "LAUNCHED", "n/a", run_id=run)
    lc.call("test-set-state-status-by-id", solo, "REMOTEHOSTSTART", "n/a", run_id=run)
    lc.call("register-test", "elsewhere", run_id=other)
    # leaf jobs only (the rolled-up parent 'multi' is not a job)
    assert lc.call("get-count-tests-running", run_id=run) == 3
    # Megatest's for-run-id counts every row in a running state, parent included
    assert lc.call("get-count-tests-running-for-run-id", run_id=run) == 4
    assert lc.call("get-count-tests-running-for-testname", "multi", run_id=run) == 2
    assert lc.call("get-count-tests-running-for-testname", "solo", run_id=run) == 1
    assert lc.call("get-count-tests-running-for-run-id", run_id=other) == 0
    bad_request(lc, "get-count-tests-running", "x", run_id=run)
    bad_request(lc, "get-count-tests-running-for-testname", run_id=run)


def test_prereqs_not_met(lc: LocalCaller, run: int) -> None:
    a = lc.call("register-test", "a", run_id=run)
    b = lc.call("register-test", "b", run_id=run)
    c_items = [lc.call("register-test", "c", f"k{n}", run_id=run) for n in range(2)]

    def not_met(waitons: Any, *params: Any) -> list[Any]:
        """Blocking names (records shown by their testname/item_path)."""
        got = lc.call("get-prereqs-not-met", waitons, "me", *params, run_id=run)
        return [g if isinstance(g, str) else f"{g['testname']}/{g['item_path']}" for g in got]

    # Megatest's shape: the blocking records, or the name of a waiton with none.
    assert not_met(["a", "b", "c", "ghost"]) == ["a/", "b/", "c/", "c/k0", "c/k1", "ghost"]
    assert not_met([]) == []
    [rec] = lc.call("get-prereqs-not-met", ["a"], "me", run_id=run)
    assert rec == {"id": a, "run_id": run, "testname": "a", "item_path": "",
                   "state": "NOT_STARTED", "status": "n/a"}
    lc.call("test-set-state-status-by-id", a, "COMPLETED", "PASS", run_id=run)
    lc.call("test-set-state-status-by-id", b, "COMPLETED", "FAIL", run_id=run)
    assert not_met(["a", "b"]) == ["b/"]
    assert not_met(["a", "b"], "", "toplevel") == []  # toplevel does not block on FAIL
    lc.call("test-set-state-status-by-id", c_items[0], "COMPLETED", "PASS", run_id=run)
    assert not_met(["c"]) == ["c/", "c/k0", "c/k1"]  # parent still RUNNING
    assert not_met(["c"], "k0", "itemwait") == []
    assert not_met(["c"], "k1", "itemmatch") == ["c/k1"]  # only the unmet item blocks
    assert not_met(["c"], "k1", ["itemmatch"]) == ["c/k1"]  # mode as Megatest's list
    # An item map rewrites the ref item before matching: k1 -> k0 (met).
    assert not_met(["c"], "k1", "itemwait", [["m%", "1$ 0"]]) == []
    lc.call("test-set-state-status-by-id", c_items[1], "COMPLETED", "WAIVED", run_id=run)
    assert not_met(["c", "c"]) == []
    assert not_met("b") == ["b/"]  # a lone name counts as a one-element list
    for params in [[], [5], [[1]], [["a"], 1], [["a"], "me", "", "sometimes"],
                   [["a"], "me", "", "normal", "x"], [["a"], "me", "", "normal", [["me", "("]]]]:
        bad_request(lc, "get-prereqs-not-met", *params, run_id=run)


def test_prereqs_exclusive_sees_running_rows_of_other_runs(lc: LocalCaller, run: int) -> None:
    other = lc.call("register-run", {**KEYS, "RELEASE": "v2"}, "run2")
    t = lc.call("register-test", "solo", run_id=other)
    assert lc.call("get-prereqs-not-met", [], "solo", "", "exclusive", run_id=run) == []
    lc.call("test-set-state-status-by-id", t, "RUNNING", "n/a", run_id=other)
    [rec] = lc.call("get-prereqs-not-met", [], "solo", "", "exclusive", run_id=run)
    assert (rec["run_id"], rec["id"], rec["state"]) == (other, t, "RUNNING")


def test_dashboard_mode_judges_completed_by_status_and_stays_in_the_run(
    lc: LocalCaller, run: int
) -> None:
    ids = {}
    for name, state, status in (("one", "COMPLETED", "FAIL"), ("two", "COMPLETED", "PASS"),
                                ("three", "RUNNING", "n/a"), ("four", "COMPLETED", "WARN")):
        ids[name] = lc.call("register-test", name, run_id=run)
        lc.call("test-set-state-status-by-id", ids[name], state, status, run_id=run)
    # Another run in the same db file, whose rows Megatest's bug B2 let in.
    runs = [lc.call("register-run", KEYS, f"x{i}") for i in range(10)]
    other = runs[-1]
    assert other % 10 == run % 10
    t = lc.call("register-test", "elsewhere", run_id=other)
    lc.call("test-set-state-status-by-id", t, "RUNNING", "n/a", run_id=other)

    def pairs(states: list[str], statuses: list[str], not_in: bool, mode: str) -> set[Any]:
        got = lc.call("get-tests-for-run", "%", states, statuses, None, None, not_in,
                      "event_time", "DESC", "shortlist", 0, mode, run_id=run)
        assert all(g["run_id"] == run for g in got)
        assert all(set(g) == {"id", "run_id", "testname", "item_path", "state", "status"}
                   for g in got)
        return {(g["state"], g["status"]) for g in got}

    assert pairs(["RUNNING"], ["WARN"], False, "dashboard") == {
        ("COMPLETED", "WARN"), ("RUNNING", "n/a")}
    assert pairs(["RUNNING"], ["WARN"], True, "dashboard") == {
        ("COMPLETED", "PASS"), ("COMPLETED", "FAIL")}
    # Normal mode: both lists must hold (IN ... AND IN ...).
    assert pairs(["RUNNING"], ["WARN"], False, "normal") == set()
    assert pairs(["COMPLETED"], ["WARN", "PASS"], False, "normal") == {
        ("COMPLETED", "WARN"), ("COMPLETED", "PASS")}
    bad_request(lc, "get-tests-for-run", "%", [], [], None, None, False, None, None, None, None,
                5, run_id=run)
