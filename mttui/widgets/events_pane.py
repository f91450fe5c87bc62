"""The events pane: the area's event history (``logs/events.jsonl``), newest first, live.

The app's events worker reads the history once, then follows the file
(``backend.events.follow``) and posts each new batch; ``add`` puts them on top.
The monitor's own failures can be added too (``note``), so the pane is the
one place to read what happened.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from backend.events import describe

KEEP = 500  # lines kept in the pane
KIND_COLOURS = {
    "crashed": "bold red", "fatal": "bold red", "declined": "yellow", "retired": "grey62",
    "marked_dead": "magenta", "pruned": "magenta", "started": "green", "restarted": "cyan",
    "start_requested": "cyan", "monitor": "dark_orange",
}


def event_line(event: dict[str, Any]) -> Text:
    """One event as a line, coloured by its kind."""
    try:
        text = describe(event)
    except (KeyError, TypeError, ValueError, OverflowError):
        text = repr(event)[:200]
    return Text(text, style=KIND_COLOURS.get(str(event.get("kind")), ""), no_wrap=True,
                overflow="ellipsis")


class EventsPane(VerticalScroll):
    """Newest first; ``add`` for events read from the file, ``note`` for the monitor's own."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: collections.deque[Text] = collections.deque(maxlen=KEEP)
        self.count = 0  # events shown since the start (for tests and the title)

    def on_mount(self) -> None:
        self.border_title = "Events, newest first (e hides)"
        if self._lines:
            self._redraw()

    def compose(self) -> ComposeResult:
        yield Static(Text("(no events yet)", style="dim"), id="events-body")

    def add(self, events: Iterable[dict[str, Any]]) -> None:
        added = False
        for event in events:  # oldest first in the batch: each goes on top
            self._lines.appendleft(event_line(event))
            self.count += 1
            added = True
        if added:
            self._redraw()

    def note(self, text: str) -> None:
        self._lines.appendleft(Text(text, style=KIND_COLOURS["monitor"]))
        self.count += 1
        self._redraw()

    def lines(self) -> list[str]:
        return [t.plain for t in self._lines]

    def _redraw(self) -> None:
        # The body may not be composed yet (events read at start) or already
        # removed (the app is closing): then there is nothing to draw on.
        for body in self.query("#events-body").results(Static):
            body.update(Text("\n").join(self._lines))
