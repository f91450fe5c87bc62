"""Traffic figures for the monitor: the servers' counters (``stats``) turned into
rates, p99 and errors per server, per db and for the area, plus their recent history.

No Textual here: ``fetch`` runs in a thread worker, ``TrafficBook`` is fed on the
UI thread with its result. Rates need two samples of the same server life (the
server-id and start time match); until then a server's Req/s reads ``-``.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from backend import registry
from backend.area import Area
from backend.client import statsfetch
from backend.errors import BackendError
from backend.stats import ServerStats, summarize

GRAPH_POINTS = 120  # samples kept for the graphs (10 minutes at the 5 s stats interval)
MAX_PARALLEL = 16

Fetcher = Callable[[registry.Entry, float], statsfetch.Sample]


@dataclass(frozen=True)
class Traffic:
    """One server's (or db's) figures; None: not known (yet)."""

    req_s: float | None = None
    p99_ms: float | None = None
    errors: int | None = None

    def cells(self) -> tuple[str, str, str]:
        return (
            "-" if self.req_s is None else f"{self.req_s:.1f}",
            "-" if self.p99_ms is None else f"{self.p99_ms:.1f}",
            "-" if self.errors is None else str(self.errors),
        )

    def sort_values(self) -> tuple[float, float, int]:
        return (
            -1.0 if self.req_s is None else self.req_s,
            -1.0 if self.p99_ms is None else self.p99_ms,
            -1 if self.errors is None else self.errors,
        )


NO_TRAFFIC = Traffic()


@dataclass(frozen=True)
class StatsRound:
    """What one poll read: counters per registration file name (or why not)."""

    stats: dict[str, ServerStats]
    errors: dict[str, str]
    when: float
    problem: str | None = None  # the whole poll failed (e.g. the area key is unreadable)


def real_fetcher(area: Area) -> Fetcher:
    """``statsfetch.fetch_stats`` with the area's key (read once per poll)."""
    key = area.key()
    return lambda entry, timeout: statsfetch.fetch_stats(key, entry, timeout)


def keyed_fetcher(keys: Mapping[str, bytes]) -> Fetcher:
    """Several areas: each entry's counters asked for with its own area's key
    (``keys`` by area label, as ``model.AreaEntry`` carries it)."""
    def one(entry: registry.Entry, timeout: float) -> statsfetch.Sample:
        return statsfetch.fetch_stats(keys[getattr(entry, "area_label", "")], entry, timeout)

    return one


def fetch(
    entries: Iterable[registry.Entry], make_fetcher: Callable[[], Fetcher], timeout: float,
    clock: Callable[[], float] = time.time,
) -> StatsRound:
    """Every entry's counters, at most MAX_PARALLEL at a time; never raises."""
    todo = list(entries)
    try:
        fetcher = make_fetcher()
    except (BackendError, OSError) as exc:
        return StatsRound({}, {}, clock(), f"cannot read the counters: {exc}")
    stats: dict[str, ServerStats] = {}
    errors: dict[str, str] = {}
    if todo:
        with ThreadPoolExecutor(max_workers=min(len(todo), MAX_PARALLEL),
                                thread_name_prefix="stats") as pool:
            for e, sample in zip(todo, pool.map(lambda e: fetcher(e, timeout), todo), strict=True):
                if sample.stats is not None:
                    stats[e.name] = sample.stats
                else:
                    errors[e.name] = sample.error or "no answer"
    return StatsRound(stats, errors, clock())


@dataclass
class Series:
    """A bounded time series for a graph."""

    size: int = GRAPH_POINTS
    points: collections.deque[float] = field(default_factory=collections.deque)

    def add(self, value: float) -> None:
        self.points.append(value)
        while len(self.points) > self.size:
            self.points.popleft()

    def values(self) -> list[float]:
        return list(self.points)


@dataclass
class TrafficBook:
    """The latest two samples per server and the derived figures and histories."""

    current: dict[str, ServerStats] = field(default_factory=dict)
    previous: dict[str, ServerStats] = field(default_factory=dict)
    per_server: dict[str, Traffic] = field(default_factory=dict)
    rounds: int = 0
    # Area graphs, one point per poll.
    area_req: Series = field(default_factory=Series)
    area_err: Series = field(default_factory=Series)
    # Detail graphs per registration.
    server_req: dict[str, Series] = field(default_factory=dict)
    server_p99: dict[str, Series] = field(default_factory=dict)

    def apply(self, result: StatsRound, live: Iterable[str]) -> None:
        keep = set(live)
        old_errors = sum(s.errors for s in self.current.values())
        self.previous = {k: v for k, v in self.current.items() if k in keep}
        self.current = {k: v for k, v in result.stats.items() if k in keep}
        self.per_server = {k: self._one(k, s) for k, s in self.current.items()}
        self.rounds += 1
        area = self.summary(self.current)
        self.area_req.add(area.req_s or 0.0)
        # Errors in this interval (the counters only grow while a server lives).
        self.area_err.add(float(max(sum(s.errors for s in self.current.values()) - old_errors, 0))
                          if self.rounds > 1 else 0.0)
        for k, t in self.per_server.items():
            self.server_req.setdefault(k, Series()).add(t.req_s or 0.0)
            self.server_p99.setdefault(k, Series()).add(t.p99_ms or 0.0)
        for table in (self.server_req, self.server_p99):
            for k in [k for k in table if k not in keep]:
                del table[k]

    def _one(self, key: str, s: ServerStats) -> Traffic:
        prev = self.previous.get(key)
        if prev is None:
            return Traffic(None, None, s.errors)
        summary = summarize([s], {prev.server_id: prev})
        rate = summary.rate_now if prev.started == s.started and s.now > prev.now else None
        return Traffic(rate, summary.p99_ms, s.errors)

    def summary(self, keys: Mapping[str, ServerStats] | Iterable[str]) -> Traffic:
        """Summed figures of some servers (by registration file name): a db, the area."""
        names = list(keys)
        now = [self.current[k] for k in names if k in self.current]
        if not now:
            return NO_TRAFFIC
        before = {p.server_id: p for k in names if (p := self.previous.get(k)) is not None}
        s = summarize(now, before if before else None)
        return Traffic(s.rate_now, s.p99_ms, s.errors)

    def get(self, key: str) -> Traffic:
        return self.per_server.get(key, NO_TRAFFIC)
