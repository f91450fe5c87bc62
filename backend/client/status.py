"""What state a registration is in, from its file and (optionally) a ping.

Shared by ``backend list`` and the monitor so both say the same thing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from backend import procs, registry, states
from backend.wire.connection import PingResult

# A registration's state as `backend list` and the monitor show it: the server's
# own state (states.ServerState) upper-cased when it answered, else what we know.
RowState = Literal[
    "RUNNING", "STARTING", "SHUTTING-DOWN",
    "STALE", "UNKNOWN", "MISMATCH", "DEAD", "UNRESPONSIVE", "UNREACHABLE",
]
RUNNING: Final = "RUNNING"
STARTING: Final = "STARTING"
SHUTTING_DOWN: Final = "SHUTTING-DOWN"
STALE: Final = "STALE"
UNKNOWN: Final = "UNKNOWN"
MISMATCH: Final = "MISMATCH"
DEAD: Final = "DEAD"
UNRESPONSIVE: Final = "UNRESPONSIVE"
UNREACHABLE: Final = "UNREACHABLE"  # another host's server registered a loopback address
ROW_STATES: tuple[RowState, ...] = get_args(RowState)
_SSTATES: dict[str, RowState] = {
    states.RUNNING: RUNNING,
    states.STARTING: STARTING,
    states.SHUTTING_DOWN: SHUTTING_DOWN,
}


def classify(entry: registry.Entry, ping: PingResult | None, now: float, stale_after: float) -> RowState:
    """RUNNING / STARTING / SHUTTING-DOWN from an answer with the file's server-id;
    MISMATCH if another server answers; without an answer: STALE (untouched for
    stale-after), DEAD (a local process that is gone), UNRESPONSIVE (a frozen or
    wedged server), or UNKNOWN (not pinged yet). UNREACHABLE: another host's loopback registration that
    "answered": the answer came from some local process, never from that server."""
    reg = entry.registration
    if ping is not None and ping.ok and procs.unreachable_from_here(reg):
        return STALE if registry.is_stale(entry, now, stale_after) else UNREACHABLE
    if ping is not None and ping.ok:
        if ping.server_id != reg.server_id:
            return MISMATCH
        return _SSTATES.get(ping.sstate or "", UNKNOWN)
    if registry.is_stale(entry, now, stale_after):
        return STALE
    if procs.locally_gone(reg):
        return DEAD
    return UNKNOWN if ping is None else UNRESPONSIVE


@dataclass(frozen=True)
class ServerRow:
    entry: registry.Entry
    ping: PingResult | None
    state: RowState
    remote: bool

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        reg = self.entry.registration
        return {
            "name": self.entry.name,
            "server": f"{reg.host}:{reg.port}",
            "host": reg.host,
            "port": reg.port,
            "dbfname": reg.dbfname,
            "pid": reg.pid,
            "server_id": reg.server_id,
            "hostname": reg.hostname,
            "remote": self.remote,
            "state": self.state,
            "load": self.ping.sload if self.ping else None,
            "started": reg.start,
            "age_s": round(now - reg.start, 3),
            "touched_s": round(now - self.entry.mtime, 3),
            "ping_ms": round(self.ping.rtt_ms, 3) if self.ping and self.ping.ok and self.ping.rtt_ms else None,
            "error": self.ping.error if self.ping and not self.ping.ok else None,
        }


def make_row(entry: registry.Entry, ping: PingResult | None, stale_after: float) -> ServerRow:
    return ServerRow(
        entry,
        ping,
        classify(entry, ping, time.time(), stale_after),
        not procs.is_this_host(entry.registration),
    )


def human_duration(seconds: float) -> str:
    """``42s``, ``5m03s``...; a negative duration (a time in the future: clock skew
    or ``touch -d``) keeps its sign instead of showing as ``0s``."""
    if seconds <= -1:
        return "-" + human_duration(-seconds)
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


@dataclass(frozen=True)
class AddressRow:
    """``backend ping HOST:PORT``: a server known only by its answer. Same record
    shape as ``ServerRow.as_json`` (what the answer does not say is None)."""

    host: str
    port: int
    ping: PingResult

    @property
    def state(self) -> str:
        if not self.ping.ok:
            return UNRESPONSIVE
        return _SSTATES.get(self.ping.sstate or "", UNKNOWN)

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        meta = self.ping.meta if self.ping.ok else {}
        started = meta.get("started")
        started = started if isinstance(started, (int, float)) and not isinstance(started, bool) else None
        pid = meta.get("pid")
        dbfname = meta.get("dbfname")
        return {
            "name": None,
            "server": f"{self.host}:{self.port}",
            "host": self.host,
            "port": self.port,
            "dbfname": dbfname if isinstance(dbfname, str) else None,
            "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            "server_id": self.ping.server_id,
            "hostname": None,
            "remote": None,
            "state": self.state,
            "load": self.ping.sload,
            "started": started,
            "age_s": round(now - started, 3) if started is not None else None,
            "touched_s": None,
            "ping_ms": round(self.ping.rtt_ms, 3) if self.ping.ok and self.ping.rtt_ms else None,
            "error": self.ping.error if not self.ping.ok else None,
        }


def address_row(host: str, port: int, ping: PingResult) -> AddressRow:
    return AddressRow(host, port, ping)
