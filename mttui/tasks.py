"""The blocking work behind the monitor, run in thread workers (no Textual here).

Each function takes what it needs and returns an immutable result; the app
applies results on its own thread, so no state is shared between threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from backend import events, registry
from backend.area import Area
from backend.backoff import Backoff
from backend.client import status
from backend.client.control import StopResult, stop_server
from backend.client.launcher import LaunchResult, start_server
from backend.config import Settings
from backend.errors import BackendError
from backend.wire.connection import PingResult
from mttui.model import AreaEntry, Pinger, Probe, Snapshot

MAX_PARALLEL_PINGS = 16


def read_snapshot(servinfo: Path, cache: registry.ScanCache, probe: Probe,
                  label: str = "") -> Snapshot:
    """One full read of ``.servinfo/`` (unchanged files come from ``cache``); with a
    ``label`` (one of several areas) the entries are ``AreaEntry``s keyed by it."""
    try:
        scan = registry.scan(servinfo, cache=cache)
    except BackendError as exc:
        return Snapshot(error=str(exc))
    except OSError as exc:  # e.g. the area itself vanished
        return Snapshot(error=f"cannot read {servinfo}: {exc.strerror or exc}")
    found: tuple[registry.Entry, ...] = scan.entries
    if label:
        found = tuple(AreaEntry(e.path, e.registration, e.mtime, e.inode, label) for e in found)
    remote = frozenset(e.name for e in found if not probe.is_local(e.registration))
    return Snapshot(found, scan.problems, None, remote)


def merge_snapshots(parts: Sequence[tuple[str, Snapshot]]) -> Snapshot:
    """Several areas' snapshots as one. An area that cannot be read adds nothing
    but its error (with its label); only if none can be read is the whole one an error."""
    readable = [s for _label, s in parts if s.error is None]
    errors = [f"{label}: {s.error}" for label, s in parts if s.error is not None]
    if not readable:
        return Snapshot(error="; ".join(errors))
    return Snapshot(
        tuple(e for s in readable for e in s.entries),
        tuple(p for s in readable for p in s.problems), None,
        frozenset().union(*(s.remote for s in readable)), tuple(errors))


@dataclass(frozen=True)
class PingRound:
    pings: dict[str, PingResult]
    gone: dict[str, bool]  # local process check, only for failed pings
    when: float
    elapsed_ms: float


def ping_all(
    entries: Iterable[registry.Entry], pinger: Pinger, timeout: float, probe: Probe,
    clock: Callable[[], float],
) -> PingRound:
    """Ping every entry once, at most MAX_PARALLEL_PINGS at a time."""
    todo = list(entries)
    t0 = time.perf_counter()
    pings: dict[str, PingResult] = {}
    if todo:
        workers = min(len(todo), MAX_PARALLEL_PINGS)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ping") as pool:
            results = pool.map(
                lambda e: pinger(e.registration.host, e.registration.port, timeout), todo
            )
            pings = {e.name: r for e, r in zip(todo, results, strict=True)}
    gone = {
        e.name: probe.locally_gone(e.registration) for e in todo if not pings[e.name].ok
    }
    return PingRound(pings, gone, clock(), (time.perf_counter() - t0) * 1000)


@dataclass(frozen=True)
class PingOne:
    key: str
    server: str
    result: PingResult


def ping_one(entry: registry.Entry, pinger: Pinger, timeout: float) -> PingOne:
    reg = entry.registration
    return PingOne(entry.name, f"{reg.host}:{reg.port}", pinger(reg.host, reg.port, timeout))


def stop(area: Area, settings: Settings, entry: registry.Entry, force: bool = False) -> StopResult:
    return stop_server(area, settings, entry, timeout=15.0, force=force)


def start(area: Area, settings: Settings, dbfname: str) -> LaunchResult:
    return start_server(area, dbfname, settings, force=True)


# -- actions on one server or a marked set ------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one action did to one server: the notification and events pane say this."""

    target: str  # host:port (db)
    ok: bool
    text: str


def describe(entry: registry.Entry) -> str:
    reg = entry.registration
    return f"{reg.host}:{reg.port} ({reg.dbfname})"


