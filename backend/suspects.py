"""Suspect notes: "this server did not answer a ping", shared across processes.

A server whose ping timed out (frozen by SIGSTOP, wedged, or its host
unreachable) is noted in ``.servinfo/.suspect-<registration name>`` for
``suspect-ttl`` seconds. Clients ping suspects only when no other server is
usable, so later calls, in this process and in others, do not wait on it. A
note only lowers a server's priority; it never removes anything and never
makes a server unusable, so a forged or stale note costs at most one round of
choosing. A ping that answers clears the note.

The file is a dotfile (registry readers skip it) holding one line,
``server-id <id> until <epoch>``, written atomically; readers open it with
O_NOFOLLOW|O_NONBLOCK, read at most 256 bytes and ignore anything malformed, of
another server-id, or expiring further ahead than ``MAX_TTL`` (a forged note
cannot park a server for long).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from pathlib import Path

from backend.registry import Registration

PREFIX = ".suspect-"
MAX_TTL = 600.0
_LINE = re.compile(r"^server-id (\S{1,128}) until (\d{1,12}(?:\.\d{0,6})?)\s*$", re.ASCII)


def note_path(servinfo_dir: Path, reg: Registration) -> Path:
    return servinfo_dir / f"{PREFIX}{reg.name}"


def mark(servinfo_dir: Path, reg: Registration, ttl: float, now: float | None = None) -> None:
    """Note ``reg`` as suspect until now + ttl. Best effort: a read-only area just
    means other processes will find out for themselves."""
    if ttl <= 0:
        return
    until = (time.time() if now is None else now) + min(ttl, MAX_TTL)
    # os.urandom(n).hex() = secrets.token_hex(n): a backend call never imports secrets
    tmp = servinfo_dir / f".tmp-suspect-{os.urandom(6).hex()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"server-id {reg.server_id} until {until:.3f}\n")
        os.replace(tmp, note_path(servinfo_dir, reg))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def until(path: Path) -> tuple[str, float] | None:
    """(server-id, expiry) of the note at ``path``, or None if absent or malformed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, 256)
    except OSError:
        return None
    finally:
        os.close(fd)
    match = _LINE.match(data.decode("ascii", "replace"))
    return (match.group(1), float(match.group(2))) if match else None


def is_suspect(servinfo_dir: Path, reg: Registration, now: float | None = None) -> bool:
    note = until(note_path(servinfo_dir, reg))
    if note is None:
        return False
    now = time.time() if now is None else now
    server_id, expiry = note
    return server_id == reg.server_id and now < expiry <= now + MAX_TTL


def clear(servinfo_dir: Path, reg: Registration) -> None:
    """Forget a note (the server answered). Cheap when there is none."""
    with contextlib.suppress(OSError):
        os.unlink(note_path(servinfo_dir, reg))


def expired_notes(servinfo_dir: Path, live_names: set[str], now: float | None = None) -> list[Path]:
    """Notes that no longer mean anything: expired, malformed, or naming a
    registration that is gone (for ``backend prune``)."""
    now = time.time() if now is None else now
    out: list[Path] = []
    try:
        names = os.listdir(servinfo_dir)
    except OSError:
        return out
    for name in names:
        if not name.startswith(PREFIX):
            continue
        path = servinfo_dir / name
        note = until(path)
        if note is None or note[1] <= now or name[len(PREFIX):] not in live_names:
            out.append(path)
    return sorted(out)
