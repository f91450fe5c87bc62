"""api.scm's NO SYNC DB group: no-sync-set, no-sync-get/default, no-sync-del!,
no-sync-get-lock (a table of main.db here)."""

from __future__ import annotations

from pathlib import Path

from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q
from tests.unit.test_api_tests import bad_request


def test_set_get_del(lc: LocalCaller, tmp_path: Path) -> None:
    assert lc.call("no-sync-get/default", "a", "dflt") == "dflt"
    assert lc.call("no-sync-get/default", "a") is None
    assert lc.call("no-sync-set", "a", "hello") is True
    assert lc.call("no-sync-set", "n", 42) is True
    assert lc.call("no-sync-set", "f", 1.5) is True
    assert lc.call("no-sync-get/default", "a", "dflt") == "hello"
    # stored as text, returned as a number when it is one (Megatest's rule)
    assert q(tmp_path / "main.db", "SELECT val FROM no_sync_metadat WHERE var = 'n'") == [("42",)]
    assert lc.call("no-sync-get/default", "n", 0) == 42
    assert lc.call("no-sync-get/default", "f", 0) == 1.5
    assert lc.call("no-sync-set", "a", "") is True
    assert lc.call("no-sync-get/default", "a", "x") == ""
    assert lc.call("no-sync-del!", "a") is True
    assert lc.call("no-sync-del!", "a") is False
    assert lc.call("no-sync-get/default", "a", "gone") == "gone"


def test_lock_is_granted_once_until_released(lc: LocalCaller) -> None:
    granted, when = lc.call("no-sync-get-lock", "build")
    assert granted is True and isinstance(when, float) and when > 0
    assert lc.call("no-sync-get-lock", "build") == [False, when]  # the holder's time, a number
    assert lc.call("no-sync-del!", "build") is True
    again, later = lc.call("no-sync-get-lock", "build")
    assert again is True and later >= when


def test_bad_input(lc: LocalCaller) -> None:
    assert "val must be" in bad_request(lc, "no-sync-set", "a", None)
    assert "val must be" in bad_request(lc, "no-sync-set", "a", [1])
    assert "var must be" in bad_request(lc, "no-sync-set", "", "x")
    assert "var must be" in bad_request(lc, "no-sync-get/default", 5)
    assert "expected 1..2" in bad_request(lc, "no-sync-get/default")
    assert "var must be" in bad_request(lc, "no-sync-get-lock", None)
    assert "main.db command" in bad_request(lc, "no-sync-set", "a", "b", run_id=1)
