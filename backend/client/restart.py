"""``backend restart``: a new server first, then the old ones stop, so the db
is never without a server (new code, new settings, a fresh process).

When the db already has ``max-servers`` servers the new one could not start,
so the oldest is stopped first (the others keep serving). An area supervised
by ``backend serve`` is refused: serve replaces any server that exits, so a
restart there is ``backend stop --server-id ID`` (serve starts its
replacement), and launching extra servers beside serve's would be undone by
its next replacement.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from typing import Any

import psutil

from backend import procs, registry
from backend.area import Area
from backend.backoff import Backoff
from backend.client.control import StopResult, stop_server
from backend.client.launcher import start_server
from backend.config import Settings
from backend.errors import ConfigError
from backend.wire.connection import ping


@dataclass
class Restart:
    dbfname: str
    ok: bool = False
    new: dict[str, Any] | None = None
    stopped: list[StopResult] = field(default_factory=list)
    outcome: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"dbfname": self.dbfname, "ok": self.ok, "new": self.new, "outcome": self.outcome,
                "stopped": [r.__dict__ for r in self.stopped]}


def serve_holder(area: Area) -> str | None:
    """The pid of the ``backend serve`` supervising the area, if one runs."""
    path = area.servinfo_dir / ".serve.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
        return None
    finally:
        os.close(fd)


def wait_registered(area: Area, dbfname: str, pid: int | None, timeout: float) -> registry.Entry | None:
    """The registration of server ``pid`` once it answers as running, or None
    (it exited, or ``timeout`` passed)."""
    wait = Backoff(timeout, first=0.01, cap=0.2)
    while not wait.expired():
        for e in registry.scan(area.servinfo_dir, dbfname).entries:
            reg = e.registration
            if reg.pid == pid and ping(reg.host, reg.port, 1.0).usable(reg.server_id):
                return e
        if pid is not None and not psutil.pid_exists(pid):
            return None
        wait.sleep()
    return None


def restart_db(area: Area, settings: Settings, dbfname: str, *, timeout: float, force: bool) -> Restart:
    out = Restart(dbfname)
    old = [e for e in registry.newest_first(registry.scan(area.servinfo_dir, dbfname).entries)
           if not procs.locally_gone(e.registration)]
    res = start_server(area, dbfname, settings, force=True, replacing=True, why="restart")
    if not res.started and old and len(old) >= settings.max_servers:
        # Full: make room with the oldest; the others keep serving meanwhile.
        out.stopped.append(stop_server(area, settings, old.pop(), timeout=timeout, force=force))
        res = start_server(area, dbfname, settings, force=True, replacing=True, why="restart")
    if not res.started:
        out.outcome = f"no new server started: {res.reason}; old servers left running"
        return out
    entry = wait_registered(area, dbfname, res.pid, settings.call_deadline)
    if entry is None:
        out.outcome = (f"new server pid {res.pid} did not come up within {settings.call_deadline:g}s "
                       f"(see {area.log_path(dbfname, res.pid or 0)}); old servers left running")
        return out
    reg = entry.registration
    out.new = {"pid": reg.pid, "server": f"{reg.host}:{reg.port}", "server_id": reg.server_id}
    out.stopped += [stop_server(area, settings, e, timeout=timeout, force=force) for e in old]
    failed = [r for r in out.stopped if not r.stopped]
    out.ok = not failed
    out.outcome = (f"{len(out.stopped) - len(failed)} old server(s) stopped" if not failed
                   else f"{len(failed)} old server(s) not stopped: {failed[0].outcome}")
    return out


def restart(area: Area, settings: Settings, dbfnames: list[str] | None, *, timeout: float,
            force: bool) -> list[Restart]:
    """Restart the given dbs (None: every db with a registration)."""
    holder = serve_holder(area)
    if holder is not None:
        raise ConfigError(
            f"{area.root} is supervised by backend serve (pid {holder}), which replaces servers itself: "
            f"use backend stop --server-id ID to cycle one"
        )
    if dbfnames is None:
        dbfnames = sorted({e.registration.dbfname for e in registry.scan(area.servinfo_dir).entries})
    return [restart_db(area, settings, db, timeout=timeout, force=force) for db in dbfnames]
