"""Stopping servers: the authenticated ``stop`` command, with SIGTERM only as a
guarded fallback. Shared by ``backend stop`` and the monitor.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from backend import procs, registry, states
from backend.area import Area
from backend.config import Settings
from backend.errors import ProtocolError, TransportError
from backend.wire import protocol
from backend.wire.connection import Connection


@dataclass
class StopResult:
    name: str
    server_id: str
    stopped: bool
    outcome: str


def _wait_gone(path: os.PathLike[str], server_id: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    delay = 0.01
    while time.monotonic() < end:
        if registry.read_server_id(path) != server_id:  # type: ignore[arg-type]
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return registry.read_server_id(path) != server_id  # type: ignore[arg-type]


def stop_server(
    area: Area, settings: Settings, entry: registry.Entry, *, timeout: float = 15.0,
    allow_sigterm: bool = True,
) -> StopResult:
    """Stop the server of ``entry`` and wait until its registration is gone."""
    reg = entry.registration
    result = StopResult(entry.name, reg.server_id, False, "")
    confirmed = False
    if procs.unreachable_from_here(reg):
        result.outcome = (
            f"runs on host {reg.hostname} with a loopback address ({reg.host}): "
            f"not reachable from here; stop it on {reg.hostname}"
        )
        return result
    try:
        conn = Connection(reg.host, reg.port, settings.ping_timeout)
    except TransportError as exc:
        result.outcome = f"not reachable ({exc}); not stopped"
        return result
    try:
        pong = conn.ping(settings.ping_timeout)
        if not pong.matches(reg.server_id):
            result.outcome = f"answers server-id {pong.server_id}, not {reg.server_id}: not stopped"
            return result
        confirmed = True
        if pong.sstate == states.SHUTTING_DOWN:
            sent = "already shutting down"
        else:
            token = protocol.auth_token(area.key(), reg.server_id, conn.nonce or "")
            resp = conn.request(["stop", None, [], {"auth": token}], settings.ping_timeout)
            if resp.status != protocol.OK:
                sent = f"stop refused ({resp.errmsg})"
            else:
                sent = "stop sent"
    except (TransportError, ProtocolError) as exc:
        sent = f"stop failed ({exc})"
    finally:
        conn.close()
    if _wait_gone(entry.path, reg.server_id, timeout):
        result.stopped, result.outcome = True, f"stopped ({sent})"
        return result
    if allow_sigterm and procs.terminate_if_ours(reg, confirmed):
        if _wait_gone(entry.path, reg.server_id, timeout):
            result.stopped, result.outcome = True, f"stopped by SIGTERM ({sent}, then no exit)"
            return result
    result.outcome = f"still registered after {timeout:g}s ({sent})"
    return result


def stop_servers(
    area: Area, settings: Settings, *, dbfname: str | None = None, server_id: str | None = None,
    timeout: float = 15.0,
) -> list[StopResult]:
    """Stop every matching server (all of the area if no filter), concurrently."""
    entries = registry.scan(area.servinfo_dir, dbfname).entries
    if server_id:
        entries = tuple(
            e for e in entries
            if e.registration.server_id == server_id or e.registration.server_id.startswith(server_id)
        )
    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=min(len(entries), 16)) as pool:
        return list(pool.map(lambda e: stop_server(area, settings, e, timeout=timeout), entries))