def stop_many(area: Area, settings: Settings, entries: Iterable[registry.Entry],
              force: bool = False) -> list[Outcome]:
    """Stop each server (authenticated stop, guarded SIGTERM fallback), one after
    another; ``force``: then SIGTERM+SIGCONT and SIGKILL for a server proven to be
    this area's (``backend stop --force``: a frozen server)."""
    out = []
    for entry in entries:
        result = stop(area, settings, entry, force=force)
        out.append(Outcome(describe(entry), result.stopped, result.outcome))
    return out


def prune_many(
    area: Area, settings: Settings, entries: Iterable[registry.Entry], pinger: Pinger,
    probe: Probe, clock: Callable[[], float],
) -> list[Outcome]:
    """Remove the registrations that are provably dead *now* (judged again here,
    off the UI thread: the row the operator saw may be a second old). A server
    that answers with its server-id, or whose local process still runs, is kept."""
    out = []
    for entry in entries:
        reason = why_dead(entry, pinger, settings, probe, clock())
        if reason is None:
            out.append(Outcome(describe(entry), False, "not provably dead (it answers or its "
                               "process runs, and its file is fresh): kept"))
        elif registry.remove_dead(entry):
            # The same event `backend prune` records: the history says who removed it.
            events.record_event(area, events.PRUNED, dbfname=entry.registration.dbfname,
                                name=entry.name, pid=entry.registration.pid, why=reason)
            out.append(Outcome(describe(entry), True, f"pruned: {reason}"))
        elif not entry.path.exists():
            out.append(Outcome(describe(entry), True, "already gone"))
        else:
            out.append(Outcome(describe(entry), False,
                               f"cannot remove .servinfo/{entry.name} (replaced, touched or "
                               "not writable)"))
    return out


def why_dead(entry: registry.Entry, pinger: Pinger, settings: Settings, probe: Probe,
             now: float) -> str | None:
    """Why ``entry`` is provably dead (SPEC: silent and stale; or, on this host,
    its process is gone), or None."""
    reg = entry.registration
    answer = pinger(reg.host, reg.port, settings.ping_timeout)
    if answer.ok and answer.server_id == reg.server_id:
        return None
    if probe.locally_gone(reg):
        return f"process {reg.pid} is gone"
    if registry.is_stale(entry, now, settings.stale_after):
        return f"no answer and untouched for {now - entry.mtime:.0f}s"
    return None


def restart_many(area: Area, settings: Settings, entries: Iterable[registry.Entry],
                 pinger: Pinger) -> list[Outcome]:
    """Restart each server: a new server for its db first, then this one stops,
    so the db is never without a server. A declined start leaves the old one running."""
    out = []
    for entry in entries:
        reg = entry.registration
        launch = start(area, settings, reg.dbfname)
        if not launch.started:
            out.append(Outcome(describe(entry), False,
                               f"no new server started ({launch.reason}); old one left running"))
            continue
        if not wait_answering(area, reg.dbfname, launch.pid, pinger, settings.call_deadline):
            out.append(Outcome(describe(entry), False,
                               f"new server pid {launch.pid} did not come up; old one left running"))
            continue
        result = stop(area, settings, entry)
        text = f"new server pid {launch.pid}; old one {result.outcome}"
        out.append(Outcome(describe(entry), result.stopped, text))
    return out


def wait_answering(area: Area, dbfname: str, pid: int | None, pinger: Pinger,
                   timeout: float) -> bool:
    """Wait until server ``pid`` of ``dbfname`` is registered and answers."""
    wait = Backoff(timeout, first=0.02, cap=0.2)
    while not wait.expired():
        for e in registry.scan(area.servinfo_dir, dbfname).entries:
            reg = e.registration
            if reg.pid == pid and pinger(reg.host, reg.port, 1.0).ok:
                return True
        wait.sleep()
    return False


# A registration known to be dead (its process gone, or stale) is pinged at most
# this often: nothing answers there, and each try may cost a connect timeout.
DEAD_PING_S = 5.0
KNOWN_DEAD = frozenset({status.DEAD, status.STALE})


def due_for_ping(entries: Iterable[registry.Entry], states: dict[str, str],
                 last_ping: Callable[[str], float | None], now: float) -> tuple[registry.Entry, ...]:
    """The entries to ping this round: all but the known-dead ones pinged less
    than DEAD_PING_S ago."""
    due = []
    for e in entries:
        last = last_ping(e.name)
        if states.get(e.name) in KNOWN_DEAD and last is not None and now - last < DEAD_PING_S:
            continue
        due.append(e)
    return tuple(due)
