"""The background sync's published state (backend/syncstate.py; issue 18 item 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend import syncstate
from backend.area import Area


def _area(tmp_path: Path) -> Area:
    area = Area.open(tmp_path)
    area.ensure_dirs()
    return area


def test_published_state_reads_back_with_its_writer(tmp_path: Path) -> None:
    area = _area(tmp_path)
    assert syncstate.read(area) is None
    syncstate.publish(area, {"state": "ok", "last_ok": 100.0, "last_rows": 7, "total_rows": 9, "errors": 0})
    got = syncstate.read(area)
    assert got is not None and got["pid"] == os.getpid() and got["last_rows"] == 7
    assert os.stat(area.logs_dir / syncstate.FILE_NAME).st_mode & 0o777 == 0o600
    assert [p.name for p in area.logs_dir.iterdir() if p.name.startswith(".")] == []  # no temp left
    assert syncstate.describe(got, now=112.0) == "sync ok 12s ago, 7 rows (9 in all), 0 errors"


def test_failing_and_stopped_states_say_so(tmp_path: Path) -> None:
    mine = os.getpid()
    failing = {"state": "backoff", "last_error": "cannot connect to db.example", "next_at": 104.0,
               "errors": 3, "pid": mine}
    assert syncstate.describe(failing, now=100.0) == (
        "sync FAILING: cannot connect to db.example, retry in 4s (3 errors)")
    assert syncstate.describe({"state": "stopped", "last_ok": 40.0, "errors": 1, "pid": mine},
                              now=100.0) == "sync stopped (last ok 60s ago, 1 errors)"
    assert syncstate.describe({"state": "syncing", "last_ok": None, "pid": mine}) == "sync starting"


def test_an_ok_state_whose_writer_is_gone_is_not_shown_as_current(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    line = syncstate.describe({"state": "ok", "last_ok": 0.0, "errors": 0, "pid": child.pid}, now=30.0)
    assert line.startswith("sync stopped")


def test_unreadable_states_are_none_never_an_error(tmp_path: Path) -> None:
    area = _area(tmp_path)
    path = area.logs_dir / syncstate.FILE_NAME
    path.write_text("{not json")
    assert syncstate.read(area) is None
    path.write_text("[1, 2]")
    assert syncstate.read(area) is None
    path.unlink()
    os.symlink("/etc/passwd", path)  # never read through a link
    assert syncstate.read(area) is None
