"""The shape of a server's ``stats`` answer, and what is derived from it.

A server counts (``backend/server/counters.py``); this module is the one
reader of what it sends: ``ServerStats.from_wire`` validates the msgpack map,
and the helpers derive rates between two snapshots, latency percentiles from
the fixed-bucket histograms, and sums per db and per area. ``backend stats``,
``backend metrics`` and the monitor all read counters through here.

Wire map (``STATS_VERSION`` 1; readers ignore unknown keys, so fields may be
added without a version bump; a change of meaning bumps it)::

    {"version": 1, "server_id", "dbfname", "pid", "host", "port", "hostname",
     "state", "started", "now", "uptime_s", "inflight", "bytes_in", "bytes_out",
     "connections": {"open", "total", "refused"}, "auth_failures",
     "latency_bounds": [s, ...],                 # upper bounds, +Inf implied last
     "commands": {cmd: {"outcomes": {outcome: n}, "buckets": [n, ...], "sum_s": s}},
     "db": {"commits", "batch_bounds": [...], "batch_buckets": [...],
            "file_bytes", "wal_bytes"}}

``outcome`` is ``ok``, ``loaded``, ``busy`` or a protocol error code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.errors import ProtocolError

STATS_VERSION = 1

# Seconds. Ping answers in ~20 us, a single write commits in ~1 ms (fsync), a
# 50-way group commit in ~10 ms; long reads and lock waits up to db-busy-timeout.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
# Calls per group commit (the db worker takes at most 256).
BATCH_BOUNDS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)

OK_OUTCOMES = ("ok", "loaded")
# Not database work: ``requests``, rates and percentiles leave these out, so the
# observer (a ping and a stats per poll) and pinging clients do not show up as
# load, and 20-us pings do not drown the latency of real calls. Errors count all.
CONTROL_COMMANDS = frozenset({"ping", "auth", "stop", "stats"})


@dataclass(frozen=True)
class CommandStats:
    outcomes: dict[str, int]
    buckets: tuple[int, ...]  # len(bounds) + 1: the last is +Inf
    sum_s: float

    @property
    def count(self) -> int:
        return sum(self.outcomes.values())

    @property
    def errors(self) -> int:
        return sum(n for o, n in self.outcomes.items() if o not in OK_OUTCOMES)


@dataclass(frozen=True)
class ServerStats:
    server_id: str
    dbfname: str
    pid: int
    host: str
    port: int
    hostname: str
    state: str
    started: float
    now: float
    uptime_s: float
    inflight: int
    bytes_in: int
    bytes_out: int
    connections_open: int
    connections_total: int
    connections_refused: int
    auth_failures: int
    latency_bounds: tuple[float, ...]
    commands: dict[str, CommandStats]
    db_commits: int
    batch_bounds: tuple[float, ...]
    batch_buckets: tuple[int, ...]
    db_file_bytes: int
    db_wal_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, obj: Any) -> ServerStats:
        """Validate a ``stats`` result; ``ProtocolError`` names what is wrong."""
        m = _map(obj, "stats")
        version = m.get("version")
        if version != STATS_VERSION:
            raise ProtocolError(f"stats version {version!r} is not {STATS_VERSION}")
        conns = _map(m.get("connections"), "connections")
        db = _map(m.get("db"), "db")
        bounds = _floats(m.get("latency_bounds"), "latency_bounds")
        commands: dict[str, CommandStats] = {}
        for name, raw in _map(m.get("commands"), "commands").items():
            c = _map(raw, f"commands.{name}")
            outcomes = {str(k): _int(v, f"{name} outcome {k}")
                        for k, v in _map(c.get("outcomes"), "outcomes").items()}
            buckets = _ints(c.get("buckets"), f"{name} buckets")
            if len(buckets) != len(bounds) + 1:
                raise ProtocolError(f"stats: {name} has {len(buckets)} buckets for {len(bounds)} bounds")
            commands[name] = CommandStats(outcomes, buckets, _float(c.get("sum_s"), "sum_s"))
        batch_bounds = _floats(db.get("batch_bounds"), "batch_bounds")
        batch_buckets = _ints(db.get("batch_buckets"), "batch_buckets")
        if len(batch_buckets) != len(batch_bounds) + 1:
            raise ProtocolError("stats: batch_buckets does not match batch_bounds")
        return cls(
            server_id=_str(m.get("server_id"), "server_id"),
            dbfname=_str(m.get("dbfname"), "dbfname"),
            pid=_int(m.get("pid"), "pid"),
            host=_str(m.get("host"), "host"),
            port=_int(m.get("port"), "port"),
            hostname=_str(m.get("hostname"), "hostname"),
            state=_str(m.get("state"), "state"),
            started=_float(m.get("started"), "started"),
            now=_float(m.get("now"), "now"),
            uptime_s=_float(m.get("uptime_s"), "uptime_s"),
            inflight=_int(m.get("inflight"), "inflight"),
            bytes_in=_int(m.get("bytes_in"), "bytes_in"),
            bytes_out=_int(m.get("bytes_out"), "bytes_out"),
            connections_open=_int(conns.get("open"), "connections.open"),
            connections_total=_int(conns.get("total"), "connections.total"),
            connections_refused=_int(conns.get("refused"), "connections.refused"),
            auth_failures=_int(m.get("auth_failures"), "auth_failures"),
            latency_bounds=bounds,
            commands=commands,
            db_commits=_int(db.get("commits"), "db.commits"),
            batch_bounds=batch_bounds,
            batch_buckets=batch_buckets,
            db_file_bytes=_int(db.get("file_bytes"), "db.file_bytes"),
            db_wal_bytes=_int(db.get("wal_bytes"), "db.wal_bytes"),
        )

    # -- derived ----------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Database requests answered (control commands left out, see ``CONTROL_COMMANDS``)."""
        return sum(c.count for n, c in self.commands.items() if n not in CONTROL_COMMANDS)

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.commands.values())

    def latency_buckets(self, command: str | None = None) -> tuple[int, ...]:
        """One command's histogram, or every database command's summed."""
        if command is not None:
            c = self.commands.get(command)
            return c.buckets if c else (0,) * (len(self.latency_bounds) + 1)
        return sum_buckets(
            (c.buckets for n, c in self.commands.items() if n not in CONTROL_COMMANDS),
            len(self.latency_bounds) + 1,
        )


