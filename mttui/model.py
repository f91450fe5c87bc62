"""The monitor's data, free of Textual: snapshot -> rows, states, sorting, filtering.

Everything here is a pure function of its inputs (a registry snapshot, the latest
pings, the time), so it is unit-tested without a terminal and the screen shows
exactly what these functions return.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend import procs, registry
from backend.client import status
from backend.wire.connection import PingResult
from mttui import facts

HISTORY = 60  # pings kept per server for the detail screen's sparkline

# (key, header label, width, numeric?) in display order; keys 1-9 sort by them.
COLUMNS: tuple[tuple[str, str, int, bool], ...] = (
    ("server", "Server", 21, False),
    ("db", "DB", 8, False),
    ("pid", "PID", 8, True),
    ("state", "State", 22, False),
    ("threads", "Load", 8, True),  # requests in flight (sload); key kept for sorting
    ("age", "Age", 8, True),
    ("touched", "Touched", 8, True),
    ("ping", "Ping ms", 8, True),
    ("sid", "Server-id", 10, False),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)

STATE_COLOURS = {
    status.RUNNING: "green",
    status.STARTING: "cyan",
    status.SHUTTING_DOWN: "yellow",
    status.STALE: "magenta",
    status.UNKNOWN: "grey50",
    status.MISMATCH: "red",
    status.DEAD: "bold red",
    status.UNRESPONSIVE: "dark_orange",
    status.UNREACHABLE: "red3",
}
STATE_ORDER = list(STATE_COLOURS)

Pinger = Callable[[str, int, float], PingResult]
Clock = Callable[[], float]


@dataclass(frozen=True)
class Snapshot:
    """One immutable read of ``.servinfo/``, made off the UI thread."""

    entries: tuple[registry.Entry, ...] = ()
    problems: tuple[registry.Problem, ...] = ()
    error: str | None = None
    remote: frozenset[str] = frozenset()  # names of registrations on other hosts

    def by_name(self) -> dict[str, registry.Entry]:
        return {e.name: e for e in self.entries}


@dataclass(frozen=True)
class Probe:
    """Local-process facts, injectable so snapshots are deterministic."""

    is_local: Callable[[registry.Registration], bool] = procs.is_this_host
    locally_gone: Callable[[registry.Registration], bool] = procs.locally_gone
    proc_info: Callable[[registry.Registration], list[str]] = facts.proc_info


@dataclass(frozen=True)
class Row:
    key: str  # the registration file name
    entry: registry.Entry
    ping: PingResult | None
    state: status.RowState
    remote: bool
    cells: tuple[str, ...]  # plain text per COLUMNS entry
    # One sort key per column, of that column's own type (str, int, float, tuples):
    # only values of one column are ever compared, which no single type says.
    sort_values: tuple[Any, ...]

    @property
    def label(self) -> str:
        """The state word as shown: REMOTE rows carry their ping state too."""
        return f"REMOTE {self.state}" if self.remote else self.state


def classify(
    entry: registry.Entry, ping: PingResult | None, now: float, stale_after: float,
    gone: bool = False,
) -> status.RowState:
    """backend.client.status.classify, with the local-process check (``gone``) done
    beforehand off the UI thread (psutil per row would be slow there)."""
    if ping is not None and ping.ok:
        return status.classify(entry, ping, now, stale_after)
    if registry.is_stale(entry, now, stale_after):
        return status.STALE
    if gone:
        return status.DEAD
    return status.UNKNOWN if ping is None else status.UNRESPONSIVE


def make_row(
    entry: registry.Entry, ping: PingResult | None, now: float, stale_after: float,
    remote: bool = False, gone: bool = False,
) -> Row:
    reg = entry.registration
    state = classify(entry, ping, now, stale_after, gone)
    answered = ping is not None and ping.ok
    sload = ping.sload if answered and ping is not None else None
    rtt = ping.rtt_ms if answered and ping is not None else None
    age, touched = now - reg.start, now - entry.mtime
    row = Row(entry.name, entry, ping, state, remote, (), ())
    cells = (
        f"{reg.host}:{reg.port}",
        reg.dbfname,
        str(reg.pid),
        row.label,
        "-" if sload is None else str(sload),
        status.human_duration(age),
        status.human_duration(touched),
        "-" if rtt is None else f"{rtt:.1f}",
        reg.server_id[:8],
    )
    db_key = (-1 if reg.dbfname == "main.db" else int(reg.dbfname.split(".")[0]))
    sort_values = (
        (reg.host, reg.port), db_key, reg.pid, row.label, -1 if sload is None else sload,
        age, touched, float("inf") if rtt is None else rtt, reg.server_id,
    )
    return Row(entry.name, entry, ping, state, remote, cells, sort_values)


def build_rows(
    snapshot: Snapshot, pings: Mapping[str, PingResult], gone: Mapping[str, bool],
    now: float, stale_after: float,
) -> list[Row]:
    return [
        make_row(e, pings.get(e.name), now, stale_after, e.name in snapshot.remote,
                 gone.get(e.name, False))
        for e in snapshot.entries
    ]


def matches(row: Row, text: str) -> bool:
    """Case-insensitive substring match on any cell, the file name or the full server-id."""
    needle = text.strip().lower()
    if not needle:
        return True
    hay = " ".join((*row.cells, row.key, row.entry.registration.server_id)).lower()
    return needle in hay


def sort_rows(rows: Iterable[Row], column: str, reverse: bool = False) -> list[Row]:
    """Stable sort by one column; ties broken by file name so the order is total."""
    idx = COLUMN_KEYS.index(column)
    return sorted(rows, key=lambda r: (r.sort_values[idx], r.key), reverse=reverse)


def visible_rows(rows: Iterable[Row], filter_text: str, column: str, reverse: bool) -> list[Row]:
    return sort_rows((r for r in rows if matches(r, filter_text)), column, reverse)


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    total: int
    load: int
    problems: int

    def text(self) -> str:
        parts = [f"{self.total} server{'s' if self.total != 1 else ''}"]
        parts += [f"{n} {state}" for state, n in self.counts.items()]
        parts.append(f"load {self.load}")
        if self.problems:
            parts.append(f"{self.problems} bad file{'s' if self.problems != 1 else ''}")
        return " · ".join(parts)


def summarize(rows: Iterable[Row], problems: int = 0) -> Summary:
    counts: collections.Counter[str] = collections.Counter()
    load = total = 0
    for r in rows:
        total += 1
        counts[r.label] += 1
        if r.ping is not None and r.ping.ok and r.ping.sload:
            load += r.ping.sload
    ordered = dict(sorted(counts.items(), key=lambda kv: _state_rank(kv[0])))
    return Summary(ordered, total, load, problems)


def _state_rank(label: str) -> tuple[int, str]:
    base = label.removeprefix("REMOTE ")
    rank = STATE_ORDER.index(base) if base in STATE_ORDER else len(STATE_ORDER)
    return (rank, label)


def problem_lines(problems: Iterable[registry.Problem]) -> list[str]:
    return [f"{p.name!r}: {p.reason}" for p in problems]


@dataclass
class History:
    """Recent pings per registration (bounded), for the detail screen."""

    size: int = HISTORY
    _data: dict[str, collections.deque[tuple[float, PingResult]]] = field(default_factory=dict)

    def add(self, name: str, when: float, ping: PingResult) -> None:
        self._data.setdefault(name, collections.deque(maxlen=self.size)).append((when, ping))

    def get(self, name: str) -> list[tuple[float, PingResult]]:
        return list(self._data.get(name, ()))

    def prune(self, live: Iterable[str]) -> None:
        keep = set(live)
        for name in [n for n in self._data if n not in keep]:
            del self._data[name]

    def loads(self, name: str) -> list[float]:
        return [float(p.sload or 0) if p.ok else 0.0 for _, p in self.get(name)]
