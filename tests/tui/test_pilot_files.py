"""Pilot tests on registration files alone (fake pinger, no server processes)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from backend import registry
from backend.client import status
from mttui.__main__ import make_app
from tests.tui.fakes import FakePinger, fake_probe, fake_reg, ok, publish, until

pytestmark = pytest.mark.timeout(60)
SIZE = (150, 30)
MEGATEST_NAME = "127.0.0.1:40001-4242:main.db"
MEGATEST_LINE = ("SERVER STARTED: 127.0.0.1:40001 AT 1616502350.0 server-id: abc "
                 "pid: 4242 dbfname: main.db\n")


def write_garbage(servinfo: Path) -> set[str]:
    """Bad entries that must be reported; returns the names expected in problems."""
    (servinfo / "127.0.0.1:40002-4243:main.db").write_text("")  # empty
    (servinfo / "127.0.0.1:40003-4244:main.db").write_bytes(b"\x00\xff\xfe binary")
    os.mkfifo(servinfo / "127.0.0.1:40004-4245:main.db")
    os.symlink("/etc/passwd", servinfo / "127.0.0.1:40005-4246:main.db")
    (servinfo / "127.0.0.1:40006-4247:main.db").mkdir()
    (servinfo / ".nfs123").write_text("silly rename")  # ignored silently
    (servinfo / "garbage.txt").write_text("hello")
    return {
        "127.0.0.1:40002-4243:main.db", "127.0.0.1:40003-4244:main.db",
        "127.0.0.1:40004-4245:main.db", "127.0.0.1:40005-4246:main.db",
        "127.0.0.1:40006-4247:main.db", "garbage.txt",
    }


async def test_megatest_files_and_garbage(quiet_area: Path) -> None:
    servinfo = quiet_area / ".servinfo"
    (servinfo / MEGATEST_NAME).write_text(MEGATEST_LINE)
    bad = write_garbage(servinfo)
    pinger = FakePinger({40001: ok("abc", sload=3)})
    app = make_app(quiet_area, pinger=pinger, probe=fake_probe(), interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.table.keys == [MEGATEST_NAME], what="the valid row")
        await until(pilot, lambda: app.rows[MEGATEST_NAME].state == status.RUNNING)
        assert {p.name for p in app.snapshot.problems} == bad
        await until(pilot, lambda: "6 bad files" in str(app.query_one("#summary").render()))
        toasts = [n for n in app._notifications if "bad registration" in (n.title or "")]
        assert len(toasts) == 1 and "garbage.txt" in toasts[0].message
        await pilot.press("r")  # a rescan does not repeat the report
        await pilot.pause(0.5)
        assert len([n for n in app._notifications if "bad registration" in (n.title or "")]) == 1
        assert app.rows[MEGATEST_NAME].cells[4] == "3"


async def test_latency_moved_shape_and_removal(quiet_area: Path) -> None:
    reg = fake_reg(41000, 5000)
    app = make_app(quiet_area, pinger=FakePinger({41000: ok(reg.server_id)}),
                   probe=fake_probe(), interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.loaded)
        t0 = time.monotonic()
        path = publish(quiet_area, reg)  # .tmp-... then os.replace: inotify "moved"
        await until(pilot, lambda: reg.name in app.table.keys, limit=1.0, what="row")
        print(f"file -> row latency (inotify): {(time.monotonic() - t0) * 1000:.0f} ms")
        path.unlink()
        await until(pilot, lambda: app.table.row_count == 0, limit=1.0, what="row removed")


async def test_polling_sees_created_files(quiet_area: Path) -> None:
    reg = fake_reg(41001, 5001)
    app = make_app(quiet_area, pinger=FakePinger(), probe=fake_probe(), poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.loaded)
        assert app.observer_kind == "polling"
        t0 = time.monotonic()
        publish(quiet_area, reg)
        await until(pilot, lambda: reg.name in app.table.keys, limit=1.0, what="row")
        print(f"file -> row latency (polling 0.1 s): {(time.monotonic() - t0) * 1000:.0f} ms")


async def test_servinfo_created_after_start(area: Path) -> None:
    assert not (area / ".servinfo").exists()
    reg = fake_reg(41002, 5002)
    app = make_app(area, pinger=FakePinger(), probe=fake_probe())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.loaded)
        assert app.watcher is not None and app.watcher.watching_root
        (area / ".servinfo").mkdir()
        registry.publish(area / ".servinfo", reg)
        await until(pilot, lambda: reg.name in app.table.keys, limit=1.5, what="row")
        await until(pilot, lambda: not app.watcher.watching_root, what="retargeted")
        reg2 = fake_reg(41003, 5003)
        publish(area, reg2)
        await until(pilot, lambda: reg2.name in app.table.keys, limit=1.0, what="second row")


async def test_states_from_file_and_ping(quiet_area: Path) -> None:
    now = time.time()
    running = fake_reg(42001, 6001)
    mismatch = fake_reg(42002, 6002)
    dead = fake_reg(42003, 6003)
    stale = fake_reg(42004, 6004)
    remote = fake_reg(42005, 6005, host="10.0.0.5", hostname="elsewhere")
    for reg in (running, mismatch, dead, remote):
        publish(quiet_area, reg)
    publish(quiet_area, stale, mtime=now - 3600)
    pinger = FakePinger({42001: ok(running.server_id), 42002: ok("someone-else"),
                         42005: ok(remote.server_id, sstate="starting")})
    app = make_app(quiet_area, pinger=pinger, probe=fake_probe(gone_pids=(6003,)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 5)
        await pilot.pause(0.3)
        labels = {k: r.label for k, r in app.rows.items()}
        assert labels == {
            running.name: "RUNNING", mismatch.name: "MISMATCH", dead.name: "DEAD",
            stale.name: "STALE", remote.name: "REMOTE STARTING",
        }
        summary = str(app.query_one("#summary").render())
        assert "5 servers" in summary and "1 MISMATCH" in summary and "inotify" in summary


async def test_unreadable_servinfo_is_a_notification(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    (root / ".servinfo").write_text("not a directory")  # scandir fails: ENOTDIR
    app = make_app(root, pinger=FakePinger(), probe=fake_probe())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications),
                    what="error toast")
        assert app.is_running and app.table.row_count == 0


async def test_summary_shows_the_central_sync_state(quiet_area: Path) -> None:
    """Issue 18: the state of `backend serve --sync-to` in the monitor's header."""
    from backend import syncstate
    from backend.area import Area

    area = Area.open(quiet_area)
    area.ensure_dirs()
    syncstate.publish(area, {"state": "backoff", "last_error": "cannot connect to central",
                             "next_at": time.time() + 30, "errors": 2})
    app = make_app(quiet_area, pinger=FakePinger({}), probe=fake_probe(), interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "sync FAILING: cannot connect to central" in
                    str(app.query_one("#summary").render()), what="the sync state in the summary")