def sum_buckets(histograms: Iterable[tuple[int, ...]], size: int) -> tuple[int, ...]:
    out = [0] * size
    for h in histograms:
        for i, n in enumerate(h):
            out[i] += n
    return tuple(out)


def percentile(bounds: tuple[float, ...], buckets: tuple[int, ...], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a fixed-bucket histogram, as Prometheus's
    ``histogram_quantile`` estimates it: linear within the bucket that holds
    it; the +Inf bucket answers its lower bound. None if the histogram is empty."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            if i >= len(bounds):
                return bounds[-1] if bounds else None
            lower = bounds[i - 1] if i else 0.0
            return lower + (bounds[i] - lower) * ((rank - seen) / n)
        seen += n
    return bounds[-1] if bounds else None


@dataclass(frozen=True)
class Summary:
    """What ``backend stats`` shows per server, per db and per area."""

    servers: int
    requests: int
    errors: int
    inflight: int
    connections: int
    rate_now: float | None  # requests/s between the two samples (None: one sample)
    rate_avg: float  # requests/s since start (sum over servers)
    p50_ms: float | None
    p99_ms: float | None

    def as_json(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def summarize(now: Iterable[ServerStats], before: Mapping[str, ServerStats] | None = None) -> Summary:
    """Sum servers' counters; ``before`` (by server-id) gives the current rate.

    Percentiles come from the histogram of the interval when there is an
    earlier sample, else from the whole life of the servers."""
    cur = list(now)
    size = len(cur[0].latency_bounds) + 1 if cur else len(LATENCY_BOUNDS) + 1
    bounds = cur[0].latency_bounds if cur else LATENCY_BOUNDS
    hist = sum_buckets((s.latency_buckets() for s in cur), size)
    rate_now: float | None = None
    if before is not None:
        delta, rate_now = [0] * size, 0.0
        for s in cur:
            prev = before.get(s.server_id)
            # A server that restarted counts from zero: its earlier sample is not comparable.
            if prev is None or prev.started != s.started or s.now <= prev.now:
                continue
            rate_now += (s.requests - prev.requests) / (s.now - prev.now)
            for i, (a, b) in enumerate(zip(s.latency_buckets(), prev.latency_buckets(), strict=True)):
                delta[i] += a - b
        if sum(delta):
            hist = tuple(delta)
    p50, p99 = percentile(bounds, hist, 0.5), percentile(bounds, hist, 0.99)
    return Summary(
        servers=len(cur),
        requests=sum(s.requests for s in cur),
        errors=sum(s.errors for s in cur),
        inflight=sum(s.inflight for s in cur),
        connections=sum(s.connections_open for s in cur),
        rate_now=rate_now,
        rate_avg=sum(s.requests / s.uptime_s for s in cur if s.uptime_s > 0),
        p50_ms=None if p50 is None else p50 * 1000,
        p99_ms=None if p99 is None else p99 * 1000,
    )


# -- validation helpers -------------------------------------------------------------


def _map(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ProtocolError(f"stats: {what} is not a map")
    return v


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ProtocolError(f"stats: {what} is not an integer")
    return v


def _float(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ProtocolError(f"stats: {what} is not a number")
    return float(v)


def _str(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise ProtocolError(f"stats: {what} is not a string")
    return v


def _ints(v: Any, what: str) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise ProtocolError(f"stats: {what} is not a list")
    return tuple(_int(x, what) for x in v)


def _floats(v: Any, what: str) -> tuple[float, ...]:
    if not isinstance(v, list):
        raise ProtocolError(f"stats: {what} is not a list")
    return tuple(_float(x, what) for x in v)
