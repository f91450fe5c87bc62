"""Who may hold a connection to a server: caps on connections before and after
authentication (issue 12 item 1). Pure bookkeeping, no sockets: the server asks
``admit`` for each accepted connection and closes what it is told to.

Without caps, anyone who can reach the port (no key needed) could hold every
file descriptor of the server with idle connections, and then no client could
connect. The rules:

- at most ``max_total`` connections in all, below the fd limit so that the
  registration, the db files and the log always find an fd;
- at most ``max_unauth`` connections that have not authenticated, and at most
  ``max_unauth_per_peer`` of them from one peer address (not for loopback peers:
  every local user is 127.0.0.1, so there a per-peer cap is only a lower total);
- when a cap is exceeded, the OLDEST unauthenticated connections that have sent
  nothing yet are dropped, then the oldest that have: a legitimate client pings
  at once and authenticates within a round trip of connecting, so it is among
  the newest and never silent; an idle flood only pushes out itself;
- the unauthenticated caps act a moment after they are exceeded (``excess``,
  ``SWEEP_DELAY``), the total cap at once (``admit``); only when every
  connection is authenticated (each one holds the key) is a new one refused.

A connection that does not authenticate within ``auth-deadline`` seconds is
closed by its session (``Session.serve``), so even below the caps an idle flood
does not last.
"""

from __future__ import annotations

import collections
import resource
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

ACCEPT_BATCH = 32
"""Connections accepted per loop wakeup (asyncio's ``backlog``)."""
RESERVED_FDS = 64 + 3 * ACCEPT_BATCH
"""fds kept free of connections: stdio, log, registration (touch, verify), the db
with its -wal/-shm/-journal, the rank check's pings, the launcher's pipes; and
accept batches: a batch's fds exist before the connections it pushes out are
closed (one loop iteration later), and the sweep may lag by another batch."""
MAX_UNAUTH = 4096
"""Idle connections cost the server a few kB each; what they must not take is the
fds. Evicting early gains nothing while fds are plentiful: the flood reconnects at
once, and that churn (accepts, a full accept queue, SYN retries of 1 s for everyone)
hurts legitimate clients more than idle sockets do. The auth deadline ends them."""
NOFILE_CEILING = 1 << 20
LISTEN_BACKLOG = 4096
"""The kernel's queue of connections not yet accepted."""
SWEEP_DELAY = 0.05
"""Seconds between exceeding an unauthenticated cap and enforcing it: a few
loop iterations, enough for connections accepted in one batch to be read."""

C = TypeVar("C", bound=Hashable)


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (a server must not keep the
    1024 it may inherit from a shell); returns the (soft, hard) now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = NOFILE_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def caps_for(fd_limit: int) -> tuple[int, int, int]:
    """(max_total, max_unauth, max_unauth_per_peer) for a soft fd limit."""
    total = max(fd_limit - RESERVED_FDS, 8)
    unauth = max(min(MAX_UNAUTH, total // 2), 4)
    return total, unauth, max(unauth // 2, 2)


@dataclass
class Admission(Generic[C]):
    """The connection table of one server, unauthenticated ones oldest first."""

    max_total: int
    max_unauth: int
    max_unauth_per_peer: int
    _all: set[C] = field(default_factory=set)
    _unauth: collections.OrderedDict[C, str] = field(default_factory=collections.OrderedDict)
    _spoke: set[C] = field(default_factory=set)
    _per_peer: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def total(self) -> int:
        return len(self._all)

    @property
    def unauthenticated(self) -> int:
        return len(self._unauth)

    def admit(self, conn: C, peer: str) -> tuple[bool, list[C]]:
        """A new (unauthenticated) connection from ``peer`` ("" for loopback, which
        no per-peer cap applies to): (admitted, connections
        to close now). Only the hard cap (``max_total``) acts here; not admitted:
        close ``conn`` itself. The unauthenticated caps act in ``excess``."""
        drop: list[C] = []
        if self.total >= self.max_total:
            drop = self._oldest_unauth(1, set())
            if not drop:
                return False, drop
            self.closed(drop[0])
        self._all.add(conn)
        self._unauth[conn] = peer
        if peer:
            self._per_peer[peer] += 1
        return True, drop

    @property
    def over(self) -> bool:
        """Are the unauthenticated caps exceeded (``excess`` has work)?"""
        return len(self._unauth) > self.max_unauth or (
            bool(self._per_peer) and max(self._per_peer.values()) > self.max_unauth_per_peer
        )

    def excess(self) -> list[C]:
        """The unauthenticated connections to close now to get back under the caps
        (forgotten here already). Called a moment after the caps were exceeded,
        not at accept: a whole backlog of connections is accepted in one loop
        iteration, before any of them has been read, and a legitimate client
        among them must have had the chance to send its ping."""
        drop: set[C] = set()
        for peer, n in list(self._per_peer.items()):
            if n > self.max_unauth_per_peer:
                drop.update(self._oldest_unauth(n - self.max_unauth_per_peer, drop, peer))
        n = len(self._unauth) - len(drop) - self.max_unauth
        if n > 0:
            drop.update(self._oldest_unauth(n, drop))
        for c in drop:
            self.closed(c)
        return list(drop)

    def spoke(self, conn: C) -> None:
        """``conn`` sent a whole frame (dropped after the silent ones)."""
        if conn in self._unauth:
            self._spoke.add(conn)

    def authenticated(self, conn: C) -> None:
        peer = self._unauth.pop(conn, None)
        self._spoke.discard(conn)
        if peer is not None:
            self._uncount(peer)

    def closed(self, conn: C) -> None:
        """``conn`` is gone (idempotent: a dropped connection also closes later)."""
        self._all.discard(conn)
        self._spoke.discard(conn)
        if conn in self._unauth:
            self._uncount(self._unauth.pop(conn))

    def _oldest_unauth(self, n: int, skip: set[C], peer: str | None = None) -> list[C]:
        """Up to ``n`` unauthenticated connections to drop: silent ones first,
        oldest first (optionally only those of ``peer``)."""
        out: list[C] = []
        for silent in (True, False):
            for c, p in self._unauth.items():
                if len(out) == n:
                    return out
                if (c in self._spoke) != silent and c not in skip and (peer is None or p == peer):
                    out.append(c)
        return out

    def _uncount(self, peer: str) -> None:
        if not peer:
            return
        self._per_peer[peer] -= 1
        if self._per_peer[peer] <= 0:
            del self._per_peer[peer]
