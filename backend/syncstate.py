"""The background sync's state, published for other processes (issue 18).

``backend serve --sync-to`` runs the sync in its own process; ``backend stats``
and the monitor run elsewhere and must not load psycopg or ask the supervisor.
So the supervisor writes the loop's state to ``<area>/logs/sync-state.json``
after every pass (atomically: a temp file renamed over it, mode 0600), and
readers take it from there. A state whose writer is gone says so rather than
showing an old "ok" as current.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from typing import Any

from backend.area import Area
from backend.fs import read_head

FILE_NAME = "sync-state.json"
MAX_BYTES = 64 * 1024


def state_path(area: Area) -> os.PathLike[str]:
    return area.logs_dir / FILE_NAME


def publish(area: Area, state: dict[str, Any]) -> None:
    """Replace the published state with ``state`` plus the writer's pid; never raises
    (the sync goes on whether or not anyone can read about it)."""
    final = area.logs_dir / FILE_NAME
    tmp = area.logs_dir / f".{FILE_NAME}.{secrets.token_hex(4)}"
    data = json.dumps({**state, "pid": os.getpid(), "written": round(time.time(), 3)},
                      default=str).encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def read(area: Area) -> dict[str, Any] | None:
    """The published state, or None (no sync has run here, or the file is unreadable)."""
    raw = read_head(area.logs_dir / FILE_NAME, MAX_BYTES)
    if raw is None:
        return None
    try:
        state = json.loads(raw)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def _writer_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ago(then: object, now: float) -> str:
    if not isinstance(then, (int, float)):
        return "never"
    secs = max(now - float(then), 0.0)
    return f"{secs:.0f}s ago" if secs < 120 else f"{secs / 60:.0f}m ago"


def describe(state: dict[str, Any], now: float | None = None) -> str:
    """One line: ``sync ok 12s ago, 300 rows, 0 errors`` or why it is not."""
    now = time.time() if now is None else now
    what = state.get("state")
    errors = state.get("errors", 0)
    if what == "stopped" or not _writer_alive(state.get("pid")):
        return f"sync stopped (last ok {_ago(state.get('last_ok'), now)}, {errors} errors)"
    if what == "backoff":
        retry = state.get("next_at")
        wait = f", retry in {max(float(retry) - now, 0):.0f}s" if isinstance(retry, (int, float)) else ""
        return f"sync FAILING: {state.get('last_error') or 'unknown error'}{wait} ({errors} errors)"
    if state.get("last_ok") is None:
        return "sync starting"
    return (f"sync ok {_ago(state.get('last_ok'), now)}, {state.get('last_rows', 0)} rows "
            f"({state.get('total_rows', 0)} in all), {errors} errors")
