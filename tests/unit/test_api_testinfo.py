"""api.scm's read-only TESTS group, per-test lookups, and the cross-run ones
(previous records, min-data listings, rundirs by pattern)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.ops.demoload import LocalCaller
from tests.unit.api_helpers import KEYS, execute, refused


@pytest.fixture
def run(lc: LocalCaller) -> int:
    return int(lc.call("register-run", KEYS, "r1"))


def test_lookups_of_one_test(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    t = lc.call("register-test", "foo", run_id=run)
    execute(tmp_path / f"{run}.db", "UPDATE tests SET attemptnum = 123 WHERE id = ?", t)
    assert lc.call("test-get-rundir-from-test-id", t, run_id=run) == "/tmp/badname"
    assert lc.call("test-get-top-process-pid", t, run_id=run) == 123
    assert lc.call("get-testinfo-state-status", t, run_id=run) == {
        "id": t, "run_id": run, "testname": "foo", "state": "NOT_STARTED", "status": "n/a",
        "item_path": ""}
    assert lc.call("test-get-logfile-info", "foo", run_id=run) == {
        "rundir": "/tmp/badname", "final_logf": "logs/final.log"}
    # Unknown tests are None (Megatest's #f), not errors.
    for cmd in ("test-get-rundir-from-test-id", "test-get-top-process-pid",
                "get-testinfo-state-status"):
        assert lc.call(cmd, 999, run_id=run) is None
        refused(lc, cmd, "1", run_id=run)
        refused(lc, cmd, t)  # no run-id
    assert lc.call("test-get-logfile-info", "nope", run_id=run) is None
    refused(lc, "test-get-logfile-info", "a/b", run_id=run)


def test_a_test_of_another_run_in_the_same_file_is_not_found(lc: LocalCaller) -> None:
    runs = [lc.call("register-run", KEYS, f"r{i}") for i in range(11)]
    t = lc.call("register-test", "foo", run_id=runs[0])
    assert lc.call("test-get-rundir-from-test-id", t, run_id=runs[10]) is None


def test_items_of_a_test(lc: LocalCaller, run: int) -> None:
    ids = [lc.call("register-test", "bar", f"i{n}", run_id=run) for n in range(3)]
    lc.call("test-set-state-status-by-id", ids[2], "DELETED", None, run_id=run)
    assert lc.call("test-toplevel-num-items", "bar", run_id=run) == 2  # DELETED not counted
    recs = lc.call("test-get-records-for-index-file", "bar", run_id=run)
    assert [r["item_path"] for r in recs] == ["i2", "i1", "i0"]  # deleted included, newest first
    assert set(recs[0]) == {"id", "item_path", "state", "status", "run_duration", "final_logf",
                            "comment"}
    assert lc.call("test-toplevel-num-items", "nope", run_id=run) == 0
    refused(lc, "test-toplevel-num-items", 3, run_id=run)


def test_running_in_jobgroup(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    a = lc.call("register-test", "a", run_id=run)
    b = lc.call("register-test", "b", run_id=run)
    for name, group in (("a", "big"), ("b", "small")):
        execute(tmp_path / "main.db", "INSERT INTO test_meta(testname, jobgroup) VALUES (?, ?)",
                name, group)
    for t in (a, b):
        lc.call("test-set-state-status-by-id", t, "RUNNING", "n/a", run_id=run)
    assert lc.call("get-count-tests-running-in-jobgroup", "big", run_id=run) == 1
    assert lc.call("get-count-tests-running-in-jobgroup", "nada", run_id=run) == 0
    assert lc.call("get-count-tests-running-in-jobgroup", None, run_id=run) == 0
    refused(lc, "get-count-tests-running-in-jobgroup", 5, run_id=run)


def test_previous_records_of_a_test(lc: LocalCaller, tmp_path: Path) -> None:
    r1 = lc.call("register-run", KEYS, "r1")
    r2 = lc.call("register-run", KEYS, "r2")
    r3 = lc.call("register-run", KEYS, "r3")
    other_target = lc.call("register-run", {"SYSTEM": "rhel", "RELEASE": "v1"}, "r4")
    old = lc.call("register-test", "foo", run_id=r1)
    new = lc.call("register-test", "foo", run_id=r2)
    lc.call("register-test", "foo", run_id=other_target)
    execute(tmp_path / f"{r1}.db", "UPDATE tests SET event_time = 10 WHERE id = ?", old)
    execute(tmp_path / f"{r2}.db", "UPDATE tests SET event_time = 20 WHERE id = ?", new)
    prev = lc.call("get-previous-test-run-record", "foo", "", run_id=r3)
    assert (prev["run_id"], prev["id"]) == (r2, new)  # the newest other run that has it
    recs = lc.call("get-matching-previous-test-run-records", "foo", "", run_id=r3)
    assert [(r["run_id"], r["event_time"]) for r in recs] == [(r2, 20)]  # newest per test
    assert lc.call("get-previous-test-run-record", "nope", run_id=r3) is None
    assert lc.call("get-matching-previous-test-run-records", "foo", "", run_id=r1)[0][
        "run_id"] == r2
    refused(lc, "get-previous-test-run-record", 5, run_id=r3)
    refused(lc, "get-matching-previous-test-run-records", run_id=r3)


def test_mindata_listings(lc: LocalCaller) -> None:
    r1 = lc.call("register-run", KEYS, "r1")
    r2 = lc.call("register-run", KEYS, "r2")
    a = lc.call("register-test", "a", run_id=r1)
    lc.call("register-test", "b", run_id=r1)
    c = lc.call("register-test", "a", run_id=r2)
    lc.call("test-set-state-status-by-id", a, "DELETED", None, run_id=r1)
    got = lc.call("get-tests-for-run-mindata", run_id=r1)
    assert [g["testname"] for g in got] == ["b", "a"]  # deleted included, newest first
    assert set(got[0]) == {"id", "run_id", "testname", "state", "status", "event_time",
                           "item_path"}
    assert [g["id"] for g in lc.call("get-tests-for-run-mindata", "%", ["DELETED"],
                                     run_id=r1)] == [a]
    assert [g["id"] for g in lc.call("get-tests-for-run-mindata", "%", ["DELETED"], [], True,
                                     run_id=r1)] != [a]
    both = lc.call("get-tests-for-runs-mindata", [r2, r1], "a")
    assert [(g["run_id"], g["id"]) for g in both] == [(r2, c), (r1, a)]
    assert len(lc.call("get-tests-for-runs-mindata")) == 3
    refused(lc, "get-tests-for-runs-mindata", 5)
    refused(lc, "get-tests-for-runs-mindata", ["x"])
    refused(lc, "get-tests-for-run-mindata", "%", [], [], "yes", run_id=r1)


def test_paths_matching(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    a = lc.call("register-test", "a", run_id=run)
    b = lc.call("register-test", "b", run_id=run)
    db = tmp_path / f"{run}.db"
    execute(db, "UPDATE tests SET rundir = '/r/a', event_time = 1 WHERE id = ?", a)
    execute(db, "UPDATE tests SET rundir = '/r/b', event_time = 2, state = 'RUNNING' "
            "WHERE id = ?", b)
    args = [["SYSTEM"], "%", None]
    got = lc.call("test-get-paths-matching-keynames-target-new", *args, "%", "%", "%", "%",
                  run_id=run)
    assert got == ["/r/b", "/r/a"]  # newest event_time first
    got = lc.call("test-get-paths-matching-keynames-target-new", ["SYSTEM"], "%", ["/x"],
                  "a,b", "RUN%", "%", run_id=run)
    assert got == ["/r/b", "/x"]  # comma list stays inside the run/state filter (B24 fixed)
    refused(lc, "test-get-paths-matching-keynames-target-new", ["S"], "%", "res", "%",
            run_id=run)
