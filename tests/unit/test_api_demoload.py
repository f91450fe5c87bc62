"""The realistic client, run in-process against sqlite files."""

from __future__ import annotations

import threading
from pathlib import Path

from backend.ops.demoload import LocalCaller, run_demo_load
from tests.unit.conftest import q


def test_demo_load_walks_tests_to_completion(tmp_path: Path) -> None:
    lines: list[str] = []
    with LocalCaller(tmp_path) as lc:
        summary = run_demo_load(lc.call, tests=4, items=3, seed=7, log=lines.append)
    run_id = summary["run_id"]
    db = tmp_path / f"{run_id % 10}.db"
    assert summary["tests"] == 4 and summary["items"] == 12
    assert summary["passed"] + summary["failed"] == 12
    assert summary["max_running"] >= 3 and not summary["stopped"]
    assert q(db, "SELECT count(*) FROM tests WHERE run_id = ?", run_id) == [(16,)]
    assert q(db, "SELECT count(*) FROM tests WHERE state != 'COMPLETED'") == [(0,)]
    assert q(db, "SELECT count(*) FROM tests WHERE item_path != '' AND status = 'PASS'") == [
        (summary["passed"],)
    ]
    assert q(db, "SELECT count(*) FROM test_steps") == [(summary["steps"],)]
    assert q(db, "SELECT count(*) FROM test_data") == [(summary["data_rows"],)]
    parents = q(db, "SELECT pass_count + fail_count FROM tests WHERE item_path = ''")
    assert parents == [(3,)] * 4
    assert q(tmp_path / "main.db", "SELECT SYSTEM, RELEASE FROM runs") == [("linux", "v1.0")]
    assert len(lines) == 5


def test_demo_load_without_items_and_with_existing_keys(tmp_path: Path) -> None:
    with LocalCaller(tmp_path) as lc:
        lc.call("register-run", {"ARCH": "x86"}, "someone-elses-run")
        summary = run_demo_load(lc.call, tests=2, items=0, seed=1, log=lambda s: None)
        assert summary["items"] == 0 and summary["passed"] + summary["failed"] == 2
        assert lc.call("get-run-info", summary["run_id"])["ARCH"] == "demo"


def test_demo_load_stops_when_asked(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with LocalCaller(tmp_path) as lc:
        summary = run_demo_load(lc.call, tests=5, stop_event=stop, log=lambda s: None)
    assert summary["stopped"] and summary["tests"] == 0
