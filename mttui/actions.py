"""Key actions and palette commands of the monitor (a mixin of ``MonitorApp``).

Actions only decide and start a worker; results come back through the app's
``on_worker_state_changed`` and end here in ``on_action_done``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.widgets import Input

from backend.client.control import StopResult
from backend.client.launcher import LaunchResult
from mttui import model, tasks
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.help import HelpScreen
from mttui.screens.startdb import StartDbScreen

if TYPE_CHECKING:
    from mttui.app import MonitorApp

    _Base = MonitorApp
else:
    _Base = object

WRITE_ACTIONS = {"stop_server", "start_server"}

PALETTE = (
    ("Ping now", "Ping the highlighted server and show the round trip", "ping_now"),
    ("Stop server", "Stop the highlighted server (asks first)", "stop_server"),
    ("Start server", "Start a server for the highlighted row's db, or choose one", "start_server"),
    ("Rescan", "Re-read .servinfo/ now", "rescan"),
    ("Filter", "Show only rows containing some text", "filter"),
    ("Clear filter", "Show every row", "clear_filter"),
    ("Details", "Registration, process, ping history, load and log of the server", "details"),
    ("Pause / resume pings", "Stop or restart background pings", "pause"),
    ("Ping faster", "Shorter ping interval", "interval(-1)"),
    ("Ping slower", "Longer ping interval", "interval(1)"),
    ("Help", "Keys, columns and states", "help"),
)


class ActionsMixin(_Base):
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS and self.read_only:
            return False  # hidden from the footer and the palette, and not run
        return True

    def palette_commands(self) -> Iterator[SystemCommand]:
        for title, help_text, action in PALETTE:
            name = action.partition("(")[0]
            if self.check_action(name, ()):
                yield SystemCommand(title, help_text, self._runner(action))

    def _runner(self, action: str) -> Any:
        async def run() -> None:
            await self.run_action(action)

        return run

    def action_rescan(self) -> None:
        self.rescan()
        self.ping_round(force=True)
        self.notify("re-reading .servinfo/", timeout=1.5)

    def action_ping_now(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            self.notify("no server selected", severity="warning")
            return
        pinger, timeout = self.pinger, self.settings.ping_timeout
        self.run_worker(lambda: tasks.ping_one(entry, pinger, timeout), thread=True,
                        name="ping-one", group="actions")

    def action_stop_server(self) -> None:
        if self.read_only:
            return
        entry = self.selected_entry()
        if entry is None:
            self.notify("no server selected", severity="warning")
            return
        reg = entry.registration

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify(f"stopping {reg.host}:{reg.port} ({reg.dbfname}) ...", timeout=2)
                self.run_worker(lambda: tasks.stop(self.area, self.settings, entry),
                                thread=True, name="stop", group="actions")

        self.push_screen(
            ConfirmScreen(f"Stop server {reg.host}:{reg.port} ({reg.dbfname}, pid {reg.pid},"
                          f" id {reg.server_id[:8]})?", yes_label="Stop"),
            answered,
        )

    def action_start_server(self) -> None:
        if self.read_only:
            return
        entry = self.selected_entry()
        if entry is not None:
            self._start(entry.registration.dbfname)
            return

        def chosen(name: str | None) -> None:
            if name:
                self._start(name)

        self.push_screen(StartDbScreen(), chosen)

    def _start(self, dbfname: str) -> None:
        self.notify(f"starting a server for {dbfname} ...", timeout=2)
        self.run_worker(lambda: tasks.start(self.area, self.settings, dbfname),
                        thread=True, name="start", group="actions")

    def on_action_done(self, name: str | None, result: Any) -> None:
        if name == "ping-one" and isinstance(result, tasks.PingOne):
            p = result.result
            if p.ok:
                self.notify(f"{result.server}: {p.sstate}, load {p.sload}, "
                            f"{p.rtt_ms or 0:.1f} ms", title="ping")
            else:
                self.notify(f"{result.server}: {p.error}", title="ping failed",
                            severity="error")
            if result.key in self.snapshot.by_name():
                self.pings[result.key] = p
                self.history.add(result.key, self.clock(), p)
                self.dirty = True
        elif name == "stop" and isinstance(result, StopResult):
            severity = "information" if result.stopped else "error"
            self.notify(f"{result.name}: {result.outcome}", title="stop", severity=severity)
            self.rescan()
        elif name == "start" and isinstance(result, tuple):
            dbfname, launch = result
            assert isinstance(launch, LaunchResult)
            if launch.started:
                self.notify(f"started a server for {dbfname} (pid {launch.pid})", title="start")
            else:
                self.notify(f"{dbfname}: {launch.reason}", title="not started",
                            severity="warning")

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.dirty = True
        self.table.focus()

    def action_sort(self, index: int) -> None:
        table = self.table
        column = model.COLUMN_KEYS[index]
        reverse = not table.sort_reverse if column == table.sort_column else False
        table.set_sort(column, reverse)
        self.dirty = True
        self.flush()

    def action_interval(self, step: int) -> None:
        from mttui.app import INTERVALS

        near = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - self.interval))
        new = INTERVALS[min(max(near + step, 0), len(INTERVALS) - 1)]
        self.set_interval_s(new)
        self.notify(f"pinging every {new:g}s", timeout=1.5)

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.dirty = True
        self.notify("pings paused" if self.paused else "pings resumed", timeout=1.5)

    def action_details(self) -> None:
        key = self.table.cursor_key
        if key is None:
            self.notify("no server selected", severity="warning")
            return
        self.push_screen(DetailScreen(key))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())


__all__ = ["ActionsMixin", "model"]
