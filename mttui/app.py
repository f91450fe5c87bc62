"""The monitor app: wiring of watcher, workers, model and table.

Data flow (one direction): watcher event -> ``RegistryChanged`` -> rescan
worker -> ``SnapshotRead``; ping timer -> ping worker -> ``PingsDone``. Each
result is a typed message with its own ``on_...`` handler here (UI thread); it
is stored and marks the view dirty; a 4 Hz timer redraws when dirty, so the
screen is never redrawn more than 4 times a second however fast events come.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from textual.app import ComposeResult, SystemCommand
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from backend import registry, syncstate
from backend.area import Area
from backend.config import Settings
from backend.wire.connection import ping as real_ping
from mttui import filtering, model, tasks, traffic
from mttui.actions import MAIN_BINDINGS
from mttui.console import ConsoleMixin
from mttui.messages import PingOneDone, PingsDone, RegistryChanged, SnapshotRead, StartDone
from mttui.timing import REDRAW_S, RESCAN_S, ROW_REDRAW_S, TICK_S
from mttui.traffic import Fetcher
from mttui.watch import Coalescer, RegistryWatcher
from mttui.widgets.events_pane import EventsPane
from mttui.widgets.graphs import GraphBand
from mttui.widgets.server_table import ServerTable

# Seconds between reads of the central sync's published state (backend/syncstate.py).
SYNC_STATE_EVERY_S = 5.0


class MonitorApp(ConsoleMixin):
    CSS_PATH = "app.tcss"
    TITLE = "mttui"
    BINDINGS = MAIN_BINDINGS

    def __init__(
        self, area: Area, settings: Settings, *, pinger: model.Pinger = real_ping,
        clock: model.Clock = time.time, probe: model.Probe | None = None,
        poll: float | None = None, interval: float = 2.0, read_only: bool = False,
        label: str | None = None, watch: bool = True, filter_text: str = "",
        note: str = "", stats_fetcher: Callable[[], Fetcher] | None = None, traffic: bool = True,
        also: Sequence[tuple[Area, Settings]] = (),
    ) -> None:
        super().__init__()
        self.console_init(stats_fetcher, traffic)
        self.note = note  # a line of explanation first in the summary (the demo's)
        self.area, self.settings = area, settings
        self.pinger, self.clock = pinger, clock
        self.probe = probe or model.Probe()
        self.interval, self.read_only = interval, read_only
        # Several areas (``also``): each has a label (the Area column, the row
        # keys' prefix), its settings, scan cache and watcher. One area: label "".
        every = [(area, settings), *also]
        labels = model.short_labels(a.root for a, _s in every) if also else [""]
        self.label = label or ", ".join(str(a.root) for a, _s in every)
        self.snapshot = model.Snapshot()
        self.pings = {}
        self.gone: dict[str, bool] = {}
        self.history = model.History()
        self.rows = {}
        self.filter_text = ""
        self._initial_filter = filter_text
        self.paused = False
        self.dirty = True
        self.loaded = False  # the first snapshot has arrived
        self.ping_rounds = 0
        self.last_refresh_ms = 0.0
        self._last_flush = 0.0
        self._flush_timer: Timer | None = None
        self._flush_due = 0.0  # when _flush_timer fires
        self._summary_text = ""
        self._sync_read_at = -SYNC_STATE_EVERY_S
        self._sync_text = ""
        self._reported: set[str] = set()
        # Single flight: a worker is running (until its result message is handled),
        # and whether to run once more then.
        self._rescanning = self._pinging = False
        self._rescan_again = self._ping_again = False
        self.sources = [AreaSource(lab, a, s, self._new_coalescer(), watch, poll)
                        for lab, (a, s) in zip(labels, every, strict=True)]
        self._by_label = {src.label: src for src in self.sources}
        self.multi_area = bool(also)
        if self.multi_area and stats_fetcher is None:
            self.make_fetcher = self._areas_fetcher
        self._ping_timer: Timer | None = None

    def _new_coalescer(self) -> Coalescer:
        return Coalescer(lambda: self.post_message(RegistryChanged()))

    @property
    def watcher(self) -> RegistryWatcher | None:
        """The first area's watcher (the summary line names its kind)."""
        return self.sources[0].watcher

    def area_of(self, entry: registry.Entry) -> tuple[Area, Settings]:
        src = self._by_label.get(model.area_label(entry), self.sources[0])
        return src.area, src.settings

    def _areas_fetcher(self) -> Fetcher:
        # Each server's counters are asked for with its own area's key.
        return traffic.keyed_fetcher({s.label: s.area.key() for s in self.sources})

    # -- layout and lifecycle -------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary")
        yield GraphBand(id="graphs")
        yield ServerTable(id="servers")
        yield EventsPane(id="events")
        yield Input(placeholder="filter: any text in a row (esc clears)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.label
        if self._initial_filter:
            self.action_set_filter(self._initial_filter)
        self.query_one(ServerTable).focus()
        for src in self.sources:
            if src.watcher is None:
                continue
            try:
                src.watcher.start()
            except OSError as exc:
                self.notify(f"cannot watch {src.area.root}: {exc}", severity="error")
            if src.watcher.fallback_reason:
                self.notify(f"watching by polling: {src.watcher.fallback_reason}",
                            severity="warning")
        self.set_interval(REDRAW_S, self.flush)
        self.set_interval(TICK_S, self._tick)
        self.set_interval(RESCAN_S, self.rescan)
        self._ping_timer = self.set_interval(self.interval, self.ping_round)
        self.rescan()
        self.console_mount()

    def on_resize(self) -> None:
        self.request_flush()  # the columns that fit depend on the width

    def on_unmount(self) -> None:
        for src in self.sources:
            if src.watcher is not None:
                src.watcher.stop()

    @property
    def observer_kind(self) -> str:
        return self.watcher.kind if self.watcher is not None else "none"

    # -- data in ----------------------------------------------------------------

    def on_registry_changed(self, _message: RegistryChanged) -> None:
        self.rescan()

    def rescan(self) -> None:
        """Start a re-read (of every area) unless one is running (then it runs once
        more after)."""
        for src in self.sources:
            src.coalescer.taken()
        if self._rescanning:
            self._rescan_again = True
            return
        self._rescanning = True
        self.run_task(self._read, name="rescan", group="rescan")

    def _read(self) -> SnapshotRead:
        parts = []
        for src in self.sources:
            if src.watcher is not None and src.watcher.retarget():
                src.coalescer()  # .servinfo just appeared: files may predate the watch
            parts.append((src.label, tasks.read_snapshot(src.area.servinfo_dir, src.cache,
                                                         self.probe, src.label)))
        return SnapshotRead(parts[0][1] if len(parts) == 1 else tasks.merge_snapshots(parts))

    def ping_round(self, force: bool = False) -> None:
        if (self.paused and not force) or not self.snapshot.entries:
            return
        if self._pinging:
            self._ping_again = force or self._ping_again
            return
        entries = tasks.due_for_ping(self.snapshot.entries,
                                     {k: r.state for k, r in self.rows.items()},
                                     self._last_ping, self.clock())
        if not entries:
            return
        self._pinging = True
        timeout = self.settings.ping_timeout
        self.run_task(
            lambda: PingsDone(tasks.ping_all(entries, self.pinger, timeout, self.probe, self.clock)),
            name="pings", group="pings",
        )

    def _last_ping(self, name: str) -> float | None:
        pinged = self.history.get(name)
        return pinged[-1][0] if pinged else None

    def task_failed(self, name: str) -> None:
        # A failed rescan or ping round posts no result: clear its single flight.
        if name == "rescan":
            self._rescanning = False
        elif name == "pings":
            self._pinging = False
        elif name == "stats":
            self._fetching = False

    def note_event(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.clock()))
        for pane in self.query(EventsPane):  # none while the app is closing
            pane.note(f"{stamp} monitor  {text}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Results (and ActionFailed) arrive as messages; run_task catches what a
        # task raises. This reports a worker that raised anyway (one not started
        # by run_task); exit_on_error=False keeps the app running.
        worker = event.worker
        if worker.state == WorkerState.ERROR:
            self.notify(f"{worker.error}", title=f"{worker.name} failed", severity="error")

    def on_snapshot_read(self, message: SnapshotRead) -> None:
        self._rescanning = False
        self.apply_snapshot(message.snapshot)
        if self._rescan_again:
            self._rescan_again = False
            self.rescan()

    def on_pings_done(self, message: PingsDone) -> None:
        self._pinging = False
        self.apply_pings(message.result)
        if self._ping_again:
            self._ping_again = False
            self.ping_round(force=True)

    def on_ping_one_done(self, message: PingOneDone) -> None:
        one = message.result
        p = one.result
        if p.ok:
            self.notify(f"{one.server}: {p.sstate}, load {p.sload}, "
                        f"{p.rtt_ms or 0:.1f} ms", title="ping")
        else:
            self.notify(f"{one.server}: {p.error}", title="ping failed", severity="error")
        if one.key in self.snapshot.by_name():
            self.pings[one.key] = p
            self.history.add(one.key, self.clock(), p)
            self.dirty = True

    def on_start_done(self, message: StartDone) -> None:
        dbfname, launch = message.dbfname, message.launch
        if launch.started:
            self.notify(f"started a server for {dbfname} (pid {launch.pid})", title="start")
        else:
            self.notify(f"{dbfname}: {launch.reason}", title="not started", severity="warning")

    def apply_snapshot(self, snap: model.Snapshot) -> None:
        if snap.error:
            if snap.error not in self._reported:
                self._reported.add(snap.error)
                self.notify(snap.error, title="cannot read the area", severity="error")
            return
        for error in snap.area_errors:  # several areas: one unreadable, the others shown
            if error not in self._reported:
                self._reported.add(error)
                self.notify(error, title="cannot read an area", severity="error")
        new = [e for e in snap.entries if e.name not in self.pings]
        old_names = {e.name for e in self.snapshot.entries}
        changed = _shape(snap) != _shape(self.snapshot) or not self.loaded
        self.snapshot, self.loaded = snap, True
        self.dirty = self.dirty or changed
        live = {e.name for e in snap.entries}
        for table in (self.pings, self.gone):
            for name in [n for n in table if n not in live]:
                del table[name]
        self.history.prune(live)
        self._report_problems(snap.problems)
        if new:
            self.ping_round(force=True)
        if changed:
            self.request_flush(rows_changed=live != old_names)

    def _report_problems(self, problems: Iterable[registry.Problem]) -> None:
        fresh = [p for p in problems if f"problem:{p.name}:{p.reason}" not in self._reported]
        if not fresh:
            return
        self._reported.update(f"problem:{p.name}:{p.reason}" for p in fresh)
        lines = model.problem_lines(fresh[:12])
        if len(fresh) > 12:
            lines.append(f"... and {len(fresh) - 12} more")
        self.notify("\n".join(lines), title=f"{len(fresh)} bad registration file(s)",
                    severity="warning", timeout=10)

    def apply_pings(self, result: tasks.PingRound) -> None:
        live = self.snapshot.by_name()
        for name, ping in result.pings.items():
            if name in live:
                self.pings[name] = ping
                self.history.add(name, result.when, ping)
        self.gone.update({k: v for k, v in result.gone.items() if k in live})
        self.note_ping_round([p.ok for n, p in self.pings.items() if n in live])
        self.ping_rounds += 1
        self.dirty = True

    # -- data out ---------------------------------------------------------------

    def _tick(self) -> None:
        # Ages and "touched" move with the clock. While pings run at least as
        # often as this tick, their redraw carries the new ages: any cell update
        # makes DataTable re-render every visible cell, so one redraw per round
        # instead of two halves the monitor's idle CPU.
        if self.paused or not self.snapshot.entries or self.interval > TICK_S:
            self.dirty = True

    def request_flush(self, rows_changed: bool = False) -> None:
        """Redraw now if the cap allows, else as soon as it does: a new server shows
        at once instead of at the next tick of the redraw timer. The cap is 4 a
        second, or 20 when servers appeared or left (``ROW_REDRAW_S``): a ping
        round's redraw just before must not hold a new row back 250 ms."""
        self.dirty = True
        now = time.monotonic()
        wait = self._last_flush + (ROW_REDRAW_S if rows_changed else REDRAW_S) - now
        if wait <= 0:
            self.flush()
            return
        if self._flush_timer is not None:
            if self._flush_due <= now + wait:
                return
            self._flush_timer.stop()
        self._flush_due = now + wait
        self._flush_timer = self.set_timer(wait, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        # A timer set just before the app closes may fire while the default
        # screen's widgets are being removed: nothing left to draw then.
        if self.default_screen.query(ServerTable):
            self.flush()

    def flush(self) -> None:
        if not self.dirty:
            return
        try:
            table = self.query_one(ServerTable)
        except NoMatches:  # exiting: the screen is gone while a timer still fires
            return
        self.dirty = False
        self._last_flush = time.monotonic()
        t0 = time.perf_counter()
        rows = model.build_rows(self.snapshot, self.pings, self.gone, self.clock(),
                                self.settings.stale_after,
                                self.book.per_server if self.traffic_on else None)
        self.rows = {r.key: r for r in rows}
        shown = filtering.show_marks(
            filtering.apply(self.view_rows(rows), self.row_filter, self.hide_dead), self.marked)
        shown = model.visible_rows(shown, "", table.sort_column, table.sort_reverse)
        table.apply(shown, model.fit_columns(shown, table_width(table), self.traffic_on,
                                             self.multi_area))
        self._show_summary(rows)
        self.show_graphs()
        self.last_refresh_ms = (time.perf_counter() - t0) * 1000

    def _sync_line(self) -> str:
        """The central sync's state (``backend serve --sync-to``), read at most
        every few seconds: a small file, but the summary is redrawn often."""
        now = time.monotonic()
        if now - self._sync_read_at >= SYNC_STATE_EVERY_S:
            self._sync_read_at = now
            state = syncstate.read(self.area)
            self._sync_text = syncstate.describe(state) if state is not None else ""
        return self._sync_text

    def _show_summary(self, rows: list[model.Row]) -> None:
        summary = model.summarize(rows, len(self.snapshot.problems))
        shown = self.query_one(ServerTable).row_count
        parts = [summary.text() if self.loaded else "reading .servinfo/ ...",
                 f"area {self.label}", self.observer_kind,
                 f"ping every {self.interval:g}s" + (" [b](paused)[/b]" if self.paused else "")]
        if self.filter_text or self.hide_dead:
            what = [f"filter {self.filter_text!r}"] if self.filter_text else []
            what += ["dead hidden"] if self.hide_dead else []
            parts.append(f"{', '.join(what)}: {shown} shown")
        marked = len(self.marked & self.rows.keys())
        if marked:
            parts.append(f"[b]{marked} marked[/b]")
        sync = self._sync_line()
        if sync:
            parts.append(sync)
        if self.note:
            parts.insert(0, self.note)
        text = " │ ".join(parts)
        if text != self._summary_text:
            # Static.update re-lays out the screen (and so re-renders the table):
            # only when the line really changed.
            self._summary_text = text
            self.query_one("#summary", Static).update(text)

    # -- table events -------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.action_sort(model.COLUMN_KEYS.index(str(event.column_key.value)))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.query_one(ServerTable).focus()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Only the monitor's own actions: Textual's generic entries (theme,
        # screenshot, maximize, keys) do nothing useful here.
        if screen is self.screen_stack[0]:
            yield from self.palette_commands()
        else:
            yield SystemCommand("Quit", "Leave the monitor (servers keep running)", self.exit)

    def set_interval_s(self, seconds: float) -> None:
        self.interval = seconds
        if self._ping_timer is not None:
            self._ping_timer.stop()
        self._ping_timer = self.set_interval(seconds, self.ping_round)
        self.dirty = True


class AreaSource:
    """One watched area: its label, settings, scan cache, coalescer and watcher."""

    def __init__(self, label: str, area: Area, settings: Settings, coalescer: Coalescer,
                 watch: bool, poll: float | None) -> None:
        self.label, self.area, self.settings = label, area, settings
        self.cache = registry.ScanCache()
        self.coalescer = coalescer
        self.watcher = RegistryWatcher(area.root, coalescer, poll) if watch else None


def table_width(table: ServerTable) -> int:
    """Cells available to the columns: the table's width less a vertical scrollbar."""
    width = table.size.width or table.app.size.width
    return width - (table.styles.scrollbar_size_vertical if table.row_count > table.size.height - 1 else 0)


def _shape(snap: model.Snapshot) -> tuple[object, ...]:
    """What of a snapshot the screen shows: names, mtimes, server-ids, problems."""
    return (tuple((e.name, e.mtime, e.registration.server_id) for e in snap.entries),
            snap.problems, snap.remote)
