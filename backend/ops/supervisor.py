"""``backend serve``: run and supervise server processes with multiprocessing.

States follow supervisord's: STARTING -> RUNNING (registered), an exit ->
BACKOFF -> STARTING again, STOPPING -> EXITED when serve stops them, FATAL
after 5 crashes in a row that never reached RUNNING.

``--servers-per-db N`` keeps N running: a server that exits for any reason
other than serve stopping it is replaced. A clean exit of its own (idle
timeout, ``backend stop``, rank retirement) is replaced after 0.5 s and does
not count as a failure; a decline at start-up (exit 3: enough servers, or the
db's home host is elsewhere) backs off like a crash (0.5 s doubling to 30 s)
but is never FATAL, since it succeeds once other servers retire; a crash
backs off and counts towards FATAL. ``serve`` ends on SIGINT/SIGTERM after
stopping every child, or when every slot is FATAL.

One ``serve`` per area: it holds an flock on ``.servinfo/.serve.lock`` (which
names its pid) for its whole life; a second one is refused with that pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import multiprocessing.process
import os
import queue
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from backend import events, procs, registry, states, syncstate
from backend.area import Area
from backend.config import Settings
from backend.errors import ConfigError

if TYPE_CHECKING:
    from backend.central.loop import SyncLoop
    from backend.central.settings import SyncSettings

# A slot's states (supervisord's vocabulary, not a server's ``states.ServerState``).
SlotState = Literal["STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL"]
STARTING: Final = "STARTING"
RUNNING: Final = "RUNNING"
BACKOFF: Final = "BACKOFF"
STOPPING: Final = "STOPPING"
EXITED: Final = "EXITED"
FATAL: Final = "FATAL"
MAX_QUICK_FAILURES = 5
BACKOFF_MAX = 30.0
EXIT_DECLINED = states.EXIT_DECLINED  # a server's exit code: declined, not crashed
REPLACE_DELAY = 0.5  # after a server's own clean exit
QUICK_EXIT = 10.0  # a clean exit this soon after the start backs off like a decline (no churn)
EVENT_FIELDS = ("pid", "server", "server_id", "exit", "reason", "retry_in")


def _child_main(area_root: str, dbfname: str, settings: dict[str, Any]) -> None:
    """Module-level entry point of a supervised server (spawn start method)."""
    _die_with_parent()
    # Our own process group: a Ctrl-C in serve's terminal reaches serve only,
    # which then stops its children in order (SIGTERM, drain, exit 0) instead of
    # each child racing its own SIGINT, possibly before its handlers exist.
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    import setproctitle

    from backend.client.launcher import scale_out
    from backend.procs import server_title
    from backend.server.server import run_server

    # Named like a launched server, so ps, the monitor and the per-host
    # max-server-procs count see a server (the spawn command line names no area).
    setproctitle.setproctitle(server_title(area_root, dbfname, "(supervised)"))

    sys.exit(run_server(
        Area(Path(area_root)), dbfname, Settings.from_wire(settings, "supervisor"), echo=False, scale_out=scale_out
    ))


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM us if the supervisor dies without cleaning up."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Slot:
    dbfname: str
    index: int
    state: SlotState = STARTING
    proc: multiprocessing.process.BaseProcess | None = None
    retry_at: float = 0.0
    failures: int = 0
    declines: int = 0
    server: str | None = None
    server_id: str | None = None
    started_at: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.dbfname}#{self.index}"


class Supervisor:
    def __init__(
        self, area: Area, settings: Settings, dbfnames: list[str], per_db: int, *,
        json_lines: bool = False, out: Any = None, sync: SyncSettings | None = None,
    ) -> None:
        self.area = area
        self.settings = settings
        self.slots = [Slot(db, i + 1) for db in dbfnames for i in range(per_db)]
        self.json_lines = json_lines
        self.out = out or sys.stdout
        self._ctx = multiprocessing.get_context("spawn")
        self._stop_reason: str | None = None
        self.sync_conf = sync
        self.sync_loop: SyncLoop | None = None
        # The sync thread never prints: its events are printed by the main loop.
        self._sync_events: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._sync_failing = False

    def _emit(self, slot: Slot, state: SlotState, **detail: Any) -> None:
        """One line per state change; in JSON every line carries every field
        (None when not known), so consumers need no per-state parsing."""
        slot.state = state
        slot.detail = detail
        now = datetime.now().isoformat(timespec="seconds")
        pid = slot.proc.pid if slot.proc is not None else None
        fields: dict[str, Any] = {"pid": pid, "server": slot.server, "server_id": slot.server_id}
        fields.update({k: detail.get(k) for k in EVENT_FIELDS if k in detail})
        if self.json_lines:
            record = {"time": now, "slot": slot.label, "db": slot.dbfname, "index": slot.index,
                      "state": state, **{k: fields.get(k) for k in EVENT_FIELDS}}
            line = json.dumps(record)
        else:
            extra = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            line = f"{now} {slot.label:<10} {state:<8} {extra}".rstrip()
        print(line, file=self.out, flush=True)

    def _emit_sync(self, event: dict[str, Any]) -> None:
        if self.sync_loop is not None:  # for backend stats and the monitor (backend/syncstate.py)
            syncstate.publish(self.area, self.sync_loop.state())
        # The history gets transitions only (a pass every minute would flood it).
        kind = event.get("sync")
        if kind == "error" and not self._sync_failing:
            self._sync_failing = True
            events.record_event(self.area, events.SYNC_FAILED, error=event.get("error"),
                                retry_in=event.get("retry_in"))
        elif kind == "ok" and self._sync_failing:
            self._sync_failing = False
            events.record_event(self.area, events.SYNC_RECOVERED, written=event.get("written"))
        now = datetime.now().isoformat(timespec="seconds")
        if self.json_lines:
            line = json.dumps({"time": now, "server": "sync", **event})
        else:
            extra = " ".join(f"{k}={v}" for k, v in event.items() if k != "sync")
            line = f"{now} {'sync':<10} {event['sync'].upper():<8} {extra}".rstrip()
        print(line, file=self.out, flush=True)

    def _start_sync(self) -> None:
        if self.sync_conf is None:
            return
        from backend.central.loop import SyncLoop, set_current

        self.sync_loop = SyncLoop(self.area, self.sync_conf, on_event=self._sync_events.put)
        set_current(self.sync_loop)
        self._emit_sync({"sync": "started", "to": self.sync_loop.state()["dest"],
                         "every": self.sync_conf.every})
        self.sync_loop.start()

    def _drain_sync_events(self) -> None:
        while True:
            try:
                self._emit_sync(self._sync_events.get_nowait())
            except queue.Empty:
                return

    def _stop_sync(self) -> None:
        if self.sync_loop is None:
            return
        from backend.central.loop import set_current

        self.sync_loop.stop()
        self._drain_sync_events()
        set_current(None)
        self._emit_sync({"sync": "stopped", **{k: v for k, v in self.sync_loop.state().items()
                                                if k in ("passes", "errors", "total_rows")}})

    def _start(self, slot: Slot) -> None:
        proc = self._ctx.Process(
            target=_child_main,
            args=(str(self.area.root), slot.dbfname, self.settings.to_wire()),
            name=f"mtserve-{slot.label}",
            daemon=False,
        )
        proc.start()
        slot.proc = proc
        slot.started_at = time.monotonic()
        slot.server = slot.server_id = None
        self._emit(slot, STARTING)
        if slot.failures:
            events.record_event(self.area, events.RESTARTED, dbfname=slot.dbfname, pid=proc.pid,
                                slot=slot.label, failures=slot.failures)
        else:
            events.record_event(self.area, events.START_REQUESTED, dbfname=slot.dbfname,
                                pid=proc.pid, why="supervisor", slot=slot.label)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop_reason = signal.Signals(signum).name

    def run(self) -> int:
        """Supervise until SIGINT (returns 130) or SIGTERM (0), or until every slot
        is FATAL (1)."""
        self.area.ensure_dirs()
        lock = hold_serve_lock(self.area)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for slot in self.slots:
                self._start(slot)
            self._start_sync()
            while self._stop_reason is None:
                self._tick()
                self._drain_sync_events()
                if all(s.state == FATAL for s in self.slots):
                    self._note(f"every server is FATAL; see {self.area.logs_dir}")
                    self._stop_all()
                    self._stop_sync()
                    return 1
                time.sleep(0.05)
            if self.sync_loop is not None:
                self.sync_loop.request_stop()
            self._stop_all()
            self._stop_sync()
            return 130 if self._stop_reason == "SIGINT" else 0
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            os.close(lock)

    def _tick(self) -> None:
        now = time.monotonic()
        registered: dict[int, registry.Entry] | None = None
        for slot in self.slots:
            proc = slot.proc
            if slot.state == BACKOFF and now >= slot.retry_at:
                self._start(slot)
            elif slot.state in (STARTING, RUNNING) and proc is not None:
                if not proc.is_alive():
                    self._exited(slot, proc.exitcode)
                elif slot.state == STARTING:
                    if registered is None:
                        registered = {
                            e.registration.pid: e
                            for e in registry.scan(self.area.servinfo_dir).entries
                        }
                    entry = registered.get(proc.pid or -1)
                    if entry is not None:
                        reg = entry.registration
                        slot.failures = slot.declines = 0
                        slot.server, slot.server_id = f"{reg.host}:{reg.port}", reg.server_id
                        self._emit(slot, RUNNING)

    def _exited(self, slot: Slot, code: int | None) -> None:
        """A child exited without being asked by us: replace it."""
        if slot.proc is not None:
            slot.proc.join(0)
            self._remove_leftover(slot.proc.pid)
        how = describe_exit(code)
        if code == 0 and time.monotonic() - slot.started_at >= QUICK_EXIT:
            slot.declines = 0
            delay, reason = REPLACE_DELAY, "exited on its own (idle, stop or retired); replacing"
        elif code == 0:
            # Retired right after starting (rank: more servers than max-servers
            # in the area): replacing it at once would only churn.
            slot.declines += 1
            delay = min(REPLACE_DELAY * 2 ** (slot.declines - 1), BACKOFF_MAX)
            reason = "exited on its own soon after starting (retired?); replacing with back-off"
        elif code == EXIT_DECLINED:
            slot.declines += 1
            delay = min(REPLACE_DELAY * 2 ** (slot.declines - 1), BACKOFF_MAX)
            reason = "declined: enough servers, or the db's home host is elsewhere"
        else:
            slot.failures += 1
            pid = slot.proc.pid if slot.proc is not None else None
            events.record_event(
                self.area, events.CRASHED, dbfname=slot.dbfname, pid=pid, slot=slot.label, code=code,
                last_log_line=last_log_line(self.area.log_path(slot.dbfname, pid)) if pid else "",
            )
            if slot.failures >= MAX_QUICK_FAILURES:
                events.record_event(self.area, events.FATAL, dbfname=slot.dbfname, slot=slot.label,
                                    failures=slot.failures)
                self._emit(slot, FATAL, exit=how, reason=f"{slot.failures} crashes in a row")
                return
            delay = min(REPLACE_DELAY * 2 ** (slot.failures - 1), BACKOFF_MAX)
            reason = "crashed"
        slot.retry_at = time.monotonic() + delay
        self._emit(slot, BACKOFF, exit=how, reason=reason, retry_in=f"{delay:g}s")

    def _note(self, message: str) -> None:
        """A line that is not a state change. With --json it goes to stderr, so
        stdout stays one JSON object per line, each with the same fields."""
        line = f"{datetime.now().isoformat(timespec='seconds')} {message}"
        print(line, file=sys.stderr if self.json_lines else self.out, flush=True)

    def _remove_leftover(self, pid: int | None) -> None:
        """A crashed child leaves its file. We reaped that very process, so it is
        provably gone (stronger than the mtime rule, which exists for servers we
        cannot see): remove the file now instead of letting clients trip on it."""
        for entry in registry.scan(self.area.servinfo_dir).entries:
            if entry.registration.pid == pid and procs.is_this_host(entry.registration):
                if registry.remove_dead(entry):
                    events.record_event(
                        self.area, events.MARKED_DEAD, dbfname=entry.registration.dbfname,
                        name=entry.name, pid=pid, by="supervisor",
                    )
                    self._note(f"removed {entry.name} left by pid {pid}")

    def _stop_all(self) -> None:
        """SIGTERM every child, wait (SIGKILL after drain-timeout + 5 s), then reap
        every child and remove what any of them left, also those that died
        unnoticed just before the stop (issue 12: a child SIGKILLed right before
        serve's SIGTERM left its registration behind)."""
        live = [s for s in self.slots if s.proc is not None and s.proc.is_alive()]
        for slot in self.slots:
            if slot.state == BACKOFF:
                self._emit(slot, EXITED, reason=f"serve stopping ({self._stop_reason})")
        for slot in live:
            self._emit(slot, STOPPING)
            if slot.proc is not None and slot.proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.proc.pid, signal.SIGTERM)
        end = time.monotonic() + self.settings.drain_timeout + 5
        live_ids = {id(s) for s in live}
        killed: set[int] = set()
        for slot in live:
            assert slot.proc is not None
            slot.proc.join(max(end - time.monotonic(), 0.1))
            if slot.proc.is_alive():
                slot.proc.kill()
                killed.add(id(slot))
        for slot in self.slots:
            if slot.proc is None:
                continue
            slot.proc.join(5)
            self._remove_leftover(slot.proc.pid)
            if slot.state in (STARTING, RUNNING, STOPPING):
                code = slot.proc.exitcode
                if id(slot) in live_ids and id(slot) not in killed and code in (0, -signal.SIGTERM):
                    # A SIGTERM before the child installed its handler (it was still
                    # starting) ends it by the signal: that is the stop we asked for.
                    self._emit(slot, EXITED, exit=describe_exit(code), reason="stopped cleanly")
                elif id(slot) in killed:
                    self._emit(slot, EXITED, exit=describe_exit(code), reason="did not stop in time: killed")
                else:
                    self._emit(slot, EXITED, exit=describe_exit(code), reason="exited before serve stopped it")


def describe_exit(code: int | None) -> str:
    """``0``, ``code 1``, ``SIGKILL``: how a child ended, in one word or two."""
    if code is None:
        return "unknown"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return str(code) if code == 0 else f"code {code}"


def serve_lock_path(area: Area) -> Path:
    return area.servinfo_dir / ".serve.lock"


def hold_serve_lock(area: Area) -> int:
    """Take the area's serve lock for the life of this process (the fd is the
    lock; the kernel drops it when we exit, however we exit). ConfigError naming
    the holder's pid when another serve has it."""
    path = serve_lock_path(area)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(
            f"another backend serve (pid {holder}) already supervises {area.root}; stop it first"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def last_log_line(path: Path) -> str:
    """The last non-empty line of a server log (what a crash event quotes), or ""."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        size = os.fstat(fd).st_size
        tail = os.pread(fd, 4096, max(size - 4096, 0))
    except OSError:
        return ""
    finally:
        os.close(fd)
    lines = [ln for ln in tail.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""
