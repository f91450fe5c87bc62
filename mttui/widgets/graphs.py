"""Small text graphs: one-line sparklines with a label and the latest value.

Hand-written rather than Textual's ``Sparkline`` or a plotting library: a band
of three series must fit one line of an 80-column terminal, and a Static that
is updated only when its text changes costs the monitor nothing when idle (a
Sparkline per series is three more widgets to lay out on every redraw).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rich.text import Text
from textual.widgets import Static

from mttui.model import History
from mttui.traffic import TrafficBook

BARS = "▁▂▃▄▅▆▇█"
LATEST_WIDTH = 6


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as bars scaled to their maximum (blank-padded on the left).

    All-zero data draws the lowest bar, so "nothing happening" still reads as a line."""
    if width <= 0:
        return ""
    tail = list(values)[-width:]
    top = max(tail, default=0.0)
    bars = "".join(
        BARS[0] if top <= 0 or v <= 0 else BARS[min(int(v / top * (len(BARS) - 1) + 0.5), len(BARS) - 1)]
        for v in tail
    )
    return bars.rjust(width)


@dataclass(frozen=True)
class Graph:
    label: str
    values: Sequence[float]
    latest: str  # the last value as text, shown after the bars
    colour: str


def render_graphs(graphs: Sequence[Graph], width: int, per_line: int) -> Text:
    """``per_line`` graphs side by side on each line, sharing ``width`` cells."""
    out = Text()
    lines = [graphs[i:i + per_line] for i in range(0, len(graphs), per_line)]
    for n, line in enumerate(lines):
        if n:
            out.append("\n")
        share = max(width // max(len(line), 1), 12)
        for i, g in enumerate(line):
            latest = g.latest.rjust(LATEST_WIDTH)  # graphs on one line each stay aligned
            bars = max(share - len(g.label) - len(latest) - 4, 4)
            if i:
                out.append("  ")
            out.append(f"{g.label} ", style="bold")
            out.append(sparkline(g.values, bars), style=g.colour)
            out.append(f" {latest}")
    return out


class GraphBand(Static):
    """Graphs updated with ``show``; redrawn only when the text changes."""

    DEFAULT_CSS = """
    GraphBand {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, per_line: int = 3, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.per_line = per_line
        self._shown = ""
        self._graphs: Sequence[Graph] = ()

    def on_resize(self) -> None:
        # The first ``show`` may come before layout gave the widget its width.
        self.show(self._graphs)

    def show(self, graphs: Sequence[Graph]) -> None:
        self._graphs = graphs
        width = max(self.size.width - 2, 20) if self.size.width else 78
        text = render_graphs(graphs, width, self.per_line)
        if text.plain != self._shown:
            self._shown = text.plain
            self.update(text)


class GraphSource(Protocol):
    """What ``ServerGraphs`` reads of the monitor (the app is one)."""

    @property
    def book(self) -> TrafficBook: ...

    @property
    def history(self) -> History: ...


class ServerGraphs(GraphBand):
    """One server's req/s, p99 and load over time, one graph a line (the detail screen).

    Self-contained: it reads the monitor's histories (kept in the model, fed by
    the ping and stats workers) once a second; nothing to wire up but the key."""

    REFRESH_S = 1.0

    def __init__(self, key: str, source: GraphSource, *, id: str | None = None) -> None:
        super().__init__(per_line=1, id=id)
        self.key, self.source = key, source

    def on_mount(self) -> None:
        self.refresh_graphs()
        self.set_interval(self.REFRESH_S, self.refresh_graphs)

    def graphs(self) -> list[Graph]:
        book, history = self.source.book, self.source.history
        req = book.server_req.get(self.key)
        p99 = book.server_p99.get(self.key)
        loads = history.loads(self.key)
        now = book.get(self.key)
        return [
            Graph("req/s", req.values() if req else [], now.cells()[0], "cyan"),
            Graph("p99ms", p99.values() if p99 else [], now.cells()[1], "yellow"),
            Graph("load ", loads, f"{loads[-1]:g}" if loads else "-", "green"),
        ]

    def refresh_graphs(self) -> None:
        self.show(self.graphs())
