"""A server's counters: collected on the hot path, sent by the ``stats`` command.

Invariant: counting is pure arithmetic on structures allocated when the server
starts (one ``_CommandCounter`` per known command, fixed-size bucket lists, an
outcome map with every possible outcome already in it); nothing on the request
path builds a dict, a list or a string. Only the event-loop thread touches the
request counters; the holder of the store owns ``DbCounters`` (int updates under the GIL;
a snapshot may be one batch behind, which a counter can afford).

``stats.py`` (core) is the reader of ``snapshot()``; keep the two in step.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from pathlib import Path
from typing import Any

from backend.stats import BATCH_BOUNDS, LATENCY_BOUNDS, STATS_VERSION
from backend.wire import protocol

# Outcomes a request can have: the non-error statuses, then every error code.
OUTCOMES = (protocol.OK, protocol.LOADED, protocol.BUSY, *protocol.ERROR_CODES)
PROTOCOL_COMMANDS = ("ping", "auth", "stop", "stats")
UNKNOWN_COMMAND = "(unknown)"  # a name we do not serve: counted together, so a
INVALID_REQUEST = "(invalid)"  # client cannot grow our maps with made-up names


class _CommandCounter:
    __slots__ = ("outcomes", "buckets", "sum_s")

    def __init__(self) -> None:
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)
        self.sum_s = 0.0

    def as_wire(self) -> dict[str, Any]:
        return {
            "outcomes": {k: n for k, n in self.outcomes.items() if n},
            "buckets": list(self.buckets),  # a copy: this request is counted before the answer is encoded
            "sum_s": self.sum_s,
        }


class DbCounters:
    """Written by whichever thread holds the store (``dbworker``): one
    ``count_batch`` per transaction."""

    __slots__ = ("commits", "batch_buckets")

    def __init__(self) -> None:
        self.commits = 0
        self.batch_buckets = [0] * (len(BATCH_BOUNDS) + 1)

    def count_batch(self, size: int) -> None:
        self.commits += 1
        self.batch_buckets[bisect_left(BATCH_BOUNDS, size)] += 1


class Counters:
    """Everything one server counts. The server calls ``count_request`` once per
    answered request, ``count_connection``/``connection_closed`` per connection,
    ``count_refused`` when it drops a connection for breaking the framing rules,
    and ``count_auth_failure``; sessions add to ``bytes_in``/``bytes_out``."""

    def __init__(self, command_names: list[str]) -> None:
        self._by_cmd = {name: _CommandCounter() for name in [*PROTOCOL_COMMANDS, *command_names]}
        self._unknown = self._by_cmd[UNKNOWN_COMMAND] = _CommandCounter()
        self._by_cmd[INVALID_REQUEST] = _CommandCounter()
        self.bytes_in = 0
        self.bytes_out = 0
        self.connections_open = 0
        self.connections_total = 0
        self.connections_refused = 0
        self.auth_failures = 0
        self.db = DbCounters()

    def count_request(self, cmd: str, answer: list[Any], elapsed: float) -> None:
        """One answered request: ``answer`` is its wire response, ``elapsed`` the
        seconds from dispatch to the answer being ready."""
        c = self._by_cmd.get(cmd, self._unknown)
        status = answer[0]
        if status == protocol.ERROR:
            errmsg = answer[1]
            # The code is the errmsg up to ": " (an error path: a split is affordable).
            status = errmsg.partition(":")[0] if isinstance(errmsg, str) else "bad_request"
        outcomes = c.outcomes
        if status in outcomes:
            outcomes[status] += 1
        else:
            outcomes["bad_request"] += 1
        c.buckets[bisect_left(LATENCY_BOUNDS, elapsed)] += 1
        c.sum_s += elapsed

    def count_connection(self) -> None:
        self.connections_open += 1
        self.connections_total += 1

    def connection_closed(self) -> None:
        self.connections_open -= 1

    def count_refused(self) -> None:
        self.connections_refused += 1

    def count_auth_failure(self) -> None:
        self.auth_failures += 1

    def snapshot(self, identity: dict[str, Any], inflight: int, db_path: Path | None,
                 now: float) -> dict[str, Any]:
        """The ``stats`` answer (see ``backend/stats.py`` for the shape)."""
        file_bytes, wal_bytes = _size(db_path), _size(db_path and db_path.with_name(db_path.name + "-wal"))
        started = float(identity["started"])
        return {
            "version": STATS_VERSION,
            **identity,
            "now": now,
            "uptime_s": max(now - started, 0.0),
            "inflight": inflight,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "connections": {
                "open": self.connections_open,
                "total": self.connections_total,
                "refused": self.connections_refused,
            },
            "auth_failures": self.auth_failures,
            "latency_bounds": list(LATENCY_BOUNDS),
            "commands": {
                name: c.as_wire() for name, c in self._by_cmd.items() if any(c.outcomes.values())
            },
            "db": {
                "commits": self.db.commits,
                "batch_bounds": list(BATCH_BOUNDS),
                "batch_buckets": list(self.db.batch_buckets),
                "file_bytes": file_bytes,
                "wal_bytes": wal_bytes,
            },
        }


def _size(path: Path | None) -> int:
    if path is None:
        return 0
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
