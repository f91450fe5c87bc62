"""Issue 15 against real servers: a marked set stopped with one confirmation,
restart, the detail log followed past the registration, start in an immutable area."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backend.client import status
from mttui.__main__ import make_app
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from tests.tui.fakes import until
from tests.tui.test_console_keys import errors, record_notes
from tests.tui.test_pilot_live import start_server

pytestmark = pytest.mark.timeout(90)
SIZE = (150, 30)


async def test_marked_set_stopped_with_one_confirmation(area: Path) -> None:
    names = [await start_server(area, db) for db in ("main.db", "1.db", "2.db")]
    app = make_app(area, interval=0.5, traffic=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(n in app.rows and app.rows[n].state == status.RUNNING
                                       for n in names), limit=20)
        app.table.move_cursor(row=0)
        order = list(app.table.keys)
        await pilot.press("m", "m")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Stop 2 servers?" in app.screen.question
        notes = record_notes(app)
        await pilot.press("y")
        await until(pilot, lambda: order[0] not in app.table.keys and order[1] not in
                    app.table.keys, limit=30, what="both stopped")
        await until(pilot, lambda: notes, what="the result")
        await pilot.pause(0.5)
        assert [n[0] for n in notes] == ["stop: 2 of 2 done"], notes
        assert app.rows[order[2]].state == status.RUNNING


async def test_restart_starts_a_new_server_then_stops_the_old(area: Path) -> None:
    old = await start_server(area)
    app = make_app(area, interval=0.5, traffic=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: old in app.rows and app.rows[old].state == status.RUNNING,
                    limit=20)
        old_pid = app.rows[old].entry.registration.pid
        notes = record_notes(app)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: notes, limit=45, what="restart result")
        assert notes[0][0] == "restart" and notes[0][2] == "information", notes
        await until(pilot, lambda: old not in app.table.keys and app.table.row_count == 1,
                    limit=20)
        new = app.rows[app.table.keys[0]]
        assert new.entry.registration.pid != old_pid
        assert new.entry.registration.dbfname == "main.db"


async def test_detail_log_follows_after_the_registration_goes(area: Path) -> None:
    name = await start_server(area)
    app = make_app(area, interval=0.5, traffic=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: name in app.rows and app.rows[name].state == status.RUNNING,
                    limit=20)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        detail = app.screen
        log_text = detail.query_one("#detail-log")
        await until(pilot, lambda: "serving main.db" in str(log_text.render()), what="log tail")
        await pilot.press("s")  # the detail screen's own stop, on its own server
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.screen is detail and name not in app.rows, limit=30,
                    what="registration gone")
        title = detail.query_one("#detail-title")
        await until(pilot, lambda: "registration gone" in str(title.render()))
        await until(pilot, lambda: "Exiting now" in str(log_text.render()), limit=10,
                    what="the final shutdown lines")


@pytest.fixture
def immutable_area(area: Path) -> Iterator[Path]:
    """The area with chattr +i (as in the issue): nothing can be created in it."""
    if subprocess.run(["chattr", "+i", str(area)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root and a filesystem that supports it")
    yield area
    subprocess.run(["chattr", "-i", str(area)], check=False)


async def test_start_in_an_immutable_area_is_one_error(immutable_area: Path) -> None:
    app = make_app(immutable_area, interval=0.5, traffic=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.loaded)
        await pilot.press("n", "enter")
        await until(pilot, lambda: errors(app), what="error notification")
        await pilot.pause(0.5)
        assert len(errors(app)) == 1 and errors(app)[0].title == "start failed"
        assert "Traceback" not in errors(app)[0].message
        assert app.is_running
        await pilot.press("ctrl+c")
    assert app.return_code == 0


async def test_frozen_server_is_unresponsive_and_force_stop_ends_it(area: Path) -> None:
    name = await start_server(area)
    app = make_app(area, interval=0.5, traffic=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: name in app.rows and app.rows[name].state == status.RUNNING,
                    limit=20)
        pid = app.rows[name].entry.registration.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            await until(pilot, lambda: app.rows[name].state == status.UNRESPONSIVE, limit=15,
                        what="UNRESPONSIVE")
            notes = record_notes(app)
            await pilot.press("S")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "Force-stop" in app.screen.question
            await pilot.press("y")
            await until(pilot, lambda: notes, limit=40, what="force stop result")
            assert notes[0][0] == "force stop" and notes[0][2] == "information", notes
            await until(pilot, lambda: name not in app.table.keys, limit=10)
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
