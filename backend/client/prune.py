"""``backend prune``: remove what provably belongs to no live server.

Registrations are removed only on proof (SPEC §2, plus one stronger local fact):

- *local process gone*: the file names this host (our ``hostname`` extension:
  Megatest's files without it are never judged by pid) and its pid is not
  running, or runs a process that started at another time than ``proc-start``
  (a reused pid). The operator asked, and the fact is certain on this host.
- *stale and silent*: the ping fails (or another server-id answers) and the
  mtime has not advanced for ``stale-after`` seconds: the spec's provably-dead
  rule, the only one that applies to another host's servers.

A live server's file is never removed: its process exists with the right start
time, or it answers, or it touched its file within ``stale-after``. Removal
goes through ``registry.remove_dead``, which leaves a file that was replaced or
touched since it was judged.

Besides registrations: publish temp files (``.tmp-*``) older than
``stale-after``, suspect notes that expired or name no registration, and
start-lock files whose lease is older than ``LOCK_IDLE`` and whose flock is
free (taken while unlinking, so no launcher is inside its critical section).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from backend import events, procs, registry, suspects
from backend.area import Area
from backend.config import Settings

LOCK_IDLE = 3600.0  # a start lock untouched this long throttles nothing


@dataclass(frozen=True)
class Pruned:
    name: str
    kind: str  # registration | temp-file | suspect-note | start-lock
    reason: str
    removed: bool  # False with --dry-run, or when the file changed under us

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def why_dead(entry: registry.Entry, ping_ok: bool | None, ping_error: str | None, now: float,
             stale_after: float) -> str | None:
    """Why ``entry`` is provably dead, or None (keep it). ``ping_ok`` None: not pinged."""
    reg = entry.registration
    if reg.extras.get("hostname") and procs.is_this_host(reg) and not procs.process_matches(reg):
        if psutil.pid_exists(reg.pid):
            return f"pid {reg.pid} now runs another process (not the one that registered)"
        return f"process {reg.pid} is gone"
    if ping_ok is False and registry.is_stale(entry, now, stale_after):
        return (f"no answer ({ping_error}) and untouched for {now - entry.mtime:.0f}s "
                f"(stale-after {stale_after:g}s)")
    return None


def prune(area: Area, settings: Settings, *, dry_run: bool = False) -> list[Pruned]:
    from backend.wire.pingall import ping_all

    out: list[Pruned] = []
    d = area.servinfo_dir
    scan = registry.scan(d)
    entries = registry.newest_first(scan.entries)
    now = time.time()
    # Ping only what the local fact did not settle (and never another host's
    # loopback address: whatever answers there is not that server).
    to_ping = [e for e in entries if why_dead(e, None, None, now, settings.stale_after) is None
               and not procs.unreachable_from_here(e.registration)]
    # usable=never: wait for every answer (or the timeout). An answer that is
    # merely slower than the others must never count as a failed ping here.
    probes = ping_all([(e.registration.host, e.registration.port) for e in to_ping], settings.ping_timeout,
                      usable=lambda _i, _r: False)
    answers = {}
    for e, p in zip(to_ping, probes, strict=True):
        ok = p.result is not None and p.result.matches(e.registration.server_id)
        error = "another server-id answers" if p.result is not None and p.result.ok and not ok else (
            p.result.error if p.result is not None else "no answer")
        answers[e.name] = (ok, error)
        if p.conn is not None:
            p.conn.close()
    live_names = set()
    for e in entries:
        ok, error = answers.get(e.name, (False, "loopback address of another host"))
        reason = why_dead(e, ok, error, now, settings.stale_after)
        if reason is None:
            live_names.add(e.name)
            continue
        removed = not dry_run and registry.remove_dead(e)
        if not dry_run and not removed:
            live_names.add(e.name)
        if removed:
            events.record_event(area, events.PRUNED, dbfname=e.registration.dbfname, name=e.name,
                                pid=e.registration.pid, why=reason)
        out.append(Pruned(e.name, "registration", reason, removed))
    out += _prune_temp_files(d, now, settings.stale_after, dry_run)
    for path in suspects.expired_notes(d, live_names, now):
        out.append(Pruned(path.name, "suspect-note", "expired or names no registration",
                          not dry_run and _unlink(path)))
    out += _prune_start_locks(d, now, dry_run)
    return out


def _unlink(path: Path) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def _prune_temp_files(d: Path, now: float, max_age: float, dry_run: bool) -> list[Pruned]:
    out = []
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(d)):
            if not name.startswith(registry.TEMP_PREFIX):
                continue
            try:
                age = now - os.stat(d / name, follow_symlinks=False).st_mtime
            except OSError:
                continue
            if age > max_age:
                out.append(Pruned(name, "temp-file", f"a writer's temp file, {age:.0f}s old",
                                  not dry_run and _unlink(d / name)))
    return out


def _prune_start_locks(d: Path, now: float, dry_run: bool) -> list[Pruned]:
    out = []
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(d)):
            if not (name.startswith(".start-") and name.endswith(".lock")):
                continue
            path = d / name
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                age = now - os.fstat(fd).st_mtime
                if age <= LOCK_IDLE:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a launcher is starting a server right now
                reason = f"start lock unused for {age:.0f}s"
                out.append(Pruned(name, "start-lock", reason, not dry_run and _unlink(path)))
            finally:
                os.close(fd)
    return out
