"""Stopping servers: the authenticated ``stop`` command, with SIGTERM only as a
guarded fallback. Shared by ``backend stop`` and the monitor.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from backend import procs, registry, states
from backend.area import Area
from backend.backoff import Backoff
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
    wait = Backoff(timeout, first=0.01, cap=0.2)
    while not wait.expired():
        if registry.read_server_id(path) != server_id:  # type: ignore[arg-type]
            return True
        wait.sleep()
    return registry.read_server_id(path) != server_id  # type: ignore[arg-type]


def stop_server(
    area: Area, settings: Settings, entry: registry.Entry, *, timeout: float = 15.0,
    allow_sigterm: bool = True, force: bool = False, kill_after: float = 5.0,
) -> StopResult:
    """Stop the server of ``entry`` and wait until its registration is gone.

    ``force``: when the server cannot be asked (it does not answer) or has not
    exited ``timeout`` s after being asked, SIGTERM it, SIGKILL it after
    ``kill_after`` s, and remove its registration (``force.py``)."""
    result = _ask_to_stop(area, settings, entry, timeout=timeout, allow_sigterm=allow_sigterm, force=force)
    if result.stopped or not force:
        return result
    from backend.client.force import force_stop

    result.stopped, outcome = force_stop(area, entry, kill_after)
    result.outcome = f"{outcome} ({result.outcome})"
    return result


def _ask_to_stop(
    area: Area, settings: Settings, entry: registry.Entry, *, timeout: float,
    allow_sigterm: bool, force: bool,
) -> StopResult:
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
        return _removed_if_gone(entry, result)
    asked = False
    not_ours = ""
    try:
        pong = conn.ping(settings.ping_timeout)
        if not pong.matches(reg.server_id):
            result.outcome = f"answers server-id {pong.server_id}, not {reg.server_id}: not stopped"
            return _removed_if_gone(entry, result)
        theirs = pong.meta.get("area")
        if theirs is not None and theirs != area.identity():
            # A registration copied from another area: its server is not ours to stop.
            result.outcome = "serves another area (a copied or forged registration): not stopped"
            return result
        confirmed = True
        if pong.sstate == states.SHUTTING_DOWN:
            sent = "already shutting down"
        else:
            token = protocol.auth_token(area.key(), reg.server_id, conn.nonce or "")
            resp = conn.request(protocol.Request("stop", None, [], {"auth": token}), settings.ping_timeout)
            if resp.status != protocol.OK:
                sent = f"stop refused ({resp.errmsg})"
                if resp.error_code in ("unauthorized", "wrong_area"):
                    # Our key is not its key: "not ours", so no SIGTERM fallback either.
                    not_ours = sent
            else:
                sent = "stop sent"
                asked = True
    except (TransportError, ProtocolError) as exc:
        sent = f"stop failed ({exc})"
    finally:
        conn.close()
    if not_ours:
        result.outcome = f"{not_ours}: not ours, not stopped"
        return result
    if not confirmed and _removed_if_gone(entry, result).stopped:
        return result
    if force and not asked and not confirmed:
        # It did not even answer a ping (frozen, wedged): waiting for it to act
        # on a stop it never got only delays the escalation.
        result.outcome = sent
        return result
    if _wait_gone(entry.path, reg.server_id, timeout):
        result.stopped, result.outcome = True, f"stopped ({sent})"
        return result
    if allow_sigterm and procs.terminate_if_ours(area.root, reg, confirmed):
        if _wait_gone(entry.path, reg.server_id, timeout):
            result.stopped, result.outcome = True, f"stopped by SIGTERM ({sent}, then no exit)"
            return result
    result.outcome = f"still registered after {timeout:g}s ({sent})"
    return result


def _removed_if_gone(entry: registry.Entry, result: StopResult) -> StopResult:
    """A server that did not confirm its server-id, in our own file (it names
    this host) whose process is gone: nothing is left to stop and the file is
    provably dead, so stopping it means removing it (``stop`` on a DEAD row)."""
    reg = entry.registration
    if reg.extras.get("hostname") and procs.locally_gone(reg):
        removed = registry.remove_if_owned(entry.path, reg.server_id)
        result.stopped = True
        result.outcome = f"not running (process {reg.pid} is gone); registration {'removed' if removed else 'gone'}"
    return result


def stop_servers(
    area: Area, settings: Settings, *, dbfname: str | None = None, server_id: str | None = None,
    timeout: float = 15.0, force: bool = False, kill_after: float = 5.0,
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
        return list(pool.map(
            lambda e: stop_server(area, settings, e, timeout=timeout, force=force, kill_after=kill_after),
            entries,
        ))
