"""The key reference."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from mttui.model import COLUMNS

HELP = """\
[b]mttui[/b] — live view of an area's database servers (.servinfo/)

[b]Keys[/b]
  [b]↑ ↓ PgUp PgDn[/b]  move between servers
  [b]enter[/b]          details: registration, process, ping history, load, log tail
  [b]p[/b]              ping the highlighted server now (shows the round-trip time)
  [b]s[/b]              stop the highlighted server (asks first; default No)
  [b]n[/b]              start a server for the highlighted row's db (or choose a db)
  [b]r[/b]              re-read .servinfo/ now
  [b]/[/b]              filter rows (any text in a row); [b]esc[/b] clears the filter
  [b]1-9[/b]            sort by column 1-9; again to reverse (or click a header)
  [b]+ -[/b]            ping more / less often
  [b]space[/b]          pause / resume background pings
  [b]ctrl+p[/b]         command palette (every action above)
  [b]?[/b]              this help
  [b]q[/b]              quit

[b]Columns[/b]
{columns}

[b]States[/b]
  [green]RUNNING[/]        answers with the file's server-id and is serving
  [cyan]STARTING[/]       answers, still starting
  [yellow]SHUTTING-DOWN[/]  answers, finishing in-flight work before exiting
  [grey50]UNKNOWN[/]        not pinged yet
  [dark_orange]NO-ANSWER[/]      ping failed, file still fresh (maybe busy or starting)
  [bold red]DEAD[/]           local server whose process is gone
  [magenta]STALE[/]          no answer and the file untouched for stale-after seconds
  [red]MISMATCH[/]       another server (another server-id) answers at that address
  [red3]UNREACHABLE[/]    another host's server with a loopback address: not reachable from here
  [bold blue]REMOTE[/] …       the server is on another host (its ping state follows)
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; height: 90%; max-height: 42; padding: 0 2;
        border: thick $primary; background: $surface;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        cols = "\n".join(
            f"  [b]{i}[/b] {c.label}" for i, c in enumerate(COLUMNS[:9], 1)
        )
        with VerticalScroll():
            yield Static(HELP.format(columns=cols))

    def action_close(self) -> None:
        self.dismiss(None)
