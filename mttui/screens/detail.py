"""Details of one server: registration, process, ping history, load, log tail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Protocol

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Sparkline, Static
from textual.worker import get_current_worker

from backend import registry
from backend.area import Area
from backend.config import Settings
from mttui import facts
from mttui.facts import DetailData
from mttui.messages import DetailGathered
from mttui.model import History, Probe, Row
from mttui.screens.logview import LogScreen
from mttui.traffic import TrafficBook
from mttui.widgets.graphs import ServerGraphs


class DetailSource(Protocol):
    """What the screen reads of the monitor (the app is one): the screen takes
    it in its constructor instead of reaching back into the app's class."""

    @property
    def rows(self) -> Mapping[str, Row]: ...

    @property
    def history(self) -> History: ...

    @property
    def book(self) -> TrafficBook: ...

    def area_of(self, entry: registry.Entry) -> tuple[Area, Settings]: ...

    @property
    def probe(self) -> Probe: ...

    @property
    def read_only(self) -> bool: ...

    def act_on_key(self, action: str, key: str) -> None: ...


class DetailScreen(Screen[None]):
    """Its own keys, acting on this screen's server (never on whatever row the
    hidden table's cursor is on); the main screen's keys are inert here."""

    BINDINGS = [
        Binding("escape,q,backspace", "close", "Back"),
        Binding("p", "act('ping')", "Ping"),
        Binding("s", "act('stop')", "Stop"),
        Binding("S", "act('force stop')", "Force stop", show=False),
        Binding("R", "act('restart')", "Restart"),
        Binding("x", "act('prune')", "Prune"),
        Binding("l", "log", "Log"),
    ]
    REFRESH_S = 1.0

    def __init__(self, key: str, monitor: DetailSource) -> None:
        super().__init__()
        self.key = key
        self.monitor = monitor
        # The last registration seen: its log is still followed once the file
        # is gone, so the server's final shutdown lines show.
        row = monitor.rows.get(key)
        self.entry = row.entry if row is not None else None
        self.last_registration: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="detail-top"):
            with Vertical(id="detail-left"):
                yield Static(id="detail-title")
                yield Static(id="detail-registration")
                yield Static(id="detail-process")
            with Vertical(id="detail-right"):
                yield Static("[b]Load[/b] (sload: requests in flight) over the last pings")
                yield Sparkline([], id="detail-load")
                yield ServerGraphs(self.key, self.monitor, id="detail-graphs")
                yield Static(id="detail-pings")
        yield Static(id="detail-log-title")
        with VerticalScroll(id="detail-log-box"):
            yield Static(id="detail-log")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"mttui — {self.key}"
        self.show_live()
        self.gather()
        self.set_interval(self.REFRESH_S, self.gather)
        self.set_interval(self.REFRESH_S / 2, self.show_live)

    def row(self) -> Row | None:
        return self.monitor.rows.get(self.key)

    def show_live(self) -> None:
        """State, ping history and load from the app's model (cheap; UI thread)."""
        row = self.row()
        title = self.query_one("#detail-title", Static)
        if row is None:
            title.update(f"[b]{escape(self.key)}[/b]  [red]registration gone[/]"
                         " (its log is still followed)")
            return
        self.entry = row.entry
        title.update(f"[b]{escape(row.cells[0])} {row.cells[1]}[/b]  state "
                     f"[b]{row.label}[/b]  load {row.cells[4]}  ping {row.cells[7]} ms")
        history = self.monitor.history.get(self.key)
        self.query_one(Sparkline).data = self.monitor.history.loads(self.key) or [0.0]
        lines = ["[b]Ping history[/b] (newest first)"]
        for when, p in reversed(history[-12:]):
            stamp = f"{dt.datetime.fromtimestamp(when, dt.UTC):%H:%M:%S}"
            if p.ok:
                lines.append(f"{stamp}  {p.sstate or '?':<13} load {p.sload}  "
                             f"{p.rtt_ms or 0:.1f} ms")
            else:
                lines.append(f"{stamp}  [red]failed[/] {escape(p.error or '')}")
        self.query_one("#detail-pings", Static).update("\n".join(lines))

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def gather(self) -> None:
        data = self._gather()
        # exclusive=True cancels the previous gather, but a thread runs to its
        # end: a cancelled one must not post its older facts over newer ones.
        if not get_current_worker().is_cancelled:
            self.post_message(DetailGathered(data))

    def _gather(self) -> DetailData | None:
        row = self.row()
        entry = row.entry if row is not None else self.entry
        if entry is None:
            return None
        reg = entry.registration
        log_path = self.monitor.area_of(entry)[0].log_path(reg.dbfname, reg.pid)
        log_name = f"logs/{log_path.name}"
        registration = facts.registration_lines(entry)
        if row is None:
            registration = ["(registration gone: the file was removed)", *registration]
        return DetailData(
            registration,
            self.monitor.probe.proc_info(reg),
            log_name,
            facts.log_tail(log_path, 200, label=log_name),
        )

    def on_detail_gathered(self, message: DetailGathered) -> None:
        if message.data is not None:
            self.show_data(message.data)

    def show_data(self, data: DetailData) -> None:
        reg = "\n".join(escape(x) for x in data.registration)
        self.query_one("#detail-registration", Static).update(f"[b]Registration[/b]\n{reg}")
        proc = "\n".join(escape(x) for x in data.process)
        self.query_one("#detail-process", Static).update(f"[b]Process[/b]\n{proc}")
        self.query_one("#detail-log-title", Static).update(f"[b]Log tail[/b] {data.log_name}")
        box = self.query_one("#detail-log-box", VerticalScroll)
        at_end = box.scroll_y >= box.max_scroll_y - 1
        self.query_one("#detail-log", Static).update(escape("\n".join(data.log)))
        if at_end:
            box.call_after_refresh(box.scroll_end, animate=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act" and parameters and parameters[0] != "ping":
            return not self.monitor.read_only
        return True

    def action_act(self, action: str) -> None:
        self.monitor.act_on_key(action, self.key)

    def action_log(self) -> None:
        if self.entry is not None:
            reg = self.entry.registration
            area = self.monitor.area_of(self.entry)[0]
            self.app.push_screen(LogScreen(area.log_path(reg.dbfname, reg.pid)))

    def action_close(self) -> None:
        self.dismiss(None)
