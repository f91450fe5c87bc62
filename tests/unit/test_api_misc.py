"""api.scm's SERVERS and MISC groups (read/write section): get-keys-write,
start-server and kill-server without a server, sync-inmem->db, mark-incomplete."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q
from tests.unit.test_api_tests import KEYS, bad_request


@pytest.fixture
def run(lc: LocalCaller) -> int:
    return int(lc.call("register-run", KEYS, "run1"))


def test_get_keys_write_is_get_keys(lc: LocalCaller) -> None:
    assert lc.call("get-keys-write") == []
    lc.call("register-run", KEYS, "r")
    assert lc.call("get-keys-write") == lc.call("get-keys") == ["SYSTEM", "RELEASE"]
    assert "main.db command" in bad_request(lc, "get-keys-write", run_id=1)
    assert "expected 0" in bad_request(lc, "get-keys-write", 1)


@pytest.mark.parametrize("cmd", ["start-server", "kill-server"])
def test_process_control_needs_a_server(lc: LocalCaller, cmd: str) -> None:
    assert "send it to a server" in bad_request(lc, cmd)
    assert "expected 0" in bad_request(lc, cmd, 1)


def test_sync_inmem_to_db_is_a_no_op(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    assert lc.call("sync-inmem->db") is True
    assert lc.call("sync-inmem->db", run_id=run) is True
    assert "expected 0" in bad_request(lc, "sync-inmem->db", run)


def age(path: Path, tid: int, seconds: float, run_duration: int = 0, uname: str = "Linux") -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE tests SET event_time = ?, run_duration = ?, uname = ? WHERE id = ?",
        (time.time() - seconds, run_duration, uname, tid),
    )
    conn.commit()
    conn.close()


def test_mark_incomplete(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    db = tmp_path / f"{run % 10}.db"
    ids = {}
    for name, state, secs, dur in [
        ("stale", "RUNNING", 8000, 0),         # over 7200 + 0
        ("long", "RUNNING", 8000, 3600),       # within 7200 + 3600
        ("remote", "REMOTEHOSTSTART", 9000, 0),
        ("launched", "LAUNCHED", 90000, 0),    # over a day
        ("fresh_launch", "LAUNCHED", 8000, 0),
        ("done", "COMPLETED", 99999, 0),
        ("plain", "RUNNING", 8000, 0),         # uname stays n/a: still a job (see below)
    ]:
        tid = lc.call("register-test", name, run_id=run)
        lc.call("test-set-state-status", tid, state, "n/a", run_id=run)
        age(db, tid, secs, dur, uname="n/a" if name == "plain" else "Linux")
        ids[name] = tid
    item = lc.call("register-test", "iter", "i1", run_id=run)
    lc.call("test-set-state-status-by-id", item, "RUNNING", None, run_id=run)
    age(db, item, 8000)
    parent = lc.call("get-test-id", "iter", run_id=run)
    # a parent row of items never runs itself: left alone (its items decide)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE tests SET state = 'RUNNING', event_time = 0 WHERE id = ?", (parent,))
    conn.commit()
    conn.close()
    got = lc.call("mark-incomplete", run_id=run)
    assert got == sorted([ids["stale"], ids["remote"], ids["launched"], ids["plain"], item])
    assert q(db, "SELECT DISTINCT state, status, comment FROM tests WHERE id IN (?, ?)",
             ids["stale"], item) == [("COMPLETED", "DEAD", "Test failed to complete")]
    assert q(db, "SELECT state FROM tests WHERE id = ?", ids["long"]) == [("RUNNING",)]
    # the item's parent is rolled up from its (now dead) item
    assert q(db, "SELECT state, status FROM tests WHERE id = ?", parent) == [("COMPLETED", "DEAD")]
    # a smaller deadtime catches the long one too
    assert lc.call("mark-incomplete", 60, run_id=run) == [ids["long"]]
    assert lc.call("mark-incomplete", run_id=run) == []


def test_mark_incomplete_bad_input(lc: LocalCaller, run: int) -> None:
    assert "ovr-deadtime must be a number" in bad_request(lc, "mark-incomplete", "x", run_id=run)
    assert ">= 0" in bad_request(lc, "mark-incomplete", -1, run_id=run)
    assert "needs a run-id" in bad_request(lc, "mark-incomplete")
