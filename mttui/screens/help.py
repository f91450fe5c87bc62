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

[b]Keys[/b] (main table)
  [b]↑ ↓ PgUp PgDn[/b]  move between servers
  [b]enter[/b]          details: registration, process, ping history, load, log tail
  [b]l[/b]              the server's log, full screen, following (f follows, esc back)
  [b]p[/b]              ping the highlighted server now (shows the round-trip time)
  [b]space m[/b]        mark / unmark the highlighted server (● in the first column)
  [b]u[/b]              unmark all
  [b]s[/b]              stop the marked servers, or the highlighted one (asks first)
  [b]S[/b]              force stop: stop, then SIGTERM+SIGCONT, SIGKILL (frozen server)
  [b]R[/b]              restart: a new server for the db first, then the old one stops
  [b]x[/b]              prune: remove the registrations of DEAD/STALE servers (asks)
  [b]n[/b]              start a server for the highlighted row's db (or choose a db)
  [b]h[/b]              hide / show DEAD and STALE rows
  [b]/[/b]              filter: a regex on any cell; [b]!regex[/b] inverts;
                   [b]state:dead[/b] (or state:dead,stale; !state:running) by state
  [b]![/b]              invert the filter;  [b]esc[/b] clears it
  [b]1-9[/b]            sort by column 1-9; again to reverse (or click a header)
  [b]r[/b]              re-read .servinfo/ now
  [b]t[/b]              traffic columns (Req/s, p99 ms, Err) and their polling on / off
  [b]g[/b]              rows per server / per db (figures summed per db)
  [b]e[/b]              events pane: the area's history, newest first, live
  [b]+ -[/b]            ping more / less often;  [b]z[/b] pause / resume pings
  [b]ctrl+p[/b]         command palette (every action, sort and state filter)
  [b]?[/b]              this help
  [b]q ctrl+c[/b]       quit (servers keep running)

[b]Detail screen[/b]  p ping, s stop, S force stop, R restart, x prune, l log, esc back
[b]Dialogs[/b]        y yes, n or esc no (Enter answers the focused button: No)

[b]Load[/b] is Megatest's [b]sload[/b]: the requests the server has in flight
at the moment of the ping (0 between calls, even under a light load).
Failed actions are one red notification each; the monitor never exits on one.
In [b]--demo[/b], backend serve supervises the servers: one you stop is
started again by serve, and a load keeps calling main.db and 1.db.

[b]Columns[/b]
{columns}

[b]States[/b]
  [green]RUNNING[/]        answers with the file's server-id and is serving
  [cyan]STARTING[/]       answers, still starting
  [yellow]SHUTTING-DOWN[/]  answers, finishing in-flight work before exiting
  [grey50]UNKNOWN[/]        not pinged yet
  [dark_orange]UNRESPONSIVE[/]   ping failed, file still fresh (frozen, busy or starting)
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
