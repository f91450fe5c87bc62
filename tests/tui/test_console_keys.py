"""Issue 15 on registration files with a fake pinger and probe: failures become
one notification, keys belong to their screen, dead rows, marks, filters, names."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from backend.wire.connection import PingResult
from mttui import tasks
from mttui.__main__ import make_app, parse_args
from mttui.actions import PALETTE
from mttui.app import MonitorApp
from mttui.filtering import MARK
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.logview import LogScreen
from tests.tui.fakes import FakePinger, fake_probe, fake_reg, ok, publish, until

pytestmark = pytest.mark.timeout(60)
SIZE = (150, 30)


def errors(app: MonitorApp) -> list[Any]:
    return [n for n in app._notifications if n.severity == "error"]


def record_notes(app: MonitorApp) -> list[tuple[str, str, str]]:
    """Every notification from now on as (title, message, severity): the app's own
    list drops the expired ones, so counting needs a record."""
    seen: list[tuple[str, str, str]] = []
    real = app.notify

    def notify(message: str, *, title: str = "", severity: str = "information",
               **kw: Any) -> None:
        seen.append((title, message, severity))
        real(message, title=title, severity=severity, **kw)  # type: ignore[arg-type]

    app.notify = notify  # type: ignore[method-assign]
    return seen


def footer_keys(app: MonitorApp) -> set[str]:
    return {b.binding.key for b in app.screen.active_bindings.values()
            if b.binding.show and b.enabled}


async def loaded(quiet_area: Path, n: int, **kw: Any) -> tuple[MonitorApp, list[Any]]:
    regs = [fake_reg(43001 + i, 7001 + i, "main.db" if i == 0 else f"{i}.db") for i in range(n)]
    for reg in regs:
        publish(quiet_area, reg)
    kw.setdefault("pinger", FakePinger({r.port: ok(r.server_id) for r in regs}))
    kw.setdefault("probe", fake_probe())
    return make_app(quiet_area, interval=0.5, **kw), regs


# -- 1: a failing action is one notification, never the end of the app ----------------


def boom(*_a: object, **_k: object) -> Any:
    raise RuntimeError("disk on fire\nsecond line never shown")


@pytest.mark.parametrize(("patch", "keys"), [
    ("stop", ("s", "y")),
    ("start", ("n",)),
    ("start", ("R", "y")),  # restart starts the new server first
    ("prune_many", ("x", "y")),
])
async def test_every_action_failing_is_one_error_and_the_app_runs_on(
        quiet_area: Path, monkeypatch: pytest.MonkeyPatch, patch: str, keys: tuple[str, ...],
) -> None:
    dead_pid = 7001 if patch == "prune_many" else -1
    app, _regs = await loaded(quiet_area, 2, probe=fake_probe(gone_pids=(dead_pid,)))
    if patch == "prune_many":
        app.pinger = FakePinger()  # nothing answers: the first row is DEAD
    monkeypatch.setattr(tasks, patch, boom)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 2)
        await pilot.pause(0.2)
        await pilot.press(*keys)
        await until(pilot, lambda: errors(app), what="error notification")
        await pilot.pause(0.3)
        assert len(errors(app)) == 1
        note = errors(app)[0]
        assert "disk on fire" in note.message and "second line" not in note.message
        assert "Traceback" not in note.message
        assert app.is_running and app.return_code is None
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_raising_pinger_and_rescan_are_notified_and_retried(
        quiet_area: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def raising(host: str, port: int, timeout: float) -> PingResult:
        raise OSError("pinger broke")

    app, _regs = await loaded(quiet_area, 1, pinger=raising)
    real_read = tasks.read_snapshot
    monkeypatch.setattr(tasks, "read_snapshot", boom)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any("rescan" in (n.title or "") for n in errors(app)))
        monkeypatch.setattr(tasks, "read_snapshot", real_read)
        await pilot.press("r")  # single flight was cleared: the next rescan runs
        await until(pilot, lambda: app.table.row_count == 1, what="rescan after a failure")
        await until(pilot, lambda: any("pinger broke" in n.message for n in errors(app)))
        await pilot.press("p")
        await until(pilot, lambda: any(n.title == "ping failed" for n in errors(app)))
        assert app.is_running


# -- 4: dead rows: prune, hide, fewer pings ----------------------------------------------


async def test_prune_hide_and_dead_addresses_pinged_rarely(quiet_area: Path) -> None:
    live, dead = fake_reg(44001, 8001), fake_reg(44002, 8002, "1.db")
    publish(quiet_area, live)
    dead_path = publish(quiet_area, dead)
    pinger = FakePinger({44001: ok(live.server_id)})
    counted: dict[int, int] = {}

    def counting(host: str, port: int, timeout: float) -> PingResult:
        counted[port] = counted.get(port, 0) + 1
        return pinger(host, port, timeout)

    app = make_app(quiet_area, interval=0.5, pinger=counting, probe=fake_probe(gone_pids=(8002,)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dead.name in app.rows and app.rows[dead.name].state == "DEAD")
        before = dict(counted)
        await pilot.pause(3.0)
        assert counted[44001] - before[44001] >= 4  # live: every 0.5 s
        assert counted[44002] - before[44002] <= 1  # dead: at most every 5 s
        # s on a dead row: nothing to stop, and it says what to do instead
        app.table.move_cursor(row=app.table.keys.index(dead.name))
        await pilot.press("s")
        await until(pilot, lambda: any("x prunes" in n.message for n in app._notifications))
        assert not isinstance(app.screen, ConfirmScreen)
        # x on a live row: refused without a dialog
        app.table.move_cursor(row=app.table.keys.index(live.name))
        await pilot.press("x")
        await until(pilot, lambda: any("never pruned" in n.message for n in app._notifications))
        # h hides the dead row, h again shows it
        await pilot.press("h")
        await until(pilot, lambda: app.table.keys == [live.name], what="dead row hidden")
        assert "dead hidden" in str(app.query_one("#summary").render())
        await pilot.press("h")
        await until(pilot, lambda: dead.name in app.table.keys)
        # x on the dead row: one confirmation, then the file goes, one notification
        app.table.move_cursor(row=app.table.keys.index(dead.name))
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Prune the registration of 1 server" in app.screen.question
        notes = record_notes(app)
        await pilot.press("y")
        await until(pilot, lambda: dead.name not in app.table.keys, what="pruned row gone")
        assert not dead_path.exists() and (quiet_area / ".servinfo" / live.name).exists()
        await pilot.pause(0.3)
        assert len(notes) == 1 and "pruned: process 8002 is gone" in notes[0][1], notes


async def test_prune_keeps_a_server_that_answers_by_now(quiet_area: Path) -> None:
    reg = fake_reg(44101, 8101)
    path = publish(quiet_area, reg)
    pinger = FakePinger()
    app = make_app(quiet_area, interval=0.5, pinger=pinger, probe=fake_probe(gone_pids=(8101,)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: reg.name in app.rows and app.rows[reg.name].state == "DEAD")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        pinger.answers[44101] = ok(reg.server_id)  # it answers after all: judged again
        await pilot.press("y")
        await until(pilot, lambda: any("kept" in n.message for n in errors(app)))
        assert path.exists()


# -- 6: keys belong to the screen they are shown on ---------------------------------------


async def test_keys_per_screen_ctrl_c_and_palette(quiet_area: Path) -> None:
    app, regs = await loaded(quiet_area, 2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 2)
        main_keys = footer_keys(app)
        assert {"q", "s", "R", "x", "m", "slash", "question_mark"} <= main_keys
        # a dialog's footer: its own keys only, and the main keys do nothing there
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert footer_keys(app) == {"y", "n", "escape"}
        await pilot.press("p", "slash", "q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen) and app.is_running
        assert not app.query_one("#filter").display
        await pilot.press("escape")
        # detail screen: own keys; "/" must not filter the hidden table
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        detail_keys = footer_keys(app)
        assert "slash" not in detail_keys and "n" not in detail_keys
        assert {"p", "s", "R", "x", "l"} <= detail_keys
        await pilot.press("slash", "m", "a", "i", "n")
        await pilot.pause(0.2)
        assert app.filter_text == "" and not app.query_one("#filter").display
        await pilot.press("escape")
        # the palette lists the monitor's actions only
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Restart", "Prune dead", "Mark / unmark", "Hide / show dead rows",
                "Filter: state DEAD", "Filter: state UNRESPONSIVE", "Invert filter", "Force stop",
                "Traffic columns on / off", "By db / by server", "Events pane", "Quit"} <= titles
        assert any(t.startswith("Sort by ") for t in titles)
        assert not titles & {"Theme", "Screenshot", "Maximize", "Keys"}
        for _title, _help, action in PALETTE:  # no entry that does nothing
            assert callable(getattr(app, f"action_{action.partition('(')[0]}", None)), action
        await pilot.press("ctrl+c")
    assert app.return_code == 0


async def test_palette_state_filter_runs(quiet_area: Path) -> None:
    app, regs = await loaded(quiet_area, 2, probe=fake_probe(gone_pids=(7002,)))
    app.pinger = FakePinger({regs[0].port: ok(regs[0].server_id)})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 2)
        await until(pilot, lambda: app.rows[regs[1].name].state == "DEAD")
        await app.run_action("set_filter('state:dead')")
        await until(pilot, lambda: app.table.keys == [regs[1].name])


# -- 12: marks -------------------------------------------------------------------------------


async def test_marks_and_one_confirmation_listing_them(
        quiet_area: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, regs = await loaded(quiet_area, 3)
    stopped: list[str] = []

    def fake_stop_many(area: object, settings: object, entries: Any,
                       force: bool = False) -> list[tasks.Outcome]:
        stopped.extend(e.name for e in entries)
        return [tasks.Outcome(tasks.describe(e), True, "stopped (stop sent)") for e in entries]

    monkeypatch.setattr(tasks, "stop_many", fake_stop_many)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 3)
        app.table.move_cursor(row=0)
        order = list(app.table.keys)
        first, second, third = (next(r for r in regs if r.name == k) for k in order)
        await pilot.press("space", "m")  # rows 1 and 2 (marking moves down)
        assert app.marked == {first.name, second.name}
        await until(pilot, lambda: "2 marked" in str(app.query_one("#summary").render()),
                    what="2 marked in the summary")
        cell = app.table.get_cell(first.name, "server")
        assert str(cell).startswith(MARK)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = app.screen.question
        assert "Stop 2 servers?" in question
        assert str(first.port) in question and str(second.port) in question
        assert str(third.port) not in question
        notes = record_notes(app)
        await pilot.press("y")
        await until(pilot, lambda: notes, what="the result")
        await pilot.pause(0.3)
        assert sorted(stopped) == sorted([first.name, second.name])
        assert [n[0] for n in notes] == ["stop: 2 of 2 done"]  # one notification for the set
        assert not app.marked
        await pilot.press("m", "u")
        assert not app.marked


# -- 13: filters -----------------------------------------------------------------------------


async def test_regex_invert_bad_regex_and_command_line_filter(quiet_area: Path) -> None:
    app, regs = await loaded(quiet_area, 3, filter_text="1.db|2.db")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sorted(app.table.keys) == sorted(r.name for r in regs[1:]),
                    what="--filter applied at start")
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: app.table.keys == [regs[0].name], what="inverted")
        await pilot.press("escape", "slash", "[", "1")
        await until(pilot, lambda: any("not a regular expression" in n.message
                                       for n in app._notifications))
        await until(pilot, lambda: app.table.row_count == 0, what="'[1' searched as text")
        assert app.is_running
        assert len([n for n in app._notifications if "regular" in n.message]) == 1
        await pilot.press("enter", "escape")
        await until(pilot, lambda: app.table.row_count == 3)
    assert parse_args(["--filter", "state:dead"]).filter == "state:dead"


# -- 7 and 14: names, the log screen following a rotated log ---------------------------------


async def test_log_screen_follows_rotation(quiet_area: Path) -> None:
    app, regs = await loaded(quiet_area, 1)
    log = app.area.log_path("main.db", regs[0].pid)
    log.write_text("first line\n")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.table.row_count == 1)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        await until(pilot, lambda: "first line" in screen.lines, what="log shown")
        log.rename(log.with_suffix(".log.1"))  # rotated away, a new file under the name
        log.write_text("after rotation\n")
        await until(pilot, lambda: screen.lines == ["after rotation"], what="new file followed")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogScreen))


async def test_detail_names_load_and_proc_start_as_a_time(quiet_area: Path) -> None:
    reg = fake_reg(45001, 9001)
    reg.extras["proc-start"] = "1700000000.5"
    publish(quiet_area, reg)
    pinger = FakePinger({45001: ok(reg.server_id, sload=3)})
    app = make_app(quiet_area, interval=0.5, pinger=pinger, probe=fake_probe())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ping_rounds >= 1 and app.table.row_count == 1)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        title = app.screen.query_one("#detail-title")
        await until(pilot, lambda: "load 3" in str(title.render()))
        regtext = app.screen.query_one("#detail-registration")
        await until(pilot, lambda: "2023-11-14 22:13:20 UTC" in str(regtext.render()))
        pinger.answers.clear()
        pinger.answers[45001] = PingResult(ok=False, error="Connection refused by the peer")
        await until(pilot, lambda: "Connection refused by the peer" in str(
            app.screen.query_one("#detail-pings").render()), what="whole ping error")
    assert time.time() > 0
