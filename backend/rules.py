"""The lifecycle rules (SPEC §2, §4, §6) as pure functions over what a scanner saw.

No I/O, no clock, no sockets: ``server.server`` and ``client.client`` gather the facts
(a scan, one ping per entry, ``time.time()``) and ask these functions what to
do, and the property tests (tests/faults/test_lifecycle_model.py) drive the
same functions over a fake clock and a fake filesystem. Keeping one copy of
each rule is the point: the model cannot drift from the product.

A "ping" here is anything with ``matches(server_id) -> bool``, ``sstate`` and
``sload`` (``backend.wire.connection.PingResult``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from backend import registry, states

NO_LOAD = 99999  # a server that did not report its load sorts last


class PingLike(Protocol):
    @property
    def sstate(self) -> str | None: ...

    @property
    def sload(self) -> int | None: ...

    def matches(self, server_id: str) -> bool: ...


def alive(entry: registry.Entry, ping: PingLike) -> bool:
    """A good server: it answered with the file's server-id and is not going away."""
    return ping.matches(entry.registration.server_id) and ping.sstate in (
        states.RUNNING, states.STARTING,
    )


def provably_dead(entry: registry.Entry, ping: PingLike, now: float, stale_after: float) -> bool:
    """SPEC §2: the ping failed or answered another server-id, AND the mtime has not
    advanced for ``stale_after`` seconds as seen by the remover. A server that
    answers its own server-id (even while shutting down) is never provably dead."""
    return not ping.matches(entry.registration.server_id) and registry.is_stale(
        entry, now, stale_after
    )


def startup_scan(
    entries: Sequence[registry.Entry], pings: Sequence[PingLike], now: float, stale_after: float
) -> tuple[list[registry.Entry], list[registry.Entry]]:
    """(good servers, files to remove) of a start-up scan; ``entries`` newest first.

    Every entry is judged (Megatest stopped scanning after its first removal: P3).
    """
    good: list[registry.Entry] = []
    dead: list[registry.Entry] = []
    for entry, ping in zip(entries, pings, strict=True):
        if alive(entry, ping):
            good.append(entry)
        elif provably_dead(entry, ping, now, stale_after):
            dead.append(entry)
    return good, dead


def startup_refusal(good_count: int, max_servers: int) -> str | None:
    """Why a starting server must not register (enough good servers), or None."""
    if good_count > max_servers - 1:
        return f"Have {good_count}, no need for more, exiting."
    return None


def newer_than(entries: Sequence[registry.Entry], server_id: str) -> list[registry.Entry]:
    """The entries ahead of ``server_id`` in newest-first order (all, if it is absent)."""
    out: list[registry.Entry] = []
    for e in entries:
        if e.registration.server_id == server_id:
            break
        out.append(e)
    return out


def outranked(newer_alive: int, max_servers: int) -> bool:
    """Megatest's newest-first rotation: retire when more than max-servers - 1 newer
    servers are alive."""
    return newer_alive > max_servers - 1


def registration_problem(file_server_id: str | None, my_server_id: str) -> str | None:
    """The heartbeat self-check: why a server must exit given what its file names."""
    if file_server_id is None:
        return "registration file gone"
    if file_server_id != my_server_id:
        return "registration file replaced"
    return None


def idle_expired(inflight: int, idle_for: float, idle_timeout: float) -> bool:
    return inflight == 0 and idle_for >= idle_timeout


def usable(entry: registry.Entry, ping: PingLike) -> bool:
    """A server a client may send work to: its own server-id, state running."""
    return ping.matches(entry.registration.server_id) and ping.sstate == states.RUNNING


def load_of(ping: PingLike) -> int:
    return ping.sload if ping.sload is not None else NO_LOAD


def choose(loads: Sequence[tuple[int, int]]) -> int | None:
    """Client choice among usable servers given as (order, load) with order the
    newest-first position: the lowest load, ties to the newest. Returns an order."""
    best: tuple[int, int] | None = None
    for order, load in loads:
        if best is None or (load, order) < (best[1], best[0]):
            best = (order, load)
    return None if best is None else best[0]
