"""A server's log, full screen, following its end (``l``).

The file is opened by name on every read (in a thread worker, twice a second),
so a log rotated away (renamed, a new file created under the name) is followed
to the new file, and a log whose server has gone keeps showing its last lines.
Follow is on while the view is scrolled to the end; scrolling up pauses it and
``f``/End resumes it.
"""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from mttui import facts
from mttui.messages import LogRead

LOG_LINES = 2000
LOG_BYTES = 512 * 1024


class LogScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,backspace,l", "close", "Back"),
        Binding("f,end", "follow", "Follow"),
        Binding("home,g", "top", "Top", show=False),
    ]
    DEFAULT_CSS = """
    LogScreen #logview-title { height: 1; background: $panel; padding: 0 1; }
    LogScreen #logview-box { height: 1fr; }
    """
    REFRESH_S = 0.5

    def __init__(self, path: Path, label: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.label = label or f"logs/{path.name}"
        self.following = True
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="logview-title")
        with VerticalScroll(id="logview-box"):
            yield Static(id="logview-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._show_title()
        self.read_log()
        self.set_interval(self.REFRESH_S, self.read_log)

    def _show_title(self) -> None:
        follow = "[green]following[/]" if self.following else "[yellow]paused[/] (f follows)"
        self.query_one("#logview-title", Static).update(
            f"[b]{escape(self.label)}[/b]  {follow}  {len(self.lines)} lines")

    @work(thread=True, exclusive=True, group="logview", exit_on_error=False)
    def read_log(self) -> None:
        lines = facts.log_tail(self.path, LOG_LINES, label=self.label, max_bytes=LOG_BYTES)
        if not get_current_worker().is_cancelled:
            self.post_message(LogRead(lines))

    def on_log_read(self, message: LogRead) -> None:
        box = self.query_one("#logview-box", VerticalScroll)
        if self.following and box.max_scroll_y and box.scroll_y < box.max_scroll_y - 1:
            self.following = False  # the reader scrolled up: stop jumping to the end
        if message.lines != self.lines:
            self.lines = message.lines
            self.query_one("#logview-text", Static).update("\n".join(self.lines))
            if self.following:
                box.call_after_refresh(box.scroll_end, animate=False)
        self._show_title()

    def action_follow(self) -> None:
        self.following = True
        self.query_one("#logview-box", VerticalScroll).scroll_end(animate=False)
        self._show_title()

    def action_top(self) -> None:
        self.following = False
        self.query_one("#logview-box", VerticalScroll).scroll_home(animate=False)
        self._show_title()

    def action_close(self) -> None:
        self.dismiss(None)
