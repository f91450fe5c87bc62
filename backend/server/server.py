"""One database server process: serves exactly one dbfname of one area.

Lifecycle (SPEC §4; Megatest's log messages kept, tests grep for them):

    start-up scan -> bind -> open db -> publish + verify -> RUNNING
    RUNNING: every heartbeat touch the file, self-check, rank check, idle check
    stop / SIGTERM / SIGINT / idle / rank / file gone -> SHUTTING-DOWN
    SHUTTING-DOWN: refuse new work, drain in-flight (bounded), close db,
                   remove our file only if it still names us, exit 0

Connections (``session.Session``) are pipelined: requests are dispatched as they are
read, database calls go to the db thread, and responses are written strictly
in request order. ``sload`` counts database requests in flight (pings never
count, and never keep a server from idling out: a monitor pinging every 2 s
must not keep servers alive forever).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from backend import events, procs, registry, rules, states
from backend.area import Area, dbfname_for_run_id
from backend.backoff import Backoff
from backend.config import Settings
from backend.db import api
from backend.db.commands.servers import SERVER_COMMANDS
from backend.db.store import Call, Outcome, Store
from backend.errors import BackendError, CommandError, ConfigError, RegistryError
from backend.server import admission
from backend.server.counters import INVALID_REQUEST, Counters
from backend.server.dbworker import DbWorker
from backend.server.ratelimit import RateLimit
from backend.server.session import Answer, PendingAnswer, Session
from backend.wire import protocol
from backend.wire.connection import PingResult, aping

log = logging.getLogger("backend.server")

ScaleOut = Callable[[Area, str, Settings], str]
"""Start one more server for (area, dbfname) and say what came of it.

