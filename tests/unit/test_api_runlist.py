"""api.scm's read-only RUNS group: run status/name, listings, neighbours, set-run-status."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.ops.demoload import LocalCaller
from tests.unit.api_helpers import KEYS, execute, refused
from tests.unit.conftest import q

OTHER = {"SYSTEM": "rhel", "RELEASE": "v2"}


@pytest.fixture
def runs(lc: LocalCaller, tmp_path: Path) -> list[int]:
    """r1, r2 (ubuntu/v1), r3 (rhel/v2), r4 (ubuntu/v1, deleted); event_time 100..400."""
    ids = [lc.call("register-run", k, n) for k, n in
           ((KEYS, "r1"), (KEYS, "r2"), (OTHER, "r3"), (KEYS, "r4"))]
    for i, rid in enumerate(ids, 1):
        execute(tmp_path / "main.db", "UPDATE runs SET event_time = ? WHERE id = ?", i * 100, rid)
    execute(tmp_path / "main.db", "UPDATE runs SET state = 'deleted' WHERE id = ?", ids[3])
    return ids


def test_status_name_and_set_run_status(lc: LocalCaller, runs: list[int], tmp_path: Path) -> None:
    r1 = runs[0]
    assert lc.call("get-run-status", r1) == "n/a"
    assert lc.call("set-run-status", r1, "JUSTFINE") is True
    assert lc.call("get-run-status", r1) == "JUSTFINE"
    assert lc.call("set-run-status", r1, "NOTFINE", "A message") is True
    assert q(tmp_path / "main.db", "SELECT status, comment FROM runs WHERE id = ?", r1) == [
        ("NOTFINE", "A message")]
    assert lc.call("get-run-status", 99) == "n/a"
    assert lc.call("get-run-name-from-id", r1) == "r1"
    assert lc.call("get-run-name-from-id", 99) is None
    assert "unknown run-id 99" in refused(lc, "set-run-status", 99, "x")
    refused(lc, "set-run-status", r1, 5)
    refused(lc, "set-run-status", r1, "x", ["m"])
    refused(lc, "get-run-status", r1, run_id=r1)


def test_counts_ids_and_neighbours(lc: LocalCaller, runs: list[int]) -> None:
    r1, r2, r3, r4 = runs
    assert lc.call("get-num-runs", "%") == 3  # the deleted run is not counted
    assert lc.call("get-num-runs", "r1,r3") == 2
    assert lc.call("get-all-run-ids") == [r3, r2, r1]  # newest event_time first
    assert lc.call("get-prev-run-ids", r1) == [r2]  # same target, not deleted, not itself
    assert lc.call("get-prev-run-ids", r3) == []
    assert lc.call("get-prev-run-ids", 99) == []
    # Megatest includes deleted runs here; newest id first.
    assert lc.call("get-run-ids-matching-target", ["SYSTEM", "RELEASE"], "ubuntu/%") == [
        r4, r2, r1]
    assert lc.call("get-run-ids-matching-target", ["SYSTEM"], "rhel", None, "r%") == [r3]
    assert lc.call("get-run-ids-matching-target", ["RELEASE"], "v1", None, "r2") == [r2]
    refused(lc, "get-run-ids-matching-target", ["NOPE"], "x")
    refused(lc, "get-num-runs", 5)
    refused(lc, "get-all-run-ids", 1)


def test_get_runs_header_and_rows_oldest_first(lc: LocalCaller, runs: list[int]) -> None:
    r1, r2, r3, _ = runs
    got = lc.call("get-runs", "%", 10, 0, [["SYSTEM", "ubuntu"]])
    assert got["header"] == ["SYSTEM", "RELEASE", "id", "runname", "state", "status", "owner",
                             "event_time"]
    assert [r["id"] for r in got["rows"]] == [r1, r2]
    # count = the newest N, still listed oldest first (Megatest's order).
    assert [r["id"] for r in lc.call("get-runs", "%", 2)["rows"]] == [r2, r3]
    assert [r["id"] for r in lc.call("get-runs", "%", 2, 1)["rows"]] == [r1, r2]
    assert [r["id"] for r in lc.call("get-runs", "%", None, None,
                                     {"SYSTEM": "ubuntu,rhel"})["rows"]] == [r1, r2, r3]
    refused(lc, "get-runs", "%", 10, 0, [["NOPE", "x"]])
    refused(lc, "get-runs", "%", 10, 0, "SYSTEM")
    refused(lc, "get-runs", "%", -5)


def test_simple_get_runs(lc: LocalCaller, runs: list[int]) -> None:
    r1, r2, r3, _ = runs
    got = lc.call("simple-get-runs", "%", 10, 0, "ubuntu/%")
    assert [(r["target"], r["id"], r["runname"]) for r in got] == [
        ("ubuntu/v1", r1, "r1"), ("ubuntu/v1", r2, "r2")]
    assert set(got[0]) == {"target", "id", "runname", "state", "status", "owner", "event_time"}
    assert [r["id"] for r in lc.call("simple-get-runs", "r3")] == [r3]
    refused(lc, "simple-get-runs", "%", 10, 0, 7)


def test_get_runs_by_patt_in_megatest_form(lc: LocalCaller, runs: list[int],
                                           tmp_path: Path) -> None:
    r1, r2, r3, _ = runs
    keys = ["SYSTEM", "RELEASE"]
    got = lc.call("get-runs-by-patt", keys, "%", "%/%", None, None, None, 0)
    assert got["header"] == [*keys, "id", "runname", "state", "status", "owner", "event_time"]
    assert [r["id"] for r in got["rows"]] == [r1, r2, r3]  # oldest first, deleted left out
    assert [r["id"] for r in lc.call("get-runs-by-patt", keys, "r%", "ubuntu")["rows"]] == []
    assert [r["id"] for r in lc.call("get-runs-by-patt", keys, "r%", "ubuntu/v1")["rows"]] == [
        r1, r2]
    got = lc.call("get-runs-by-patt", ["RELEASE"], "r2", None, 0, 1, ["runname", "status"])
    assert got == {"header": ["RELEASE", "runname", "status"],
                   "rows": [{"RELEASE": "v1", "runname": "r2", "status": "n/a"}]}
    assert lc.call("get-runs-by-patt", keys, "%", "%/%", None, None, None, 2e9)["rows"] == []
    refused(lc, "get-runs-by-patt", ["NOPE"], "%")
    refused(lc, "get-runs-by-patt", keys, "%", None, None, None, ["id; drop"])
    refused(lc, "get-runs-by-patt", keys, 5)
