"""What the screens show (pytest-textual-snapshot). Time is frozen, registrations
and pings are fake, so the pictures are deterministic.

Regenerate after a deliberate change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mttui.__main__ import make_app
from mttui.app import MonitorApp
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.help import HelpScreen
from mttui.widgets.events_pane import EventsPane
from tests.tui.fakes import FROZEN, FakePinger, FakeStats, fake_probe, fake_reg, ok, publish, until

pytestmark = pytest.mark.timeout(60)
SIZE = (140, 32)
NARROW, WIDE = (80, 24), (160, 50)
STATS_ROUNDS = 12


def demo_app(area: Path) -> MonitorApp:
    regs = [
        (fake_reg(40101, 7101, start=FROZEN - 3700), FROZEN - 2, ok("", 4, 0.8)),
        (fake_reg(40102, 7102, start=FROZEN - 65), FROZEN - 1, ok("", 0, 0.6)),
        (fake_reg(40103, 7103, "1.db", start=FROZEN - 600), FROZEN - 3, ok("", 12, 1.9)),
        (fake_reg(40104, 7104, "2.db", start=FROZEN - 30), FROZEN, ok("", 0, 0.4, "starting")),
        (fake_reg(40105, 7105, start=FROZEN - 900), FROZEN - 4, None),  # dead
        (fake_reg(40106, 7106, "3.db", start=FROZEN - 9000), FROZEN - 4000, None),  # stale
        (fake_reg(40107, 7107, "1.db", start=FROZEN - 50, host="10.0.0.7",
                  hostname="farm-07"), FROZEN - 2, ok("", 2, 3.2)),
        (fake_reg(40108, 7108, "4.db", start=FROZEN - 100), FROZEN - 2, ok("intruder-id")),
    ]
    answers = {}
    rates = {40101: (42.0, 0, 0.002), 40102: (3.5, 0, 0.0008), 40103: (120.0, 1, 0.004),
             40104: (0.0, 0, 0.001), 40107: (8.0, 0, 0.03)}
    for reg, mtime, ping in regs:
        publish(area, reg, mtime)
        if ping is not None:
            sid = ping.server_id or reg.server_id
            answers[reg.port] = type(ping)(True, sid, ping.sstate, ping.sload, ping.rtt_ms)
    log = area / "logs" / "server-main.db-7101.log"
    log.write_text("".join(
        f"2023-11-14 22:{m:02d}:00,000 INFO request batch {m}: 40 calls, sload peak 4\n"
        for m in range(40)))
    events = area / "logs" / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in (
        {"time": FROZEN - 900, "kind": "start_requested", "host": "h", "writer_pid": 1,
         "dbfname": "main.db", "why": "client"},
        {"time": FROZEN - 899, "kind": "started", "host": "h", "writer_pid": 7105,
         "dbfname": "main.db", "port": 40105},
        {"time": FROZEN - 600, "kind": "started", "host": "h", "writer_pid": 7103,
         "dbfname": "1.db", "port": 40103},
        {"time": FROZEN - 40, "kind": "crashed", "host": "h", "writer_pid": 1,
         "dbfname": "main.db", "pid": 7105, "code": -9},
        {"time": FROZEN - 30, "kind": "started", "host": "h", "writer_pid": 7104,
         "dbfname": "2.db", "port": 40104},
    )))
    app = make_app(area, pinger=FakePinger(answers), clock=lambda: FROZEN,
                   probe=fake_probe(gone_pids=(7105,)), interval=3600, label="/srv/demo-area",
                   stats_fetcher=FakeStats(rates))
    # Only the test polls the counters: a slow run must not add a poll (and move the graphs).
    app.stats_every = 3600
    return app


async def settled(pilot: Any) -> None:
    app = pilot.app
    await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 8)
    for n in range(1, STATS_ROUNDS + 1):  # the graphs' history, one poll at a time
        app.stats_round()
        await until(pilot, lambda n=n: app.book.rounds >= n, what=f"stats round {n}")
    await until(pilot, lambda: app.query_one(EventsPane).count >= 5, what="events")
    app.dirty = True
    app.flush()
    await pilot.pause(0.1)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Event times are shown in local time: make that UTC for the pictures."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_main_table(quiet_area: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    """80x24: Server-id, Ping, PID, Err and p99 dropped; State, Load, Req/s, Age, Touched kept."""
    assert snap_compare(demo_app(quiet_area), terminal_size=size, run_before=settled)


def test_by_db_with_events(quiet_area: Path, snap_compare: Any, utc: None) -> None:
    async def run_before(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("g", "e")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(quiet_area), terminal_size=WIDE, run_before=run_before)


def test_sorted_narrow_column_keeps_its_arrow(quiet_area: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("7")  # Touched, the narrowest kept column
        await pilot.pause(0.2)

    assert snap_compare(demo_app(quiet_area), terminal_size=NARROW, run_before=run_before)


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x50"])
def test_detail_screen(quiet_area: Path, snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("down", "enter")  # row 2: 127.0.0.1:40101 (main.db)
        await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))
        log = pilot.app.screen.query_one("#detail-log")
        await until(pilot, lambda: "batch 39" in str(log.render()), what="log tail")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(quiet_area), terminal_size=size, run_before=run_before)


def test_stop_confirmation(quiet_area: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("down", "s")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.pause(0.1)

    assert snap_compare(demo_app(quiet_area), terminal_size=SIZE, run_before=run_before)


def test_help(quiet_area: Path, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await pilot.pause(0.1)

    assert snap_compare(demo_app(quiet_area), terminal_size=(140, 48), run_before=run_before)
