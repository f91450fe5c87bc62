"""api.scm's read-only STEPS and TEST DATA groups: get-steps-data,
get-steps-info-by-id, read-test-data*, get-data-info-by-id."""

from __future__ import annotations

from pathlib import Path

from backend.ops.demoload import LocalCaller
from tests.unit.api_helpers import KEYS, execute, refused


def test_steps_by_test_and_by_id(lc: LocalCaller, tmp_path: Path) -> None:
    run = lc.call("register-run", KEYS, "r1")
    t = lc.call("register-test", "foo", run_id=run)
    lc.call("teststep-set-status!", t, "build", "start", "n/a", "", "b.log", run_id=run)
    lc.call("teststep-set-status!", t, "build", "end", "PASS", "ok", "b.log", run_id=run)
    lc.call("teststep-set-status!", t, "old", "end", "PASS", run_id=run)
    execute(tmp_path / f"{run}.db", "UPDATE test_steps SET status = 'DELETED' "
            "WHERE stepname = 'old'")
    steps = lc.call("get-steps-data", t, run_id=run)
    assert [(s["stepname"], s["state"]) for s in steps] == [("build", "start"), ("build", "end")]
    assert "comment" not in steps[0]  # 7 fields, as Megatest's get-steps-data
    info = lc.call("get-steps-info-by-id", steps[1]["id"], run_id=run)
    assert info["comment"] == "ok" and info["status"] == "PASS"
    assert lc.call("get-steps-info-by-id", 999, run_id=run) is None
    refused(lc, "get-steps-data", 999, run_id=run)  # an unknown test-id is bad input here
    refused(lc, "get-steps-info-by-id", "1", run_id=run)


def test_step_of_another_run_in_the_same_file_is_not_found(lc: LocalCaller) -> None:
    runs = [lc.call("register-run", KEYS, f"r{i}") for i in range(11)]
    t = lc.call("register-test", "foo", run_id=runs[0])
    lc.call("teststep-set-status!", t, "s", "start", "n/a", run_id=runs[0])
    assert lc.call("get-steps-info-by-id", 1, run_id=runs[0]) is not None
    assert lc.call("get-steps-info-by-id", 1, run_id=runs[10]) is None


def test_data_with_two_patterns_and_by_id(lc: LocalCaller) -> None:
    run = lc.call("register-run", KEYS, "r1")
    t = lc.call("register-test", "foo", run_id=run)
    lc.call("csv->test-data", t, "perf,lat,10,10,1\nperf,mem,600,512,<=\nsize,bin,3", run_id=run)
    got = lc.call("read-test-data*", t, "perf", "m%", run_id=run)
    assert [(d["category"], d["variable"], d["status"]) for d in got] == [("perf", "mem", "fail")]
    assert len(lc.call("read-test-data*", t, run_id=run)) == 3
    info = lc.call("get-data-info-by-id", got[0]["id"], run_id=run)
    assert list(info) == ["id", "test_id", "category", "variable", "value", "expected", "tol",
                          "units", "comment", "status", "type"]
    assert lc.call("get-data-info-by-id", 999, run_id=run) is None
    refused(lc, "read-test-data*", t, 5, run_id=run)
    refused(lc, "get-data-info-by-id", None, run_id=run)
