"""The client policy: discovery, server choice, retries, auto-start, ``Client.call``.

Blocking (a library call should not need an event loop). The bytes move
through ``backend.wire.connection``; this module decides whom to ask and
when to give up.

Rules (SPEC §6), and the Megatest bugs they fix:
- each candidate is pinged at most once per choice, with a per-attempt timeout
  (P5); the load used for the choice is that fresh ping's ``sload`` (P6);
- the ping's connection is kept and becomes the cached connection, so choosing
  a server costs no extra round trip;
- every loop is bounded by one deadline that ends in ``NoServerError`` naming
  the area, the db and the last failure (P7);
- write commands carry an idempotency key, so a retry after a lost answer
  cannot apply a write twice.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend import commandinfo, registry, rules, states
from backend.area import Area, dbfname_for_run_id
from backend.backoff import Backoff
from backend.config import Settings, load_settings
from backend.errors import (
    BackendError,
    ConfigError,
    NoServerError,
    ProtocolError,
    RemoteError,
    Timeout,
    TransportError,
)
from backend.wire import protocol
from backend.wire.connection import Connection, PingResult, ping

# The least time left in a call for which a ping is still worth sending.
MIN_PING_S = 0.02

# -- the client ------------------------------------------------------------------


Launch = Callable[[Area, str, Settings], Any]
# (dbfname, deadline, last failure) -> (a pinged connection or None, a server is
# starting, last failure). The default is ``Client._choose`` (registrations,
# concurrent pings); unit tests pass a fake to drive ``call`` without sockets.
Discover = Callable[[str, float, str], tuple[Connection | None, bool, str]]


def _default_launch(area: Area, dbfname: str, settings: Settings) -> Any:
    from backend.client.launcher import start_server

    return start_server(area, dbfname, settings)


def _early_exit(area: Area, dbfname: str, pid: int) -> str | None:
    from backend.client.launcher import early_exit

    return early_exit(area, dbfname, pid)


class Client:
    """Calls database commands on an area's servers, starting one when needed.

    ``Client(area).call("set-var", "color", "blue")``. One connection is cached
    per dbfname. Not thread-safe: use one Client per thread.
    """

    def __init__(
        self,
        area: Area | str | Path,
        settings: Settings | None = None,
        *,
        launch: Launch | None = _default_launch,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str], None] | None = None,
        discover: Discover | None = None,
    ) -> None:
        """``on_wait`` is told what a call waits for when it has to wait (a
        server starting); the CLI turns it into its progress line. ``clock``,
        ``sleep`` and ``discover`` are the seams for socket-free unit tests."""
        self.area = area if isinstance(area, Area) else Area.open(area)
        self._on_wait = on_wait
        self.settings = settings or load_settings(self.area.root)
        self._launch = launch
        self._clock, self._sleep = clock, sleep
        self._discover = discover or self._choose
        self._conns: dict[str, Connection] = {}
        self._key: bytes | None = None
        self._identity: str | None = None
        self.last_server: str | None = None
        # Set by _choose: another host's fresh registrations own the db (no start here).
        self._hold: Any = None
        # Registration name -> (server-id, until): servers whose ping timed out.
        self._suspects: dict[str, tuple[str, float]] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = self.area.key()
        return self._key

    @property
    def identity(self) -> str:
        """This area's identity (``Area.identity``), compared with each server's."""
        if self._identity is None:
            self._identity = self.area.identity()
        return self._identity

    # -- public API ----------------------------------------------------------

    def call(
        self,
        cmd: str,
        *params: Any,
        run_id: int | None = None,
        meta: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Any:
        """Run ``cmd`` on a server of the db that ``run_id`` maps to; return its result.

        Raises ``RemoteError`` for an ``error`` answer and ``NoServerError`` when no
        server could be reached or started before the deadline.
        """
        dbfname = dbfname_for_run_id(run_id, self.settings.num_run_dbs)
        meta = dict(meta or {})
        if commandinfo.is_write(cmd) and "idem" not in meta:
            # secrets.token_hex(16), without importing secrets (random, base64) into a CLI call
            meta["idem"] = os.urandom(16).hex()
        if deadline is not None and not (
            isinstance(deadline, (int, float)) and math.isfinite(deadline) and 0 < deadline <= 1e9
        ):
            # nan/inf/negative made a call that never returned (issue 12 item 9).
            raise ConfigError(f"deadline must be a finite number of seconds > 0, got {deadline!r}")
        budget = deadline if deadline is not None else self.settings.call_deadline
        end = self._clock() + budget
        attempt = 0
        retry: Backoff | None = None  # pauses after transport failures, made on the first
        last_failure = "no server answered"
        while True:
            attempt += 1
            conn = self._conns.get(dbfname) or self._connect(dbfname, end, last_failure, budget)
            if conn.backoff:
                self._sleep(min(0.01 * conn.backoff, 0.5))
            timeout = min(self.settings.request_timeout, max(end - self._clock(), 0.001))
            req = protocol.Request(cmd, run_id, list(params), meta or None)
            try:
                if not conn.authenticated:
                    req = self._authenticate(conn, req, timeout)
                resp = self._request(conn, req, timeout)
            except (TransportError, ProtocolError) as exc:
                self._drop(dbfname)
                last_failure = f"{conn.host}:{conn.port}: {exc}"
                if self._clock() >= end:
                    raise self._no_server(dbfname, last_failure, budget) from exc
                # A server that keeps closing on us must not be hammered.
                if retry is None:
                    retry = Backoff(end - self._clock(), first=0.01, cap=0.5, clock=self._clock, sleep=self._sleep)
                retry.sleep()
                continue
            if resp.status == protocol.OK:
                conn.backoff = max(conn.backoff - 1, 0)
                return resp.result
            if resp.status == protocol.LOADED:
                conn.backoff += 1
                return resp.result
            if resp.status == protocol.BUSY:
                raw = resp.result if isinstance(resp.result, (int, float)) else 0.1
                wait = max(float(raw), 0.0) + attempt / 10
                last_failure = f"{conn.host}:{conn.port} busy"
                if self._clock() + wait >= end:
                    raise self._no_server(dbfname, last_failure, budget)
                self._sleep(wait)
                continue
            code = resp.error_code or "error"
            message = (resp.errmsg or "").partition(":")[2].strip()
            if code == "unauthorized":
                self._drop(dbfname)
                raise RemoteError(code, f"the area key does not match the server's ({self.area.key_path})")
            if code == "shutting_down":
                # Not executed: safe to send to another server.
                self._drop(dbfname)
                last_failure = f"{conn.host}:{conn.port} shutting down"
                continue
            raise RemoteError(code, message)

    def _request(self, conn: Connection, req: protocol.Request, timeout: float) -> protocol.Response:
        """Send ``req`` and wait up to ``timeout`` for the answer, checking every
        ``ping-timeout`` that the server is still alive: a server that stops
        answering mid-request (frozen, wedged) does not hold the call for the
        whole request timeout. Its ping goes over a fresh connection, which the
        server's event loop answers even while its db thread is busy; no answer
        means the server is marked suspect and the call fails over (safe: reads,
        and writes carrying their idempotency key)."""
        conn.send(protocol.encode(req.to_wire()), timeout)
        end = self._clock() + timeout
        while True:
            left = end - self._clock()
            try:
                return conn.receive(max(min(self.settings.ping_timeout, left), 0.001))
            except Timeout:
                if self._clock() >= end:
                    raise
            probe = ping(conn.host, conn.port, self.settings.ping_timeout)
            if not probe.ok or (conn.server_id and probe.server_id != conn.server_id):
                for entry in registry.scan(self.area.servinfo_dir).entries:
                    if entry.registration.server_id == conn.server_id:
                        self._note_suspect(entry.registration)
                raise Timeout(f"{conn.host}:{conn.port} stopped answering ({probe.error or 'another server-id'})")

    def _authenticate(self, conn: Connection, req: protocol.Request, timeout: float) -> protocol.Request:
        """Make ``conn`` authenticated: inline with ``req`` when it fits the
        pre-authentication frame cap, else with a small ``auth`` request first
        (a large first request would be cut off by that cap)."""
        if not conn.server_id or not conn.nonce:
            raise ProtocolError("no nonce from the server's ping")
        token = protocol.auth_token(self.key, conn.server_id, conn.nonce)
        # "area" lets the server refuse a client of another area (wrong_area).
        if len(protocol.encode_request(req.to_wire(), conn.max_frame)) <= protocol.PRE_AUTH_MAX_FRAME - 256:
            req = protocol.Request(req.cmd, req.run_id, req.params,
                                   {**(req.meta or {}), "auth": token, "area": self.identity})
        else:
            auth = {"auth": token, "area": self.identity}
            resp = conn.request(protocol.Request("auth", None, [], auth), timeout)
            if resp.status != protocol.OK:
                raise RemoteError("unauthorized", f"the area key does not match the server's ({self.area.key_path})")
        conn.authenticated = True
        return req

    # -- discovery -----------------------------------------------------------

    def _drop(self, dbfname: str) -> None:
        conn = self._conns.pop(dbfname, None)
        if conn is not None:
            conn.close()

    def _no_server(self, dbfname: str, last_failure: str, budget: float) -> NoServerError:
        return NoServerError(
            f"no usable server for {dbfname} in area {self.area.root} within "
            f"{budget:g}s; last failure: {last_failure}"
        )

    def _connect(self, dbfname: str, end: float, last_failure: str, budget: float) -> Connection:
        # Wait for a registration to appear or come up: short doubling polls, not
        # Megatest's fixed 1-4 s sleeps. Capped at 50 ms: a new server is up
        # ~150-200 ms after its launch, and with a 250 ms cap the client noticed
        # it up to 130 ms late. A directory scan every 50 ms costs nothing.
        wait = Backoff(end - self._clock(), first=0.01, cap=0.05, clock=self._clock, sleep=self._sleep)
        launched: list[int] = []
        while True:
            found, starting, last_failure = self._discover(dbfname, end, last_failure)
            if found is not None:
                self._conns[dbfname] = found
                self.last_server = f"{found.host}:{found.port}"
                return found
            if self._hold is not None:
                last_failure = self._hold.message
                if self._hold.unreachable:  # waiting cannot help: say so now
                    raise NoServerError(f"{self._hold.message} (area {self.area.root})")
            for pid in launched:
                # A server we launched died before registering: its reason is the
                # error of this call, now (issue 12 item 5), not a deadline later.
                reason = _early_exit(self.area, dbfname, pid)
                if reason:
                    raise NoServerError(f"cannot start a server for {dbfname} in area "
                                        f"{self.area.root}: {reason}")
            if self._clock() >= end:
                raise self._no_server(dbfname, last_failure, budget)
            if not starting and self._launch is not None and self._hold is None:
                try:
                    outcome = self._launch(self.area, dbfname, self.settings)
                except ConfigError:
                    raise  # the area itself is unusable (cannot create .servinfo, ...): say so now
                except BackendError as exc:
                    last_failure = f"cannot start a server: {exc}"
                else:
                    launched_pid = getattr(outcome, "pid", None)
                    if isinstance(launched_pid, int):
                        launched.append(launched_pid)
                    if getattr(outcome, "started", False):
                        wait.reset()
                        if self._on_wait is not None:
                            self._on_wait(f"waiting for a new server for {dbfname} (pid {outcome.pid}) to start")
                    elif getattr(outcome, "reason", None) and last_failure == "no registration":
                        last_failure = f"no registration; start refused: {outcome.reason}"
            wait.sleep()

    def _choose(
        self, dbfname: str, end: float, last_failure: str
    ) -> tuple[Connection | None, bool, str]:
        """Ping the registrations concurrently; keep the connection of the least-loaded.

        Suspects (a ping of theirs timed out lately, here or in another process:
        ``suspects.py``) are pinged only when no other server is usable, so a
        frozen server costs later calls nothing.
        """
        from backend import procs

        self._hold = None
        scan = registry.scan(self.area.servinfo_dir, dbfname)
        entries = registry.newest_first(scan.entries)
        if not entries:
            return None, False, "no registration"
        now = time.time()
        unanswered: list[registry.Entry] = []  # did not answer their own server-id
        fresh: list[tuple[int, registry.Entry]] = []
        suspect: list[tuple[int, registry.Entry]] = []
        for order, entry in enumerate(entries):
            reg = entry.registration
            if procs.unreachable_from_here(reg):
                # A loopback address of another host: connecting would reach some
                # local process at best. Never pinged, removed only when stale.
                last_failure = f"{reg.name}: loopback address of host {reg.hostname}"
                unanswered.append(entry)
                self._maybe_remove(entry, now)
            elif procs.locally_gone(reg):
                last_failure = f"{reg.name}: process {reg.pid} is gone"
                unanswered.append(entry)
                self._maybe_remove(entry, now)
            elif self._is_suspect(reg, now):
                suspect.append((order, entry))
            else:
                fresh.append((order, entry))
        loads: list[tuple[int, int]] = []
        conns: dict[int, Connection] = {}
        starting = False
        for group in (fresh, suspect):
            if not group or loads:
                continue
            left = end - self._clock()
            if left < MIN_PING_S:
                # A ping cut to a few ms says nothing about the server, and its
                # "no answer" would replace the real last failure in the error.
                # Learning nothing, the call must not act either: no launch.
                starting = True
                break
            timeout = min(self.settings.ping_timeout, left)
            found, start_seen, last_failure = self._ping_group(group, timeout, now, unanswered, last_failure)
            starting = starting or start_seen
            for order, conn, load in found:
                loads.append((order, load))
                conns[order] = conn
        pick = rules.choose(loads)
        for order, conn in conns.items():
            if order != pick:
                conn.close()
        if pick is None and not starting:
            self._hold = procs.foreign_hold(
                registry.newest_first(unanswered), now, self.settings.stale_after
            )
        return (conns[pick] if pick is not None else None), starting, last_failure

    def _ping_group(
        self, group: list[tuple[int, registry.Entry]], timeout: float, now: float,
        unanswered: list[registry.Entry], last_failure: str,
    ) -> tuple[list[tuple[int, Connection, int]], bool, str]:
        """Ping ``group`` at once; (order, connection, load) of each usable server."""
        from backend.wire.pingall import ping_all

        probes = ping_all(
            [(e.registration.host, e.registration.port) for _, e in group], timeout,
            usable=lambda i, res: rules.usable(group[i][1], res) and self._our_area(res),
            max_frame=self.settings.max_frame,
            clock=self._clock,
        )
        found: list[tuple[int, Connection, int]] = []
        starting = False
        for (order, entry), probe in zip(group, probes, strict=True):
            reg = entry.registration
            res = probe.result
            if res is None:  # still unanswered when a usable server had answered
                continue
            if probe.timed_out:
                self._note_suspect(reg)
            if not res.ok:
                last_failure = f"{reg.name}: {res.error}"
                unanswered.append(entry)
                self._maybe_remove(entry, now)
                continue
            self._clear_suspect(reg)
            conn = probe.conn
            assert conn is not None
            if not res.matches(reg.server_id):
                conn.close()
                last_failure = f"{reg.name}: answers server-id {res.server_id}, not {reg.server_id}"
                unanswered.append(entry)
                self._maybe_remove(entry, now)
                continue
            if not self._our_area(res):
                # A copied (cp -a) or forged registration: a live server of another
                # area. Skipped: never removed, never signalled, never authenticated to.
                conn.close()
                last_failure = f"{reg.name}: serves another area"
                continue
            if res.sstate != states.RUNNING:
                conn.close()
                starting = starting or res.sstate == states.STARTING
                last_failure = f"{reg.name}: {res.sstate}"
                continue
            if not rules.usable(entry, res):
                conn.close()
                continue
            found.append((order, conn, rules.load_of(res)))
        return found, starting, last_failure

    def _our_area(self, res: PingResult) -> bool:
        """Does a ping answer come from a server of this area (``Area.identity``)?
        Servers that do not say (written to the SPEC alone) are taken as ours."""
        theirs = res.meta.get("area")
        return theirs is None or theirs == self.identity

    # -- suspects (a ping of theirs timed out lately) ----------------------

    def _is_suspect(self, reg: registry.Registration, now: float) -> bool:
        from backend import suspects

        until = self._suspects.get(reg.name)
        if until is not None and until[0] == reg.server_id and now < until[1]:
            return True
        return suspects.is_suspect(self.area.servinfo_dir, reg, now)

    def _note_suspect(self, reg: registry.Registration) -> None:
        from backend import suspects

        self._suspects[reg.name] = (reg.server_id, time.time() + self.settings.suspect_ttl)
        suspects.mark(self.area.servinfo_dir, reg, self.settings.suspect_ttl)

    def _clear_suspect(self, reg: registry.Registration) -> None:
        from backend import suspects

        if self._suspects.pop(reg.name, None) is not None or suspects.note_path(
            self.area.servinfo_dir, reg
        ).exists():
            suspects.clear(self.area.servinfo_dir, reg)

    def _maybe_remove(self, entry: registry.Entry, now: float) -> None:
        # The provably-dead rule: failed ping AND mtime stale for stale-after.
        if registry.is_stale(entry, now, self.settings.stale_after) and registry.remove_dead(entry):
            from backend import events  # logging: only when there is something to record

            events.record_event(
                self.area, events.MARKED_DEAD, dbfname=entry.registration.dbfname, name=entry.name,
                pid=entry.registration.pid, by="client",
            )
