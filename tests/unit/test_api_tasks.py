"""api.scm's TASKS group (read/write section): tasks-add,
tasks-set-state-given-param-key, tasks-get-last."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q
from tests.unit.test_api_tests import bad_request


def test_add_and_get_last(lc: LocalCaller, tmp_path: Path) -> None:
    assert lc.call("tasks-get-last", "ubuntu/v1", "nightly") is None
    first = lc.call("tasks-add", "run", "bob", "ubuntu/v1", "nightly", "%", "-run key1")
    second = lc.call("tasks-add", "remove", "ann", "ubuntu/v1", "nightly", "a/%")
    lc.call("tasks-add", "run", "bob", "ubuntu/v2", "nightly", "%")
    assert second == first + 1
    last = lc.call("tasks-get-last", "ubuntu/v1", "nightly")
    assert list(last) == [
        "id", "action", "owner", "state", "target", "name", "testpatt", "keylock", "params",
        "creation_time", "execution_time",
    ]
    assert (last["id"], last["action"], last["state"], last["params"], last["execution_time"]) == (
        second, "remove", "new", "", 0
    )
    assert last["creation_time"] > 0
    # newest by creation_time, not by id
    conn = sqlite3.connect(tmp_path / "main.db")
    conn.execute("UPDATE tasks_queue SET creation_time = creation_time + 100 WHERE id = ?", (first,))
    conn.commit()
    conn.close()
    assert lc.call("tasks-get-last", "ubuntu/v1", "nightly")["id"] == first
    assert lc.call("tasks-get-last", "ubuntu/%", "nightly") is None  # exact match, no pattern


def test_set_state_given_param_key(lc: LocalCaller, tmp_path: Path) -> None:
    lc.call("tasks-add", "run", "bob", "t", "r", "%", "-run key_1 -x")
    lc.call("tasks-add", "run", "bob", "t", "r", "%", "-run keyX1")
    lc.call("tasks-add", "run", "bob", "t", "r", "%")
    # _ is literal here (Megatest's LIKE made it a wildcard)
    assert lc.call("tasks-set-state-given-param-key", "%key_1%", "done") == 1
    assert q(tmp_path / "main.db", "SELECT state FROM tasks_queue ORDER BY id") == [
        ("done",), ("new",), ("new",)
    ]
    assert lc.call("tasks-set-state-given-param-key", "%", "held") == 3


def test_bad_input(lc: LocalCaller) -> None:
    assert "expected 5..6" in bad_request(lc, "tasks-add", "run")
    assert "owner must be" in bad_request(lc, "tasks-add", "run", 3, "t", "r", "%")
    assert "params must be" in bad_request(lc, "tasks-add", "run", "b", "t", "r", "%", ["x"])
    assert "longer than 64 KiB" in bad_request(lc, "tasks-add", "x" * 70000, "b", "t", "r", "%")
    assert "new-state" in bad_request(lc, "tasks-set-state-given-param-key", "k", None)
    assert "target must be" in bad_request(lc, "tasks-get-last", None, "r")
    assert "main.db command" in bad_request(lc, "tasks-get-last", "t", "r", run_id=3)