async def test_a_server_appearing_right_after_a_redraw_is_not_held_for_the_full_cap(
    quiet_area: Path,
) -> None:
    """The redraw cap is 4 a second; rows appearing or leaving may redraw after
    ROW_REDRAW_S: a ping round's redraw just before must not hold a new server
    back 250 ms (issue 16: file -> row)."""
    from mttui.timing import ROW_REDRAW_S

    app = make_app(quiet_area, pinger=FakePinger({}), probe=fake_probe(), interval=3600)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.loaded, what="the first read")
        app.dirty = True
        app.flush()  # a redraw (a ping round's, say) just now
        t0 = time.monotonic()
        app.request_flush()  # a cell changed: waits for the 4-a-second cap
        assert app._flush_due - t0 > ROW_REDRAW_S
        reg = fake_reg(41500, 5100)
        publish(quiet_area, reg)
        app.apply_snapshot(app._read().snapshot)  # what the rescan hands the app
        # A new name: the pending redraw is brought forward to the rows' cap.
        assert app._flush_due - t0 <= ROW_REDRAW_S + 0.01
        await until(pilot, lambda: len(app.table.keys) == 1, what="the new row")
        # A touch (same names, new mtime) keeps the 4-a-second cap.
        app.dirty = True
        app.flush()
        t1 = time.monotonic()
        os.utime(quiet_area / ".servinfo" / reg.name, (t1 + 5, t1 + 5))
        app.apply_snapshot(app._read().snapshot)
        assert app._flush_due - t1 > ROW_REDRAW_S + 0.01
