"""Continuous sync for ``backend serve --sync-to URL --sync-every S``.

A daemon thread of the supervisor runs one pass every ``every`` seconds. It
keeps its connection between passes (reconnecting when it broke) rather than
using a pool: one loop needs one connection, and a pool's background
reconnects would hide why the central database is unreachable. When a pass
fails, the next one waits 1 s, 2 s, 4 s ... (at most ``max(every, 300)`` s):
a central database that is down costs one attempt per back-off step, and the
servers of the area never notice. ``state()`` is the loop's state as a dict
(for ``backend serve --json`` events and for stats/metrics); events go to
``on_event`` from the loop's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from backend.area import Area
from backend.central.settings import SyncSettings, redact
from backend.errors import BackendError

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


@dataclass
class SyncState:
    dest: str
    every: float
    state: str = "idle"  # idle | syncing | ok | backoff | stopped
    passes: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    last_attempt: float | None = None
    last_ok: float | None = None
    last_seconds: float | None = None
    last_rows: int = 0  # rows inserted or changed centrally by the last pass
    last_refused: int = 0
    total_rows: int = 0
    last_error: str | None = None
    next_at: float | None = None


def backoff(consecutive_errors: int, every: float) -> float:
    return float(min(BACKOFF_FIRST * 2 ** (consecutive_errors - 1), max(every, BACKOFF_MAX)))


class SyncLoop:
    def __init__(
        self, area: Area, conf: SyncSettings, *,
        on_event: Callable[[dict[str, Any]], None] = lambda e: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.area = area
        self.conf = conf
        self.on_event = on_event
        self.clock = clock
        self._state = SyncState(redact(conf.to), conf.every)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="mtserve-sync", daemon=True)

    def state(self) -> dict[str, Any]:
        """The sync state as a plain dict (safe to call from any thread)."""
        with self._lock:
            return asdict(self._state)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """No new pass starts after this (a pass under way finishes)."""
        self._stop.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        with self._lock:
            self._state.state = "stopped"

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            delay = self.pass_once()
        self._close()

    def pass_once(self) -> float:
        """One pass; returns the seconds until the next."""
        from backend.central.driver import connect
        from backend.central.sync import sync_area

        now = self.clock()
        with self._lock:
            self._state.state, self._state.last_attempt = "syncing", now
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.conf.to)
            res = sync_area(self.area, self.conf.to, area_tag=self.conf.area_tag, conn=self._conn)
        except BackendError as exc:
            return self._failed(str(exc))
        except Exception as exc:  # a bug must not kill the loop silently
            return self._failed(f"internal error: {type(exc).__name__}: {exc}"[:300])
        with self._lock:
            s = self._state
            s.passes += 1
            s.consecutive_errors = 0
            s.last_error = None
            s.state = "ok"
            s.last_ok = self.clock()
            s.last_seconds = round(res.seconds, 3)
            s.last_rows = res.written
            s.last_refused = res.refused
            s.total_rows += res.written
            s.next_at = self.clock() + self.conf.every
        self.on_event({"sync": "ok", "written": res.written, "read": res.rows, "refused": res.refused,
                       "seconds": round(res.seconds, 3), "area_id": res.area_id})
        return self.conf.every

    def _failed(self, error: str) -> float:
        self._close()
        with self._lock:
            s = self._state
            s.errors += 1
            s.consecutive_errors += 1
            s.last_error = error
            s.state = "backoff"
            delay = backoff(s.consecutive_errors, self.conf.every)
            s.next_at = self.clock() + delay
        self.on_event({"sync": "error", "error": error, "retry_in": round(delay, 1)})
        return delay

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection: nothing left to save
                pass


_current: SyncLoop | None = None


def current_state() -> dict[str, Any] | None:
    """The running loop's state in this process (None when no sync runs):
    the hook for ``backend stats``/metrics."""
    loop = _current
    return loop.state() if loop is not None else None


def set_current(loop: SyncLoop | None) -> None:
    global _current
    _current = loop
