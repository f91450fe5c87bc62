"""Reading every server's counters: ping (for the nonce), authenticate, ``stats``.

Shared by ``backend stats``, ``backend metrics``, the ``/metrics`` endpoint of
``backend serve`` and the monitor. One short connection per server and poll:
four small frames, so polling a pool every few seconds costs the servers
nothing measurable (those requests are counted like any other: ``ping`` and
``stats`` rows in the servers' own tables).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from backend import procs, registry
from backend.area import Area
from backend.config import Settings
from backend.errors import BackendError
from backend.stats import ServerStats
from backend.wire import protocol
from backend.wire.connection import Connection, PingResult


@dataclass(frozen=True)
class Sample:
    """One registration and what its server said (``stats``) or why not (``error``)."""

    entry: registry.Entry
    stats: ServerStats | None
    error: str | None = None
    ping: PingResult | None = None  # None: not tried (another host's loopback address)


def fetch_stats(key: bytes, entry: registry.Entry, timeout: float) -> Sample:
    """The counters of the server ``entry`` names; never raises for its failures."""
    reg = entry.registration
    if procs.unreachable_from_here(reg):
        return Sample(entry, None, f"loopback address of host {reg.hostname}: not reachable from here")
    try:
        conn = Connection(reg.host, reg.port, timeout)
    except BackendError as exc:
        return Sample(entry, None, str(exc), PingResult(ok=False, error=str(exc)))
    pong: PingResult | None = None
    try:
        pong = conn.ping(timeout)
        if not pong.matches(reg.server_id):
            return Sample(entry, None, f"answers server-id {pong.server_id}, not {reg.server_id}", pong)
        token = protocol.auth_token(key, reg.server_id, conn.nonce or "")
        resp = conn.request(protocol.Request("stats", None, [], {"auth": token}), timeout)
        if resp.status != protocol.OK:
            return Sample(entry, None, f"stats refused: {resp.errmsg}", pong)
        return Sample(entry, ServerStats.from_wire(resp.result), None, pong)
    except BackendError as exc:
        # A server that answered the ping but not stats is still alive (its state counts).
        return Sample(entry, None, str(exc), pong or PingResult(ok=False, error=str(exc)))
    finally:
        conn.close()


def fetch_area(area: Area, settings: Settings, dbfname: str | None = None) -> list[Sample]:
    """Every registered server of the area (or of one db), newest first, concurrently."""
    entries = registry.newest_first(registry.scan(area.servinfo_dir, dbfname).entries)
    if not entries:
        return []
    key = area.key()
    with ThreadPoolExecutor(max_workers=min(len(entries), 16)) as pool:
        return list(pool.map(lambda e: fetch_stats(key, e, settings.ping_timeout), entries))
