"""Key actions and palette commands of the monitor (the base class of ``MonitorApp``).

Actions only decide and start a worker (or change what is shown); a worker's
result comes back as a typed message from ``mttui.messages``. This module never
imports the app: the few pipeline steps an action triggers are declared here as
hooks the app fills in.

Failures: ``run_task`` catches whatever a task raises and posts ONE
``ActionFailed`` instead of its result (the traceback goes to the log file),
and its workers run with ``exit_on_error=False``: an action's error is a
notification, never the end of the app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widgets import Input
from textual.worker import Worker

from backend import registry
from backend.area import Area
from backend.client import status
from backend.config import Settings
from backend.wire.connection import PingResult
from mttui import filtering, model, tasks
from mttui.messages import ActionDone, ActionFailed, PingOneDone, StartDone
from mttui.screens.confirm import ConfirmScreen
from mttui.screens.detail import DetailScreen
from mttui.screens.help import HelpScreen
from mttui.screens.logview import LogScreen
from mttui.screens.startdb import StartDbScreen
from mttui.timing import step_interval
from mttui.traffic import TrafficBook
from mttui.widgets.server_table import ServerTable

log = logging.getLogger(__name__)

WRITE_ACTIONS = {"stop_server", "force_stop", "start_server", "restart_server", "prune"}
NOTHING_RUNS = {status.DEAD, status.STALE}  # rows with no server to stop or restart
MAX_LISTED = 12  # servers named in a confirmation or a notification

MAIN_BINDINGS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("q", "quit", "Quit"),
    # htop and k9s quit on Ctrl-C; priority so that no widget takes it as copy.
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    Binding("p", "ping_now", "Ping", tooltip="Ping the highlighted server now"),
    Binding("s", "stop_server", "Stop", tooltip="Stop the marked servers or the highlighted one"),
    Binding("S", "force_stop", "Force stop", show=False,
            tooltip="Stop, then SIGTERM/SIGKILL a frozen server proven ours"),
    Binding("R", "restart_server", "Restart", tooltip="New server first, then the old one stops"),
    Binding("x", "prune", "Prune", tooltip="Remove dead registrations (marked or highlighted)"),
    Binding("n", "start_server", "Start", tooltip="Start a server for this db"),
    Binding("m,space", "mark", "Mark", tooltip="Mark / unmark the highlighted server"),
    Binding("u", "unmark_all", "Unmark all", show=False),
    Binding("h", "hide_dead", "Hide dead", show=False,
            tooltip="Hide / show DEAD and STALE rows"),
    Binding("r", "rescan", "Rescan", show=False, tooltip="Re-read .servinfo/ now"),
    Binding("slash", "filter", "Filter", tooltip="Regex; !inverts; state:dead"),
    Binding("exclamation_mark", "invert_filter", "Invert filter", show=False),
    Binding("escape", "clear_filter", "Clear filter", show=False),
    Binding("l", "log", "Log", show=False, tooltip="The server's log, full screen, following"),
    Binding("plus", "interval(-1)", "Faster", show=False),
    Binding("minus", "interval(1)", "Slower", show=False),
    Binding("z", "pause", "Pause", show=False),
    Binding("question_mark", "help", "Help"),
    *[Binding(str(i), f"sort({i - 1})", f"Sort {i}", show=False)
      for i in range(1, min(len(model.COLUMNS), 9) + 1)],
]


def _palette() -> list[tuple[str, str, str]]:
    entries = [
        ("Ping now", "Ping the highlighted server and show the round trip", "ping_now"),
        ("Stop", "Stop the marked servers, or the highlighted one (asks first)", "stop_server"),
        ("Force stop", "Stop, then SIGTERM+SIGCONT and SIGKILL a frozen server proven to be"
         " this area's (asks first)", "force_stop"),
        ("Restart", "Start a new server for the db, then stop the old one (asks first)",
         "restart_server"),
        ("Prune dead", "Remove registrations of dead servers, marked or highlighted (asks first)",
         "prune"),
        ("Start server", "Start a server for the highlighted row's db, or choose one",
         "start_server"),
        ("Mark / unmark", "Mark the highlighted server for stop, restart or prune", "mark"),
        ("Mark every dead row", "Mark all DEAD and STALE rows (then x prunes them)",
         "mark_dead"),
        ("Unmark all", "Clear the marked set", "unmark_all"),
        ("Hide / show dead rows", "Toggle hiding DEAD and STALE rows", "hide_dead"),
        ("Filter", "Regex on any cell; !regex inverts; state:dead keeps a state", "filter"),
        ("Invert filter", "Show the rows the filter hides", "invert_filter"),
        ("Clear filter", "Show every row", "clear_filter"),
    ]
    for state in model.STATE_ORDER:
        entries.append((f"Filter: state {state}", f"Show only {state} rows",
                        f"set_filter('state:{state.lower()}')"))
    for i, column in enumerate(model.COLUMNS[:9]):
        entries.append((f"Sort by {column.label}", f"Sort by column {i + 1} (again: reverse)",
                        f"sort({i})"))
    entries += [
        ("Details", "Registration, process, ping history, load and log of the server",
         "details"),
        ("Log", "The highlighted server's log, full screen, following", "log"),
        ("Traffic columns on / off", "Req/s, p99 ms and Err, and their stats polling",
         "traffic"),
        ("By db / by server", "Rows per server, or summed per db", "group"),
        ("Events pane", "Show or hide the area's events, newest first", "events"),
        ("Rescan", "Re-read .servinfo/ now", "rescan"),
        ("Pause / resume pings", "Stop or restart background pings", "pause"),
        ("Ping faster", "Shorter ping interval", "interval(-1)"),
        ("Ping slower", "Longer ping interval", "interval(1)"),
        ("Help", "Keys, columns and states", "help"),
        ("Quit", "Leave the monitor (servers keep running)", "quit"),
    ]
    return entries


PALETTE = tuple(_palette())


def one_line(exc: BaseException) -> str:
    """An exception as one short line for a notification (never a traceback)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    return (first if first and "Error" in name and name.startswith(("Config", "Backend"))
            else f"{name}: {first}" if first else name)[:300]


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.marked: set[str] = set()  # registration file names
        self.hide_dead = False
        self.row_filter = filtering.RowFilter()

    # -- hooks: pipeline steps MonitorApp provides --------------------------------

    def rescan(self) -> None:
        raise NotImplementedError

    def ping_round(self, force: bool = False) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def set_interval_s(self, seconds: float) -> None:
        raise NotImplementedError

    def area_of(self, entry: registry.Entry) -> tuple[Area, Settings]:
        """The area (and its settings) ``entry`` belongs to: every action on a row
        uses its own area's key file, logs and settings."""
        return self.area, self.settings

    def task_failed(self, name: str) -> None:
        """A worker named ``name`` raised (the app clears its single-flight flags)."""

    def note_event(self, text: str) -> None:
        """Put one line of the monitor's own in the events pane (the app shows it)."""

    # -- running blocking work ------------------------------------------------------

    def run_task(self, task: Callable[[], Message], name: str, group: str) -> Worker[None]:
        """Run ``task`` in a thread worker and post the message it returns to the app,
        whose ``on_...`` handler then applies it on the UI thread. If it raises, post
        ``ActionFailed`` instead (and log the traceback): never end the app."""

        def run() -> None:
            try:
                message = task()
            except Exception as exc:
                log.exception("worker %s failed", name)
                message = ActionFailed(name, one_line(exc))
            self.post_message(message)

        return self.run_worker(run, thread=True, name=name, group=group, exit_on_error=False)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.task_failed(message.action)
        self.note_event(f"{message.action} failed: {message.error}")
        self.notify(message.error, title=f"{message.action} failed", severity="error",
                    timeout=10)

    def on_action_done(self, message: ActionDone) -> None:
        outcomes = message.outcomes
        failed = [o for o in outcomes if not o.ok]
        severity: SeverityLevel = "information" if not failed else "error"
        for o in outcomes:
            self.note_event(f"{message.action} {o.target}: {o.text}")
        if len(outcomes) == 1:
            self.notify(f"{outcomes[0].target}: {outcomes[0].text}", title=message.action,
                        severity=severity)
        else:
            lines = [f"{'ok ' if o.ok else 'NOT'} {o.target}: {o.text}"
                     for o in outcomes[:MAX_LISTED]]
            if len(outcomes) > MAX_LISTED:
                lines.append(f"... and {len(outcomes) - MAX_LISTED} more")
            self.notify("\n".join(lines), severity=severity, timeout=10,
                        title=f"{message.action}: {len(outcomes) - len(failed)} of "
                              f"{len(outcomes)} done")
        self.rescan()

    # -- what the actions act on ----------------------------------------------------

    @property
    def table(self) -> ServerTable:
        return self.query_one(ServerTable)

    def selected_entry(self) -> registry.Entry | None:
        key = self.table.cursor_key
        row = self.rows.get(key) if key else None
        return row.entry if row else None

    def targets(self) -> list[model.Row]:
        """The marked rows still registered, else the highlighted row."""
        marked = [self.rows[k] for k in sorted(self.marked) if k in self.rows]
        if marked:
            return marked
        key = self.table.cursor_key
        return [self.rows[key]] if key and key in self.rows else []

    # -- which keys work where --------------------------------------------------------

    def on_main_screen(self) -> bool:
        return self.screen is self.screen_stack[0]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS and self.read_only:
            return False  # hidden from the footer and the palette, and not run
        if action in ("command_palette", "help_quit"):
            return True
        # The main screen's keys act on the table: hidden and inert on a dialog
        # or the detail screen, which have keys of their own (a "/" typed there
        # must never filter the table underneath).
        return self.on_main_screen()

    def palette_commands(self) -> Iterator[SystemCommand]:
        for title, help_text, action in PALETTE:
            name = action.partition("(")[0]
            if name not in WRITE_ACTIONS or not self.read_only:
                yield SystemCommand(title, help_text, self._runner(action))

    def _runner(self, action: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await self.run_action(action)

        return run

    # -- actions ----------------------------------------------------------------------

    def action_rescan(self) -> None:
        self.rescan()
        self.ping_round(force=True)
        self.notify("re-reading .servinfo/", timeout=1.5)

    def action_ping_now(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            self.notify("no server selected", severity="warning")
            return
        self.ping_entry(entry)

    def ping_entry(self, entry: registry.Entry) -> None:
        pinger, timeout = self.pinger, self.area_of(entry)[1].ping_timeout
        self.run_task(lambda: PingOneDone(tasks.ping_one(entry, pinger, timeout)),
                      name="ping", group="actions")

    def action_stop_server(self) -> None:
        self.act_on("stop", self.targets())

    def action_force_stop(self) -> None:
        self.act_on("force stop", self.targets())

    def action_restart_server(self) -> None:
        self.act_on("restart", self.targets())

    def action_prune(self) -> None:
        self.act_on("prune", self.targets())

    def act_on(self, action: str, rows: Sequence[model.Row]) -> None:
        """Stop, restart or prune ``rows`` after ONE confirmation listing them."""
        if self.read_only:
            return
        if not rows:
            self.notify("no server selected", severity="warning")
            return
        if action == "prune":
            chosen = [r for r in rows if r.state in NOTHING_RUNS]
            skipped = "not DEAD or STALE: a live server's registration is never pruned"
        else:
            chosen = [r for r in rows if r.state not in NOTHING_RUNS]
            skipped = "DEAD or STALE: nothing runs there (x prunes it)"
        if not chosen:
            names = ", ".join(r.cells[0] for r in rows[:3])
            self.notify(f"{names}: {skipped}", title=f"nothing to {action}", severity="warning")
            return
        entries = [r.entry for r in chosen]
        lines = [f"  {r.cells[0]}  {r.entry.registration.dbfname}  pid "
                 f"{r.entry.registration.pid}  {r.label}" for r in chosen[:MAX_LISTED]]
        if len(chosen) > MAX_LISTED:
            lines.append(f"  ... and {len(chosen) - MAX_LISTED} more")
        if len(chosen) < len(rows):
            lines.append(f"  ({len(rows) - len(chosen)} marked left out: {skipped})")
        what = {"stop": "Stop", "force stop": "Force-stop (stop, then SIGTERM/SIGKILL)",
                "restart": "Restart", "prune": "Prune the registration of"}
        question = (f"{what[action]} {len(chosen)} server{'s' if len(chosen) != 1 else ''}?\n"
                    + "\n".join(lines))

        def answered(yes: bool | None) -> None:
            if yes:
                self.marked.difference_update(r.key for r in chosen)
                self.dirty = True
                self.run_task(self._action_task(action, entries), name=action, group="actions")

        self.push_screen(ConfirmScreen(question, yes_label=action.capitalize()), answered)

    def _action_task(self, action: str, entries: list[registry.Entry]) -> Callable[[], Message]:
        pinger, probe, clock = self.pinger, self.probe, self.clock
        # Each server with its own area (several areas: grouped, in the order chosen).
        groups: dict[Path, tuple[Area, Settings, list[registry.Entry]]] = {}
        for entry in entries:
            area, settings = self.area_of(entry)
            groups.setdefault(area.root, (area, settings, []))[2].append(entry)

        def one(area: Area, settings: Settings, some: list[registry.Entry]) -> list[tasks.Outcome]:
            if action in ("stop", "force stop"):
                return tasks.stop_many(area, settings, some, force=action == "force stop")
            if action == "restart":
                return tasks.restart_many(area, settings, some, pinger)
            return tasks.prune_many(area, settings, some, pinger, probe, clock)

        return lambda: ActionDone(action, tuple(
            o for area, settings, some in groups.values() for o in one(area, settings, some)))

    def action_start_server(self) -> None:
        if self.read_only:
            return
        entry = self.selected_entry()
        if entry is not None:
            self._start(entry.registration.dbfname, *self.area_of(entry))
            return

        def chosen(name: str | None) -> None:
            if name:  # an empty table: the first area
                self._start(name, self.area, self.settings)

        self.push_screen(StartDbScreen(), chosen)

    def _start(self, dbfname: str, area: Area, settings: Settings) -> None:
        self.run_task(lambda: StartDone(dbfname, tasks.start(area, settings, dbfname)),
                      name="start", group="actions")

    # -- marks ------------------------------------------------------------------------

    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        self.marked.symmetric_difference_update({key})
        self.dirty = True
        self.flush()
        self.table.action_cursor_down()  # as in htop: mark and move on

    def action_unmark_all(self) -> None:
        self.marked.clear()
        self.dirty = True

    def action_mark_dead(self) -> None:
        self.marked.update(k for k, r in self.rows.items() if r.state in NOTHING_RUNS)
        self.dirty = True

    # -- what is shown ------------------------------------------------------------------

    def action_hide_dead(self) -> None:
        self.hide_dead = not self.hide_dead
        self.dirty = True
        self.notify("DEAD and STALE rows hidden (h shows them)" if self.hide_dead
                    else "DEAD and STALE rows shown", timeout=2)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def set_filter(self, text: str) -> None:
        """Filter rows by ``text`` (see mttui.filtering); a bad regex is one warning."""
        self.filter_text = text
        error = self.row_filter.error
        self.row_filter = filtering.parse(text)
        if self.row_filter.error and self.row_filter.error != error:  # once, not per key
            self.notify(self.row_filter.error, title="filter", severity="warning", timeout=4)
        self.dirty = True

    def action_set_filter(self, text: str) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(text)
        box.value = text  # Input.Changed sets the filter

    def action_invert_filter(self) -> None:
        self.action_set_filter(filtering.toggle_invert(self.filter_text))

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.set_filter("")
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

    def action_log(self) -> None:
        row = self.rows.get(self.table.cursor_key or "")
        if row is None:
            self.notify("no server selected", severity="warning")
            return
        reg = row.entry.registration
        self.push_screen(LogScreen(self.area_of(row.entry)[0].log_path(reg.dbfname, reg.pid)))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    # -- the detail screen acts on its own server ----------------------------------------

    def act_on_key(self, action: str, key: str) -> None:
        row = self.rows.get(key)
        if row is None:
            self.notify("its registration is gone", title=action, severity="warning")
        elif action == "ping":
            self.ping_entry(row.entry)
        else:
            self.act_on(action, [row])
