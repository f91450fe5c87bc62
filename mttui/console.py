"""The console part of the monitor: traffic columns, the by-db view, the graph
band and the events pane (a base class of ``MonitorApp``, between it and the actions).

Threads: the stats poll runs in a thread worker every ``STATS_S`` while traffic
is on (``t``), single flight, and posts one ``StatsRead``; the events worker is
one long-lived thread that reads the history, then follows
``logs/events.jsonl`` and posts ``EventsArrived`` per batch. Both hand over
immutable results; everything here runs on the UI thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual.binding import Binding
from textual.css.query import NoMatches
from textual.worker import get_current_worker

from backend import events
from mttui import model, traffic
from mttui.actions import ActionsMixin
from mttui.messages import ActionFailed, EventsArrived, StatsRead
from mttui.timing import STATS_S
from mttui.widgets.events_pane import EventsPane
from mttui.widgets.graphs import Graph, GraphBand

EVENTS_BACKLOG = 200  # events read from the history when the monitor starts
EVENTS_POLL_S = 0.5  # how often the follower looks at the file's size


class ConsoleMixin(ActionsMixin):
    BINDINGS = [
        Binding("t", "traffic", "Traffic", tooltip="Show or hide Req/s, p99 and errors"),
        Binding("g", "group", "By db", tooltip="Rows per server or summed per db"),
        Binding("e", "events", "Events", tooltip="Show or hide the area's events"),
    ]

    def console_init(self, make_fetcher: Callable[[], traffic.Fetcher] | None,
                     traffic_on: bool = True) -> None:
        self.traffic_on = traffic_on
        self.by_db = False
        self.book = traffic.TrafficBook()
        self.answering = traffic.Series()  # servers answering pings, one point per ping round
        self.make_fetcher = make_fetcher or (lambda: traffic.real_fetcher(self.area))
        self._fetching = False
        self._stats_problem: str | None = None
        self.stats_every = STATS_S  # seconds between polls (tests that freeze time stop them)

    def console_mount(self) -> None:
        self.set_interval(self.stats_every, self.stats_round)
        self.run_worker(self._follow_events, thread=True, name="events", group="events",
                        exit_on_error=False)
        self.stats_round()

    # -- traffic ------------------------------------------------------------------------

    def stats_round(self) -> None:
        """Read every server's counters (only while traffic is shown)."""
        if not self.traffic_on or self._fetching or not self.snapshot.entries:
            return
        self._fetching = True
        entries, timeout = self.snapshot.entries, self.settings.ping_timeout
        make, clock = self.make_fetcher, self.clock
        self.run_task(lambda: StatsRead(traffic.fetch(entries, make, timeout, clock)),
                      name="stats", group="stats")

    def on_stats_read(self, message: StatsRead) -> None:
        self._fetching = False
        result = message.result
        if result.problem and result.problem != self._stats_problem:
            self.notify(result.problem, title="traffic", severity="warning")
        self._stats_problem = result.problem
        self.book.apply(result, self.snapshot.by_name())
        self.dirty = True

    def note_ping_round(self, pings: Sequence[bool]) -> None:
        self.answering.add(float(sum(pings)))

    # -- what the table and the band show -------------------------------------------------

    def view_rows(self, rows: list[model.Row]) -> list[model.Row]:
        return model.group_by_db(rows, self.book) if self.by_db else rows

    def graphs(self) -> list[Graph]:
        out = [Graph("up", self.answering.values(),
                     f"{int(self.answering.points[-1]) if self.answering.points else 0}", "green")]
        if self.traffic_on:
            req, err = self.book.area_req, self.book.area_err
            area = self.book.summary(self.book.current)
            out.insert(0, Graph("req/s", req.values(), area.cells()[0], "cyan"))
            out.append(Graph("err", err.values(), f"{int(err.points[-1]) if err.points else 0}", "red"))
        return out

    def show_graphs(self) -> None:
        self.default_screen.query_one(GraphBand).show(self.graphs())

    # -- events ---------------------------------------------------------------------------

    def _follow_events(self) -> None:
        worker = get_current_worker()
        # follow() starts at the file's end as it is now: read the history after
        # that, so an event in between is read twice at worst, never lost.
        follower = events.follow(self.area, EVENTS_POLL_S, stop=lambda: worker.is_cancelled)
        backlog = events.read_events(self.area)[-EVENTS_BACKLOG:]
        if backlog:
            self.post_message(EventsArrived(tuple(backlog)))
        for event in follower:
            if worker.is_cancelled:
                return
            self.post_message(EventsArrived((event,)))

    def _events_pane(self) -> EventsPane | None:
        # The pane lives on the main screen, which may be under the detail screen
        # (the app's own query_one looks at the top screen only), or gone at exit.
        try:
            return self.default_screen.query_one(EventsPane)
        except NoMatches:
            return None

    def on_events_arrived(self, message: EventsArrived) -> None:
        pane = self._events_pane()
        if pane is not None:
            pane.add(message.events)

    def on_action_failed(self, message: ActionFailed) -> None:
        # Textual calls every class's handler: ActionsMixin's notifies; this one
        # keeps the failure in the events pane, with the area's own events.
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.clock()))
        pane = self._events_pane()
        if pane is not None:
            pane.note(f"{when} {'-':<8} {'monitor':<15} {message.action} failed: {message.error}")

    # -- actions --------------------------------------------------------------------------

    def action_traffic(self) -> None:
        self.traffic_on = not self.traffic_on
        if self.traffic_on:
            self.stats_round()
        self.notify("traffic columns on" if self.traffic_on else "traffic columns off", timeout=1.5)
        self.dirty = True
        self.flush()

    def action_group(self) -> None:
        self.by_db = not self.by_db
        self.dirty = True
        self.flush()

    def action_details(self) -> None:
        if self.by_db:  # a db row is no registration: there is no one server to show
            self.notify("rows are per db: g shows the servers", severity="warning", timeout=3)
            return
        super().action_details()

    def action_events(self) -> None:
        pane = self.query_one(EventsPane)
        pane.display = not pane.display
