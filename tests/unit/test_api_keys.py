"""api.scm's read-only KEYS group: get-key-val-pairs, get-key-vals, get-target, get-targets."""

from __future__ import annotations

from backend.ops.demoload import LocalCaller
from tests.unit.api_helpers import KEYS, execute, refused


def test_key_values_of_a_run(lc: LocalCaller) -> None:
    assert lc.call("get-targets") == {"keys": [], "targets": []}  # before any run
    run = lc.call("register-run", KEYS, "r1")
    assert lc.call("get-key-val-pairs", run) == KEYS
    assert list(lc.call("get-key-val-pairs", run)) == ["SYSTEM", "RELEASE"]  # key order
    assert lc.call("get-key-vals", run) == ["ubuntu", "v1"]
    assert lc.call("get-target", run) == "ubuntu/v1"


def test_unknown_run_is_empty_not_an_error(lc: LocalCaller) -> None:
    lc.call("register-run", KEYS, "r1")
    assert lc.call("get-key-val-pairs", 99) == {}
    assert lc.call("get-key-vals", 99) == []
    assert lc.call("get-target", 99) == ""


def test_targets_distinct_newest_first_without_deleted(lc: LocalCaller) -> None:
    lc.call("register-run", KEYS, "r1")
    lc.call("register-run", KEYS, "r2")
    lc.call("register-run", {"SYSTEM": "rhel", "RELEASE": "v2"}, "r1")
    gone = lc.call("register-run", {"SYSTEM": "gone", "RELEASE": "v0"}, "r1")
    execute(lc.db_dir / "main.db", "UPDATE runs SET state = 'deleted' WHERE id = ?", gone)
    assert lc.call("get-targets") == {
        "keys": ["SYSTEM", "RELEASE"],
        "targets": [{"SYSTEM": "rhel", "RELEASE": "v2"}, {"SYSTEM": "ubuntu", "RELEASE": "v1"}],
    }


def test_bad_params(lc: LocalCaller) -> None:
    run = lc.call("register-run", KEYS, "r1")
    for cmd in ("get-key-val-pairs", "get-key-vals", "get-target"):
        refused(lc, cmd)
        refused(lc, cmd, "1")
        refused(lc, cmd, -1)
        assert "main.db command" in refused(lc, cmd, run, run_id=run)
    refused(lc, "get-targets", 1)
