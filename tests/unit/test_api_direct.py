"""--direct: read commands straight from the db file, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

import backend.db.direct as direct
from backend.area import Area
from backend.config import Settings
from backend.db.direct import call_direct
from backend.errors import CommandError, StoreError
from backend.ops.demoload import LocalCaller


@pytest.fixture
def area(tmp_path: Path) -> Area:
    area = Area.open(tmp_path)
    area.ensure_dirs()
    return area


def test_reads_what_a_server_wrote(area: Area) -> None:
    with LocalCaller(area.db_dir) as lc:
        run = lc.call("register-run", {"SYSTEM": "u"}, "r1")
        tid = lc.call("register-test", "t", run_id=run)
        lc.call("set-var", "color", "blue")
    s = Settings()
    assert call_direct(area, s, "get-keys", None, []) == ["SYSTEM"]
    assert call_direct(area, s, "get-var", None, ["color"]) == "blue"
    assert call_direct(area, s, "get-test-id", run, ["t"]) == tid
    assert call_direct(area, s, "get-run-info", None, [run])["runname"] == "r1"


def test_refuses_writes_and_bad_input(area: Area) -> None:
    with LocalCaller(area.db_dir) as lc:
        lc.call("set-var", "a", "b")
    s = Settings()
    with pytest.raises(CommandError, match="only serves read commands"):
        call_direct(area, s, "set-var", None, ["a", "c"])
    with pytest.raises(CommandError) as info:
        call_direct(area, s, "no-such", None, [])
    assert info.value.code == "unknown_command"
    with pytest.raises(CommandError, match="bad_request"):
        call_direct(area, s, "get-var", None, [1])
    with pytest.raises(CommandError, match="invalid run-id"):
        call_direct(area, s, "get-test-id", -1, ["t"])


def test_missing_db_is_a_clear_error(area: Area) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        call_direct(area, Settings(), "get-var", None, ["x"])
    assert not (area.db_dir / "main.db").exists()  # and it is not created


def test_waits_on_the_journal_first(area: Area, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalCaller(area.db_dir) as lc:
        lc.call("set-var", "a", "b")
    seen: list[Path] = []
    monkeypatch.setattr(direct, "wait_on_journal", lambda p: seen.append(p) or 0.0)
    assert call_direct(area, Settings(), "get-var", None, ["a"]) == "b"
    assert seen == [area.db_dir / "main.db"]
