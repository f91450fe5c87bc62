"""The area's event history: ``<area>/logs/events.jsonl``, one JSON object a line.

Written by servers, the launcher, the supervisor and the operator's commands
(``record_event``); read by ``backend events`` and the monitor
(``read_events``). Every event has ``time`` (epoch seconds), ``kind``, ``host``
and ``writer_pid``, then the fields of its kind (docs/observability.md lists them).

Invariants:
- one event is one ``write(2)`` of one whole line on an ``O_APPEND`` descriptor,
  so concurrent writers never interleave inside a line;
- the file is bounded: past ``MAX_BYTES`` the writer that notices renames it to
  ``events.jsonl.1`` (replacing the older generation) under an ``flock``, so
  the history holds between ``MAX_BYTES`` and twice that;
- ``record_event`` never raises: a full disk or a planted symlink costs the
  event, never the server that was reporting it;
- created 0600 with ``O_NOFOLLOW``: events name pids and addresses, nothing
  for other users, and a symlink at the name is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backend.area import Area

log = logging.getLogger("backend.events")

FILE_NAME = "events.jsonl"
MAX_BYTES = 1 << 20
MAX_LINE = 4096

# Kinds (docs/observability.md says what each carries).
START_REQUESTED = "start_requested"  # launcher / supervisor: why = client, scale-out, operator, supervisor, restart
STARTED = "started"  # server: registered and running
DECLINED = "declined"  # server: exited at start-up without registering, why
RETIRED = "retired"  # server: exited on its own decision, why = idle, rank, stop, signal, file gone, error
CRASHED = "crashed"  # supervisor: a child exited non-zero / by a signal; code, last log line
RESTARTED = "restarted"  # supervisor: a crashed child started again after back-off
FATAL = "fatal"  # supervisor: gave up restarting a slot
MARKED_DEAD = "marked_dead"  # anyone: removed a provably dead registration, by = who
PRUNED = "pruned"  # backend prune: removed a dead registration
LOCK_EXPIRED = "lock_expired"  # launcher: broke a db's start lock whose holder was stuck or dead
LOCK_BUSY = "lock_busy"  # launcher: gave up waiting for a db's start lock (its holder is named)
SYNC_FAILED = "sync_failed"  # supervisor: a background sync to the central db failed after working (or first)
SYNC_RECOVERED = "sync_recovered"  # supervisor: a background sync worked again after failing


def events_path(area: Area) -> Path:
    return area.logs_dir / FILE_NAME


def record_event(area: Area, kind: str, **fields: Any) -> None:
    """Append one event to the area's history; never raises.

    ``record_event(area, "pruned", dbfname="main.db", name=entry.name, pid=123,
    why="dead and untouched for 400s")``: ``kind`` is one of the constants of
    this module (or a new one, documented in docs/observability.md); ``fields``
    must be JSON-serialisable (anything else is shown with ``str``). ``time``,
    ``host`` and ``writer_pid`` are added here.
    """
    try:
        event = {"time": round(time.time(), 6), "kind": kind, "host": socket.gethostname(),
                 "writer_pid": os.getpid(), **fields}
        line = json.dumps(event, default=str, separators=(",", ":")) + "\n"
        data = line.encode("utf-8", "replace")
        if len(data) > MAX_LINE:
            # Truncate the biggest field rather than lose the event (one line, bounded).
            event = {k: (v[:512] + "..." if isinstance(v, str) and len(v) > 512 else v)
                     for k, v in event.items()}
            data = (json.dumps(event, default=str, separators=(",", ":"))[: MAX_LINE - 1] + "\n").encode()
        path = events_path(area)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            if os.fstat(fd).st_size > MAX_BYTES:
                _rotate(path, fd)
        finally:
            os.close(fd)
    except Exception as exc:  # an event is never worth the caller's life
        log.warning("could not record event %s: %s", kind, exc)


def _rotate(path: Path, fd: int) -> None:
    """Rename the full file away, once: the writer holding the lock checks that
    ``path`` still is the file it wrote (another writer may have rotated)."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        st = os.fstat(fd)
        try:
            current = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return
        if (current.st_ino, current.st_dev) == (st.st_ino, st.st_dev):
            os.replace(path, path.with_name(FILE_NAME + ".1"))
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def parse_line(line: str) -> dict[str, Any] | None:
    """One line as an event, or None for a torn or foreign line (skipped by readers)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
        return None
    if not isinstance(obj.get("time"), int | float):
        return None
    return obj


def _read_file(path: Path) -> list[dict[str, Any]]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return []
    with os.fdopen(fd, "rb") as f:
        data = f.read(4 * MAX_BYTES)
    out = []
    for raw in data.decode("utf-8", "replace").splitlines():
        event = parse_line(raw)
        if event is not None:
            out.append(event)
    return out


def read_events(area: Area) -> list[dict[str, Any]]:
    """The whole history, oldest first (the rotated generation, then the current file)."""
    path = events_path(area)
    return _read_file(path.with_name(FILE_NAME + ".1")) + _read_file(path)


def follow(area: Area, interval: float = 0.2, stop: Any = None) -> Iterator[dict[str, Any]]:
    """New events as they are appended, across rotations (``backend events -f``).

    Starts at the end of the file as it is when ``follow`` is called (not when
    the iterator is first advanced). ``stop`` (a callable) ends the loop when it
    returns true; tests use it, the CLI runs until interrupted."""
    path = events_path(area)
    ino: int | None = None
    pos = 0
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(path)
        ino, pos = st.st_ino, st.st_size
    return _follow(path, ino, pos, interval, stop)


def _follow(path: Path, ino: int | None, pos: int, interval: float, stop: Any) -> Iterator[dict[str, Any]]:
    partial = b""
    while stop is None or not stop():
        try:
            st: os.stat_result | None = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if ino is not None and (st is None or st.st_ino != ino):
            # Rotated: finish the old file, now events.jsonl.1, then read the new
            # one (once it exists) from its start.
            yield from _lines(path.with_name(FILE_NAME + ".1"), ino, pos, partial)
            ino, pos, partial = None, 0, b""
        if st is None:
            time.sleep(interval)
            continue
        if ino is None:
            ino = st.st_ino
        if st.st_size > pos:
            chunk = _pread(path, pos, st.st_size - pos)
            pos += len(chunk)
            *lines, partial = (partial + chunk).split(b"\n")
            for raw in lines:
                event = parse_line(raw.decode("utf-8", "replace"))
                if event is not None:
                    yield event
        else:
            time.sleep(interval)


def _pread(path: Path, pos: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        return os.pread(fd, min(size, 4 * MAX_BYTES), pos)
    finally:
        os.close(fd)


def _lines(path: Path, ino: int, pos: int, partial: bytes) -> Iterator[dict[str, Any]]:
    try:
        st = os.stat(path, follow_symlinks=False)
        if st.st_ino != ino or st.st_size <= pos:
            return
        chunk = _pread(path, pos, st.st_size - pos)
    except OSError:
        return
    for raw in (partial + chunk).split(b"\n"):
        event = parse_line(raw.decode("utf-8", "replace"))
        if event is not None:
            yield event


def describe(event: dict[str, Any]) -> str:
    """One human line: local time, kind, db, then the other fields as key=value."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(event["time"])))
    skip = {"time", "kind", "dbfname", "host", "writer_pid"}
    rest = " ".join(f"{k}={_show(v)}" for k, v in event.items() if k not in skip)
    return f"{when} {event.get('dbfname', '-'):<8} {event['kind']:<15} {rest}".rstrip()


def _show(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return json.dumps(text) if (" " in text or not text) else text
