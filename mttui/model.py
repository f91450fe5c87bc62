"""The monitor's data, free of Textual: snapshot -> rows, states, sorting, filtering.

Everything here is a pure function of its inputs (a registry snapshot, the latest
pings, the time), so it is unit-tested without a terminal and the screen shows
exactly what these functions return.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend import procs, registry
from backend.client import status
from backend.wire.connection import PingResult
from mttui import facts
from mttui.traffic import NO_TRAFFIC, Traffic, TrafficBook

HISTORY = 60  # pings kept per server for the detail screen's sparkline


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    max_width: int  # content wider than this is cut
    drop: int  # at narrow widths the highest ``drop`` goes first; 0: never dropped
    traffic: bool = False  # from the servers' counters (shown only while traffic is on)


# In data order: ``Row.cells`` and ``Row.sort_values`` follow it, and keys 1-9 sort
# by the first nine (new columns are appended, so those keys keep their meaning).
COLUMNS: tuple[Column, ...] = (
    Column("server", "Server", 21, 3),
    Column("db", "DB", 12, 2),
    Column("pid", "PID", 8, 7),
    Column("state", "State", 22, 0),
    Column("threads", "Load", 6, 0),  # sload: requests in flight (SPEC §8 calls it threads)
    Column("age", "Age", 8, 0),
    Column("touched", "Touched", 8, 0),
    Column("ping", "Ping ms", 8, 8),
    Column("sid", "Server-id", 10, 9),
    Column("req", "Req/s", 8, 4, traffic=True),
    Column("p99", "p99 ms", 8, 5, traffic=True),
    Column("err", "Err", 7, 6, traffic=True),
    # Only with several areas (``mttui --area A --area B``); dropped last of all.
    Column("area", "Area", 16, 1),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
# Left to right on screen: the traffic figures next to the load they explain.
DISPLAY_ORDER = ("server", "db", "pid", "state", "threads", "req", "p99", "err",
                 "age", "touched", "ping", "sid")
CELL_PADDING = 1  # DataTable's default, on each side of a cell
ARROW = 2  # " ▲": room kept in every header so the sort arrow is never cut

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


class AreaEntry(registry.Entry):
    """An entry of one of several watched areas: its ``name`` (the row key, and
    the key of its pings, history and traffic) is ``<area label>/<file name>``,
    unique across areas; ``path`` is still the file's own.

    ``registry.Entry`` is a NamedTuple (it is on a call's import path), which
    takes no extra field: the label is an attribute of this subclass, set once."""

    area_label: str

    def __new__(cls, path: Path, registration: registry.Registration, mtime: float, inode: int,
                area_label: str = "") -> AreaEntry:
        entry = super().__new__(cls, path, registration, mtime, inode)
        entry.area_label = area_label
        return entry

    @property
    def name(self) -> str:
        return f"{self.area_label}/{self.path.name}"


def area_label(entry: registry.Entry) -> str:
    """The label of the area ``entry`` came from ("" with one area)."""
    return entry.area_label if isinstance(entry, AreaEntry) else ""


def short_labels(roots: Iterable[Path]) -> list[str]:
    """Short names for areas: the directory's basename, with as many parent
    directories as it takes to tell two alike apart."""
    paths = [p.resolve() for p in roots]
    depth = [1] * len(paths)

    def label(i: int) -> str:
        return "/".join(paths[i].parts[-depth[i]:]) if paths[i].parts[-depth[i]:] else str(paths[i])

    while True:
        seen: dict[str, list[int]] = {}
        for i in range(len(paths)):
            seen.setdefault(label(i), []).append(i)
        clashes = [ix for ix in seen.values() if len(ix) > 1]
        grown = False
        for ix in clashes:
            for i in ix:
                if depth[i] < len(paths[i].parts):
                    depth[i] += 1
                    grown = True
        if not grown:
            return [label(i) for i in range(len(paths))]


@dataclass(frozen=True)
class Snapshot:
    """One immutable read of ``.servinfo/``, made off the UI thread."""

    entries: tuple[registry.Entry, ...] = ()
    problems: tuple[registry.Problem, ...] = ()
    error: str | None = None
    remote: frozenset[str] = frozenset()  # names of registrations on other hosts
    # With several areas: the areas that could not be read ("label: why"), while others could.
    area_errors: tuple[str, ...] = ()

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
    cells: tuple[str, ...]  # plain text per COLUMNS entry (Area: only with several areas)
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
    remote: bool = False, gone: bool = False, traffic: Traffic = NO_TRAFFIC,
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
        *traffic.cells(),
        *_area_cell(entry),
    )
    sort_values = (
        (reg.host, reg.port), db_sort_key(reg.dbfname), reg.pid, row.label,
        -1 if sload is None else sload, age, touched, float("inf") if rtt is None else rtt,
        reg.server_id, *traffic.sort_values(), *_area_cell(entry),
    )
    return Row(entry.name, entry, ping, state, remote, cells, sort_values)


def _area_cell(entry: registry.Entry) -> tuple[str, ...]:
    """The Area cell (and sort value), last: only rows of several areas have one."""
    label = area_label(entry)
    return (label,) if label else ()


def db_sort_key(dbfname: str) -> tuple[int, str]:
    """main.db first, then N.db by number, then anything else by name."""
    if dbfname == "main.db":
        return (-1, "")
    head = dbfname.split(".")[0]
    return (int(head), "") if head.isdigit() else (1 << 62, dbfname)


def build_rows(
    snapshot: Snapshot, pings: Mapping[str, PingResult], gone: Mapping[str, bool],
    now: float, stale_after: float, traffic: Mapping[str, Traffic] | None = None,
) -> list[Row]:
    figures = traffic or {}
    return [
        make_row(e, pings.get(e.name), now, stale_after, e.name in snapshot.remote,
                 gone.get(e.name, False), figures.get(e.name, NO_TRAFFIC))
        for e in snapshot.entries
    ]


def group_by_db(rows: Iterable[Row], book: TrafficBook) -> list[Row]:
    """The "by db" view: one row per db, its servers' figures summed (k9s-style view).

    Key ``db:<name>``; Server reads "N servers", State the best state of the
    group (RUNNING if any runs), Load the sum, Age the oldest, Touched the
    freshest, Req/s and Err the sums, p99 over the group's pooled latencies."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:  # with several areas, one row per db of each area
        groups.setdefault((area_label(r.entry), r.entry.registration.dbfname), []).append(r)
    out = []
    for (label, db), members in groups.items():
        best = min(members, key=lambda r: _state_rank(r.label))
        load = sum(r.ping.sload or 0 for r in members if r.ping is not None and r.ping.ok)
        age = max(r.sort_values[COLUMN_KEYS.index("age")] for r in members)
        touched = min(r.sort_values[COLUMN_KEYS.index("touched")] for r in members)
        fig = book.summary(r.key for r in members)
        n = len(members)
        cells = (
            f"{n} server{'s' if n != 1 else ''}", db, "", best.label, str(load),
            status.human_duration(age), status.human_duration(touched), "-", "",
            *fig.cells(), *([label] if label else []),
        )
        sort_values = (
            (str(n), 0), db_sort_key(db), 0, best.label, load, age, touched, 0.0, "",
            *fig.sort_values(), *([label] if label else []),
        )
        out.append(Row(f"db:{label}/{db}" if label else f"db:{db}", best.entry, best.ping, best.state, best.remote,
                       cells, sort_values))
    return out


def fit_columns(
    rows: Iterable[Row], width: int, traffic: bool = True, areas: bool = False,
) -> list[tuple[str, int]]:
    """The columns to show in ``width`` cells, in display order, with their widths.

    Each column is as wide as its widest cell (at most ``max_width``) and at least
    its label plus room for the sort arrow. Columns are dropped by descending
    ``drop`` until the rest fit; State, Load, Age and Touched always stay. Area
    shows only with several areas (``areas``)."""
    order = ("area", *DISPLAY_ORDER) if areas else DISPLAY_ORDER  # Area first, if at all
    wanted = [COLUMN_BY_KEY[k] for k in order if traffic or not COLUMN_BY_KEY[k].traffic]
    index = {c.key: COLUMN_KEYS.index(c.key) for c in wanted}
    widths = {c.key: len(c.label) + ARROW for c in wanted}
    for r in rows:
        cells = r.cells
        for key, i in index.items():
            n = len(cells[i])
            if n > widths[key]:
                widths[key] = n
    widths = {k: min(w, max(COLUMN_BY_KEY[k].max_width, len(COLUMN_BY_KEY[k].label) + ARROW))
              for k, w in widths.items()}
    shown = list(wanted)

    def total() -> int:
        return sum(widths[c.key] + 2 * CELL_PADDING for c in shown)

    for column in sorted(wanted, key=lambda c: -c.drop):
        if total() <= width or column.drop == 0:
            break
        shown.remove(column)
    return [(c.key, widths[c.key]) for c in shown]


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
