"""Pilot tests against real server processes (the ``area`` fixture reaps them)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from backend.client import status
from mttui.__main__ import make_app
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.help import HelpScreen
from mttui.screens.startdb import StartDbScreen
from tests.helpers import backend, entries
from tests.tui.fakes import until

pytestmark = pytest.mark.timeout(60)
SIZE = (150, 30)


async def start_server(area: Path, db: str = "main.db") -> str:
    """Start a server via the launcher (in a thread: the app shares our loop)."""
    before = {e.name for e in entries(area, db)}
    await asyncio.to_thread(backend, "start", "--area", str(area), "--db", db, check=True)
    new = [e.name for e in entries(area, db) if e.name not in before]
    assert new, "backend start registered nothing"
    return new[0]


async def test_server_appears_by_itself_and_sigkill_turns_it_dead(area: Path) -> None:
    app = make_app(area, interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.loaded, what="first snapshot")
        name = await start_server(area)
        published = (area / ".servinfo" / name).stat().st_ctime
        await until(pilot, lambda: name in app.table.keys, limit=1.0, what="row within 1 s")
        latency = time.time() - published
        print(f"file -> row latency (real server): {latency * 1000:.0f} ms")
        assert latency < 1.0
        await until(pilot, lambda: app.rows[name].state == status.RUNNING, what="RUNNING")
        os.kill(app.rows[name].entry.registration.pid, signal.SIGKILL)
        await until(pilot, lambda: app.rows[name].state != status.RUNNING, limit=8,
                    what="non-RUNNING after kill -9")
        assert app.rows[name].state in (status.DEAD, status.UNRESPONSIVE)


async def test_start_from_empty_table_and_from_a_row(area: Path) -> None:
    app = make_app(area, interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.loaded)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, StartDbScreen), what="db picker")
        await pilot.press("enter")  # default: main.db
        await until(pilot, lambda: app.table.row_count == 1, limit=20, what="first server")
        assert app.rows[app.table.keys[0]].entry.registration.dbfname == "main.db"
        await pilot.press("n")  # the highlighted row's db
        await until(pilot, lambda: app.table.row_count == 2, limit=20, what="second server")
        assert {r.entry.registration.dbfname for r in app.rows.values()} == {"main.db"}


async def test_stop_asks_first_and_defaults_to_no(area: Path) -> None:
    name = await start_server(area)
    app = make_app(area, interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: name in app.rows and app.rows[name].state == status.RUNNING)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")  # focus is on No
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.5)
        assert name in app.table.keys and (area / ".servinfo" / name).exists()
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: name not in app.table.keys, limit=20, what="row removed")
        assert not (area / ".servinfo" / name).exists()


async def test_keys_filter_sort_ping_detail_help(area: Path) -> None:
    main = await start_server(area, "main.db")
    other = await start_server(area, "1.db")
    app = make_app(area, interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(
            k in app.rows and app.rows[k].state == status.RUNNING for k in (main, other)))
        await until(pilot, lambda: app.table.row_count == 2)
        # Put the cursor on the 1.db server, then sort and filter: it must stay there.
        await pilot.press("2")  # sort by db: main.db (-1) first
        await until(pilot, lambda: app.table.keys == [main, other])
        await pilot.press("down")
        assert app.table.cursor_key == other
        await pilot.press("2")  # reverse
        await until(pilot, lambda: app.table.keys == [other, main])
        assert app.table.cursor_key == other
        assert "▼" in str(app.table.columns["db"].label)
        await pilot.press("3")  # pid
        await pilot.pause(0.1)
        assert app.table.cursor_key == other and "▲" in str(app.table.columns["pid"].label)
        # a regex: "1.db" could match a server-id's hex ("1adb"), "1\.db" cannot
        await pilot.press("slash", "1", "backslash", *".db")
        await until(pilot, lambda: app.table.keys == [other], what="filtered")
        assert app.table.cursor_key == other
        await pilot.press("enter", "escape")
        await until(pilot, lambda: app.table.row_count == 2, what="filter cleared")
        assert app.table.cursor_key == other
        # p: ping now, answered with a toast carrying the round trip
        await pilot.press("p")
        await until(pilot, lambda: any(" ms" in str(n.message) for n in app._notifications),
                    what="ping toast")
        # + / - / z / r
        await pilot.press("minus")
        assert app.interval == 1.0
        await pilot.press("plus", "plus")
        assert app.interval == 0.5
        await pilot.press("z")
        assert app.paused
        await pilot.press("z", "r")
        assert not app.paused
        # enter: details with the server's log tail
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        log_text = app.screen.query_one("#detail-log")
        await until(pilot, lambda: "serving 1.db" in str(log_text.render()), what="log tail")
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_code == 0


async def test_read_only_hides_stop_and_start(area: Path) -> None:
    name = await start_server(area)
    app = make_app(area, read_only=True, interval=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: name in app.table.keys)
        footer = {b.binding.action for b in app.active_bindings.values()}
        assert not footer & {"stop_server", "start_server", "restart_server", "prune"}
        assert "ping_now" in footer
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not set(titles) & {"Stop", "Start server", "Restart", "Prune dead"}
        assert "Ping now" in titles
        await pilot.press("s", "n", "R", "x")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, (ConfirmScreen, StartDbScreen))
        assert (area / ".servinfo" / name).exists()
