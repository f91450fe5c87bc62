"""Choose the db to start a server for (used when no row is highlighted)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from backend.area import DBFNAME_RE


class StartDbScreen(ModalScreen[str | None]):
    """Dismisses with a valid dbfname, or None when cancelled."""

    DEFAULT_CSS = """
    StartDbScreen { align: center middle; }
    StartDbScreen > Vertical {
        width: 56; height: auto; padding: 1 2;
        border: thick $accent; background: $surface;
    }
    StartDbScreen #error { color: $error; height: auto; }
    StartDbScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    StartDbScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: str = "main.db") -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Start a server for which db? (main.db or <n>.db)")
            yield Input(value=self.default, id="dbname")
            yield Label("", id="error")
            with Horizontal():
                yield Button("Start", variant="success", id="start")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        name = self.query_one(Input).value.strip()
        if not DBFNAME_RE.fullmatch(name):
            self.query_one("#error", Label).update(f"{name!r} is not main.db or <digits>.db")
            return
        self.dismiss(name)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