Injected by whoever starts the server process (the CLI, the supervisor) with
the client side's launcher: the server layer may not import the client side.
"""

# EXIT_DECLINED: start-up rules said no (enough servers, wrong host): not a crash.
EXIT_OK, EXIT_FAILED, EXIT_DECLINED = states.EXIT_OK, states.EXIT_FAILED, states.EXIT_DECLINED


class Server:
    def __init__(
        self, area: Area, dbfname: str, settings: Settings, *, scale_out: ScaleOut | None = None
    ) -> None:
        self.area = area
        self._db_dir = area.db_dir  # once: a Path join per request showed in the profile
        self._scale_out = scale_out
        self.dbfname = dbfname
        self.settings = settings
        self.server_id = secrets.token_hex(16)
        self.state = states.STARTING
        self.pid = os.getpid()
        self.started = time.time()
        self.inflight = 0
        self.last_request = time.monotonic()
        self.host = settings.host
        self.port = 0
        self.key: bytes = b""
        self.identity = ""  # Area.identity: which area this server serves
        self.reg_path: Path | None = None
        self.exit_reason = ""
        self._stop = asyncio.Event()
        self._drained = asyncio.Event()
        self._sessions: set[Session] = set()
        self._db: DbWorker | None = None
        self._more_requested_at = 0.0
        self._emfile_logged_at = -1e9
        self.counters = Counters(sorted(api.COMMANDS))
        fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._sweep_pending = False
        self.admission: admission.Admission[Session] = admission.Admission(*admission.caps_for(
            fd_limit if fd_limit != resource.RLIM_INFINITY else admission.NOFILE_CEILING
        ))

    # -- public --------------------------------------------------------------

    def request_shutdown(self, reason: str) -> None:
        if not self._stop.is_set():
            self.exit_reason = reason
            log.info("shutdown requested: %s", reason)
            self._stop.set()

    def meta(self) -> dict[str, Any]:
        return {"sstate": self.state, "sload": self.inflight}

    def call_finished(self) -> None:
        """One dispatched db call answered: a draining shutdown may go on when none is left."""
        self.inflight -= 1
        if not self.inflight:
            self._drained.set()

    def stats(self) -> dict[str, Any]:
        """The ``stats`` answer: counters plus who we are (``backend/stats.py``)."""
        identity = {
            "server_id": self.server_id, "dbfname": self.dbfname, "pid": self.pid,
            "host": self.host, "port": self.port, "hostname": procs.this_hostname(),
            "state": self.state, "started": self.started,
        }
        return self.counters.snapshot(
            identity, self.inflight, self.area.db_path(self.dbfname), time.time()
        )

    async def run(self) -> int:
        """The whole life of the server; returns the process exit code."""
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            loop.add_signal_handler(sig, self.request_shutdown, name)
        self.area.ensure_dirs()
        self._check_bind_allowed()
        self.key = self.area.key()
        self.identity = self.area.identity()
        declined = await self._startup_scan()
        if declined:
            log.info("%s", declined)
            events.record_event(self.area, events.DECLINED, dbfname=self.dbfname, pid=self.pid,
                                why=declined)
            return EXIT_DECLINED
        # asyncio accepts up to ``backlog`` connections per wakeup, all before any
        # of them is read or any dropped one's fd is released. A small batch lets a
        # client's ping be read (and evicted fds be freed) between batches; the
        # kernel's queue is then made long again (admission.LISTEN_BACKLOG).
        listener = await loop.create_server(
            lambda: Session(self), self.settings.host, self.settings.port or 0,
            reuse_address=True, backlog=admission.ACCEPT_BATCH,
        )
        for tsock in listener.sockets:
            with tsock.dup() as sock:
                sock.listen(admission.LISTEN_BACKLOG)  # the kernel clamps it to somaxconn
        self.port = listener.sockets[0].getsockname()[1]
        try:
            self._db = DbWorker(loop, self._open_store, counters=self.counters.db)
            await loop.run_in_executor(None, self._db.start)
            log.info("Creating servinfo file for %s", self.dbfname)
            self.reg_path = registry.publish(self.area.servinfo_dir, self._registration())
            if not await self._verify_visible():
                log.warning("WARNING: file %s was not created.", self.reg_path)
                self.exit_reason = "registration never became visible"
                return await self._shutdown(listener, EXIT_FAILED)
            self.state = states.RUNNING
            log.info(
                "Starting on host %s, serving %s on %s:%d as %s (journal %s)",
                procs.this_hostname(), self.dbfname, self.host, self.port, self.server_id,
                self._db.journal_mode,
            )
            events.record_event(
                self.area, events.STARTED, dbfname=self.dbfname, pid=self.pid,
                server=f"{self.host}:{self.port}", server_id=self.server_id,
            )
            await self._keep_running()
            return await self._shutdown(listener, EXIT_OK)
        except BaseException:
            await self._shutdown(listener, EXIT_FAILED)
            raise

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # Out of fds, asyncio's accept loop reports EMFILE once per backlog slot
        # (1024 tracebacks per retry, tens of thousands a second). One line per
        # 10 s says the same; accepting resumes by itself when fds free up.
        message = str(context.get("message", ""))
        if "_start_serving" in message and isinstance(context.get("exception"), ValueError):
            # The accept retries that EMFILE scheduled (one per backlog slot) firing
            # after the listener closed at shutdown: nothing to serve any more.
            return
        if "out of system resource" in message:
            now = time.monotonic()
            if now - self._emfile_logged_at >= 10.0:
                self._emfile_logged_at = now
                log.warning("WARNING: cannot accept connections: %s", context.get("exception"))
            return
        loop.default_exception_handler(context)

    # -- start-up --------------------------------------------------------------

    def _check_bind_allowed(self) -> None:
        host = self.settings.host
        if procs.is_wildcard_address(host):
            raise ConfigError(
                f"refusing to bind {host}: a registration must name an address clients "
                f"can connect to; use this host's routable address"
            )
        if procs.is_loopback(host):
            return
        if self.area.read_key() is None:
            raise ConfigError(
                f"refusing to bind {host} (not loopback) without an area key: "
                f"create {self.area.key_path} first"
            )

    def _open_store(self) -> Store:
        return Store(
            self.area.db_path(self.dbfname),
            journal_mode=self.settings.journal_mode,
            busy_timeout=self.settings.db_busy_timeout,
        )

    async def _ping_entries(self, entries: list[registry.Entry]) -> list[PingResult]:
        return list(
            await asyncio.gather(
                *(
                    aping(e.registration.host, e.registration.port, self.settings.ping_timeout)
                    for e in entries
                )
            )
        )

    async def _startup_scan(self) -> str | None:
        """Megatest's start-up checks, with its scan-stops-after-delete bug fixed.

        Returns the reason to exit without registering, or None to go on.
        """
        entries = registry.newest_first(
            registry.scan(self.area.servinfo_dir, self.dbfname).entries
        )
        results = await self._ping_entries(entries)
        now = time.time()
        good, dead = rules.startup_scan(entries, results, now, self.settings.stale_after)
        if registry.remove_stale_temp_files(self.area.servinfo_dir, now, self.settings.stale_after):
            log.info("removed temp files left by publishers killed mid-publish")
        for entry in dead:  # all of them: Megatest stopped after the first (P3)
            if registry.remove_dead(entry):
                log.info("removed dead registration %s", entry.name)
                events.record_event(
                    self.area, events.MARKED_DEAD, dbfname=self.dbfname, name=entry.name,
                    pid=entry.registration.pid, by="server start-up scan", remover_pid=self.pid,
                )
        if not good:
            hold = procs.foreign_hold(
                [e for e, r in zip(entries, results, strict=True)
                 if not r.matches(e.registration.server_id)],
                now, self.settings.stale_after,
            )
            if hold is not None:  # docs/multi-host.md: a fresh foreign file holds the db
                return (
                    f"Prime main server is on host {hold.hostname}, but we are on host "
                    f"{procs.this_hostname()}, exiting: {hold.message}"
                )
            log.info("No servers yet, starting on %s", procs.this_hostname())
            return None
        refusal = rules.startup_refusal(len(good), self.settings.max_servers)
        if refusal:
            return refusal
        home = procs.host_identity(good[-1].registration)  # the oldest good server
        if home != procs.this_hostname():
            return (
                f"Prime main server is on host {home}, but we are on host "
                f"{procs.this_hostname()}, exiting."
            )
        log.info("Starting on host %s, along with %d other servers.", home, len(good))
        return None

    def _registration(self) -> registry.Registration:
        extras = {
            "hostname": procs.this_hostname(),
            "proc-start": f"{psutil.Process().create_time():.3f}",
            "user": _username(),
        }
        return registry.Registration(
            self.host, self.port, self.started, self.server_id, self.pid, self.dbfname, extras
        )

    async def _verify_visible(self) -> bool:
        """Slow shared filesystems (NFS, WSL) may not show a new file at once (P1)."""
        assert self.reg_path is not None
        wait = Backoff(self.settings.registration_visible_timeout, first=0.01, cap=1.0)
        while registry.read_server_id(self.reg_path) != self.server_id:
            if wait.expired():
                return False
            log.warning(
                "WARNING: file %s was created but it doesn't show up on disk! We'll try again.",
                self.reg_path,
            )
            await wait.asleep()
        return True

    # -- running -----------------------------------------------------------------

    async def _keep_running(self) -> None:
        s = self.settings
        while not self._stop.is_set():
            idle_left = s.idle_timeout - (time.monotonic() - self.last_request)
            try:
                await asyncio.wait_for(self._stop.wait(), max(min(s.heartbeat, idle_left), 0.01))
                return
            except TimeoutError:
                pass
            if not self._check_registration():
                return
            if await self._outranked():
                self.request_shutdown("rank")
                return
            if rules.idle_expired(
                self.inflight, time.monotonic() - self.last_request, s.idle_timeout
            ):
                log.info("INFO: Server timed out, exiting from tt:keep-running.")
                self.request_shutdown("idle timeout")
                return

    def _check_registration(self) -> bool:
        assert self.reg_path is not None
        sid = registry.read_server_id(self.reg_path)
        if sid is None and _out_of_resources(self.reg_path):
            # Out of file descriptors (or memory) right now: that says nothing
            # about our file, and is no reason to exit (fd exhaustion test).
            log.warning("WARNING: cannot read %s now (out of resources)", self.reg_path.name)
            return True
        problem = rules.registration_problem(sid, self.server_id)
        if problem:
            if sid is None:
                log.warning("WARNING: Apparently I don't exist.")
            else:
                log.warning("WARNING: my registration file now names server-id %s, exiting.", sid)
            self.request_shutdown(problem)
            return False
        try:
            registry.touch(self.reg_path)
        except OSError as exc:
            log.warning("WARNING: cannot touch %s: %s", self.reg_path, exc)
        return True

    async def _outranked(self) -> bool:
        """Megatest's newest-first rotation: retire when more than max-servers - 1
        *newer* servers are alive (dead newer files, pinged, do not count)."""
        try:
            scanned = registry.scan(self.area.servinfo_dir, self.dbfname).entries
        except RegistryError as exc:
            # e.g. EMFILE: a directory we cannot list right now is no reason to exit.
            log.warning("WARNING: rank check skipped: %s", exc)
            return False
        newer = rules.newer_than(registry.newest_first(scanned), self.server_id)
        if not rules.outranked(len(newer), self.settings.max_servers):
            return False
        results = await self._ping_entries(newer)
        alive = sum(1 for e, r in zip(newer, results, strict=True) if rules.alive(e, r))
        if rules.outranked(alive, self.settings.max_servers):
            log.warning(
                "WARNING: there are more than three servers ahead of me, I'm not needed, exiting."
            )
            return True
        return False

    def request_more_servers(self) -> None:
        """Load-driven scale-out, throttled here and again (area-wide) by the launcher."""
        now = time.monotonic()
        if now - self._more_requested_at < self.settings.start_throttle:
            return
        self._more_requested_at = now
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, self._start_one_more)

    def _start_one_more(self) -> None:
        if self._scale_out is None:
            log.info("load calls for another server, but this server cannot start one")
            return
        try:
            reason = self._scale_out(self.area, self.dbfname, self.settings)
        except BackendError as exc:
            log.warning("could not request another server: %s", exc)
            return
        log.info("Processing 1 server start requests: %s", reason)

    # -- shutdown -------------------------------------------------------------------

    async def _shutdown(self, listener: asyncio.Server, code: int) -> int:
        self.state = states.SHUTTING_DOWN
        listener.close()
        end = time.monotonic() + self.settings.drain_timeout
        if self.inflight:
            self._drained.clear()
            try:
                await asyncio.wait_for(self._drained.wait(), self.settings.drain_timeout)
            except TimeoutError:
                pass
        if self.inflight:
            log.warning("gave up waiting for %d in-flight requests", self.inflight)
        for session in list(self._sessions):
            await session.finish(max(end - time.monotonic(), 0.1))
        if self._db is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._db.stop)
        if self.reg_path is not None and registry.remove_if_owned(self.reg_path, self.server_id):
            log.info("removed %s", self.reg_path.name)
        log.info("Exiting now (%s).", self.exit_reason or "error")
        events.record_event(
            self.area, events.RETIRED, dbfname=self.dbfname, pid=self.pid,
            server=f"{self.host}:{self.port}", server_id=self.server_id,
            why=retire_why(self.exit_reason), detail=self.exit_reason or "error", code=code,
        )
        return code

    # -- connections ------------------------------------------------------------------

    def session_opened(self, session: Session) -> bool:
        """Admission for a new connection: False when it may not stay."""
        transport = session.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        address = str(peer[0]) if peer else ""
        admitted, drop = self.admission.admit(
            session, "" if procs.is_loopback_address(address) else address
        )
        for old in drop:  # the oldest unauthenticated connection makes room
            old.abort()
        if self.admission.over and not self._sweep_pending:
            self._sweep_pending = True
            asyncio.get_running_loop().call_later(admission.SWEEP_DELAY, self._sweep)
        if not admitted:  # every connection is authenticated and the table is full
            log.warning("WARNING: refusing a connection: %d connections open",
                        self.admission.total, extra={"rate_limited": True})
            return False
        self._sessions.add(session)
        self.counters.count_connection()
        return True

    def session_closed(self, session: Session) -> None:
        self._sessions.discard(session)
        self.counters.connection_closed()
        self.admission.closed(session)

    def _sweep(self) -> None:
        self._sweep_pending = False
        for old in self.admission.excess():
            old.abort()

    def dispatch(self, session: Session, obj: Any) -> Answer:
        """One decoded request -> a response (now) or a future response.

        Every answered request is counted once: here when the answer is
        immediate, in ``_respond_later`` when the db thread gives it."""
        t0 = time.perf_counter()
        try:
            req = protocol.parse_request(obj)
        except CommandError as exc:
            answer = protocol.error_wire(exc.code, exc.message, self.meta())
            self.counters.count_request(INVALID_REQUEST, answer, time.perf_counter() - t0)
            return answer
        if req.cmd == "ping":
            self.counters.count_request("ping", _PING_OK, time.perf_counter() - t0)
            return self._ping_frame(session)
        result = self._answer(session, req, t0)
        if type(result) is list:
            self.counters.count_request(req.cmd, result, time.perf_counter() - t0)
        return result

    def _ping_frame(self, session: Session) -> bytes:
        """The ping answer, encoded: kept per session while state and load stay the
        same (a monitor or a load balancer pings one connection over and over;
        building and encoding the 7-entry map was most of a ping's own cost)."""
        key = (self.state, self.inflight)
        cached = session.ping_frame
        if cached is not None and cached[0] == key:
            return cached[1]
        frame = protocol.encode(protocol.ok_wire(self.server_id, {
            "sstate": self.state, "sload": self.inflight, "nonce": session.nonce,
            "dbfname": self.dbfname, "pid": self.pid, "started": self.started,
            "area": self.identity,
        }))
        session.ping_frame = (key, frame)
        return frame

    def _answer(
        self, session: Session, req: protocol.Request, t0: float
    ) -> Answer:
        if req.meta and "area" in req.meta and req.meta["area"] != self.identity:
            # A client of another area (a copied or forged registration led it here).
            return protocol.error_wire(
                "wrong_area", "this server serves another area; rescan .servinfo", self.meta()
            )
        if not session.authenticated:
            token = req.meta.get("auth") if req.meta else None
            if not protocol.check_auth(self.key, self.server_id, session.nonce, token):
                self.counters.count_auth_failure()
                return protocol.error_wire("unauthorized", "", self.meta())
            session.authenticate()
        if req.cmd == "auth":
            # Authenticate only: lets a client whose first real request is
            # larger than the pre-authentication frame cap send it next.
            return protocol.ok_wire(True, self.meta())
        if req.cmd == "stats":
            # Before the state check: a draining server's counters are worth reading.
            return protocol.ok_wire(self.stats(), self.meta())
        if self.state != states.RUNNING:
            return protocol.error_wire("shutting_down", f"server is {self.state}", self.meta())
        if req.cmd == "stop":
            self.request_shutdown("stop command")
            return protocol.ok_wire(True, self.meta())
        if req.cmd in SERVER_COMMANDS:
            return self._server_command(req)
        try:
            command = api.lookup(req.cmd)
            self._check_run_id(req.run_id)
        except CommandError as exc:
            return protocol.error_wire(exc.code, exc.message, self.meta())
        self.last_request = time.monotonic()
        if self.inflight >= self.settings.busy_threshold:
            self.request_more_servers()
            wait = round(0.1 * (self.inflight - self.settings.busy_threshold + 1), 3)
            return protocol.busy_wire(wait, self.meta())
        loaded = self.inflight >= self.settings.loaded_threshold
        if loaded:
            self.request_more_servers()
        idem = req.meta.get("idem") if req.meta else None
        if idem is not None and (not isinstance(idem, str) or not 0 < len(idem) <= 128):
            return protocol.error_wire("bad_request", "meta idem must be a short string", self.meta())
        assert self._db is not None
        ctx = api.CallContext(
            req.run_id, self.dbfname, self.settings.num_run_dbs, self._db_dir
        )
        self.inflight += 1
        out, done = _respond_later(self, protocol.LOADED if loaded else protocol.OK, req.cmd, t0)
        self._db.submit(Call(command, ctx, req.params, idem), done)
        return out

    def _server_command(self, req: protocol.Request) -> list[Any]:
        """api.scm's kill-server and start-server (see db/commands/servers.py)."""
        if req.params:
            return protocol.error_wire("bad_request", f"{req.cmd} takes no params", self.meta())
        if req.cmd == "kill-server":
            self.request_shutdown("kill-server command")
            return protocol.ok_wire(True, self.meta())
        # start-server: this server is the running one the caller asked for.
        answer = {
            "started": False, "server_id": self.server_id, "pid": self.pid,
            "dbfname": self.dbfname, "reason": f"a server of {self.dbfname} is running",
        }
        return protocol.ok_wire(answer, self.meta())

    def _check_run_id(self, run_id: int | None) -> None:
        want = dbfname_for_run_id(run_id, self.settings.num_run_dbs)
        if want != self.dbfname:
            shown = "nil" if run_id is None else str(run_id)
            raise CommandError(
                "bad_request", f"run-id {shown} belongs to {want}, this server serves {self.dbfname}"
            )


_PING_OK = protocol.ok_wire(None, {})  # what a ping is counted as


def _respond_later(
    server: Server, status: str, cmd: str, t0: float
) -> tuple[PendingAnswer, Callable[[Outcome], None]]:
    """The answer to come of a db call, and the callback the db thread's batch
    resolves it with (in the loop thread, after the commit)."""
    out = PendingAnswer()

    def done(outcome: Outcome) -> None:
        server.call_finished()
        ok, value = outcome
        if ok:
            answer = (protocol.ok_wire if status == protocol.OK else protocol.loaded_wire)(value, server.meta())
        else:
            code, message = value
            answer = protocol.error_wire(code, message, server.meta())
        server.counters.count_request(cmd, answer, time.perf_counter() - t0)
        out.resolve(answer)

    return out, done


_WHY = {
    "SIGTERM": "signal", "SIGINT": "signal", "stop command": "stop", "idle timeout": "idle",
    "rank": "rank", "registration file gone": "file gone", "registration file replaced": "file replaced",
}


def retire_why(exit_reason: str) -> str:
    """The event's short ``why`` for a server's exit reason (docs/observability.md)."""
    return _WHY.get(exit_reason, "error")


def _out_of_resources(path: Path) -> bool:
    """Does opening ``path`` fail for lack of fds/memory (not because it is gone)?"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS)
    os.close(fd)
    return False


def _username() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, ImportError):
        return str(os.getuid())


# -- process entry -------------------------------------------------------------------


def setup_logging(area: Area, dbfname: str, settings: Settings, *, echo: bool, detached: bool = False) -> Path:
    """Log to ``logs/server-<db>-<pid>.log``, rotated by size (``logfiles.py``);
    a detached server's stdout/stderr follow the log. Old logs beyond
    ``log-keep`` are removed here, once per server start."""
    from backend import logfiles

    path = area.log_path(dbfname, os.getpid())
    # Not logging.FileHandler: it follows a symlink planted at the (predictable) name.
    try:
        stream = logfiles.RotatingLog(path, settings.log_max_bytes, (1, 2) if detached else ())
    except OSError as exc:
        raise ConfigError(f"cannot open log {path}: {exc.strerror}") from exc
    logfiles.remove_old_logs(area.logs_dir, settings.log_keep, spare=os.getpid())
    handler = logging.StreamHandler(stream)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handler.setFormatter(fmt)
    handler.addFilter(RateLimit())
    root = logging.getLogger("backend")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    if echo:
        echo_handler = logging.StreamHandler()
        echo_handler.setFormatter(fmt)
        echo_handler.addFilter(handler.filters[0])
        root.addHandler(echo_handler)
    return path


def run_server(
    area: Area,
    dbfname: str,
    settings: Settings,
    *,
    detached: bool = False,
    echo: bool = True,
    scale_out: ScaleOut | None = None,
) -> int:
    """Run one server to its end in this process; returns the exit code.

    ``detached`` (launched servers) points stdout/stderr at the server's log;
    ``echo`` copies log lines to stderr (foreground ``backend server``).
    """
    area.ensure_dirs()
    admission.raise_fd_limit()
    # Launched servers have no terminal: stray output goes to our own log.
    setup_logging(area, dbfname, settings, echo=echo and not detached, detached=detached)
    log.info("server %s for %s in %s (pid %d)", "starting", dbfname, area.root, os.getpid())
    server = Server(area, dbfname, settings, scale_out=scale_out)
    try:
        code = asyncio.run(server.run())
        # A foreground server stopped with Ctrl-C exits 130 like every other
        # command (after its clean shutdown); launched and supervised servers
        # never get SIGINT (own session / process group).
        return 130 if code == 0 and server.exit_reason == "SIGINT" and not detached else code
    except BackendError as exc:
        log.error("ERROR: %s", exc)
        raise
