"""Key actions and palette commands of the monitor (the base class of ``MonitorApp``).

Actions only decide and start a worker (or change what is shown); a worker's
result comes back as a typed message from ``mttui.messages`` whose ``on_...``
handler lives in ``mttui.app``. This module never imports the app: the few
pipeline steps an action triggers are declared here as hooks the app fills in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from textual.app import App, SystemCommand
from textual.message import Message
from textual.widgets import Input
from textual.worker import Worker

from backend import registry
from backend.area import Area
from backend.config import Settings
from backend.wire.connection import PingResult
from mttui import model, tasks
from mttui.messages import PingOneDone, StartDone, StopDone
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.help import HelpScreen
from mttui.screens.startdb import StartDbScreen
from mttui.timing import step_interval
from mttui.traffic import TrafficBook
from mttui.widgets.server_table import ServerTable

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


class ActionsMixin(App[None]):
    # The monitor's state, set by MonitorApp.__init__; declared here so the
    # actions (and the detail screen, through DetailSource) type-check against it.
    area: Area
    settings: Settings
    pinger: model.Pinger
    clock: model.Clock
    probe: model.Probe
    interval: float
    read_only: bool
    snapshot: model.Snapshot
    pings: dict[str, PingResult]
    history: model.History
    book: TrafficBook  # traffic figures and graphs (mttui.console)
    rows: dict[str, model.Row]
    filter_text: str
    paused: bool
    dirty: bool

    # -- hooks: pipeline steps MonitorApp provides --------------------------------

    def rescan(self) -> None:
        raise NotImplementedError

    def ping_round(self, force: bool = False) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def set_interval_s(self, seconds: float) -> None:
        raise NotImplementedError

    # -- running blocking work ------------------------------------------------------

    def run_task(self, task: Callable[[], Message], name: str, group: str) -> Worker[None]:
        """Run ``task`` in a thread worker and post the message it returns to the app,
        whose ``on_...`` handler then applies it on the UI thread."""

        def run() -> None:
            self.post_message(task())

        return self.run_worker(run, thread=True, name=name, group=group)

    # -- what the actions act on ----------------------------------------------------

    @property
    def table(self) -> ServerTable:
        return self.query_one(ServerTable)

    def selected_entry(self) -> registry.Entry | None:
        key = self.table.cursor_key
        row = self.rows.get(key) if key else None
        return row.entry if row else None

    # -- actions ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS and self.read_only:
            return False  # hidden from the footer and the palette, and not run
        return True

    def palette_commands(self) -> Iterator[SystemCommand]:
        for title, help_text, action in PALETTE:
            name = action.partition("(")[0]
            if self.check_action(name, ()):
                yield SystemCommand(title, help_text, self._runner(action))

    def _runner(self, action: str) -> Callable[[], Awaitable[None]]:
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
        self.run_task(lambda: PingOneDone(tasks.ping_one(entry, pinger, timeout)),
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
                self.run_task(lambda: StopDone(tasks.stop(self.area, self.settings, entry)),
                              name="stop", group="actions")

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
        self.run_task(lambda: StartDone(dbfname, tasks.start(self.area, self.settings, dbfname)),
                      name="start", group="actions")

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
        new = step_interval(self.interval, step)
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
        self.push_screen(DetailScreen(key, self))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
