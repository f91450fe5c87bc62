"""``backend serve``: run and supervise server processes with multiprocessing.

States follow supervisord's: STARTING -> RUNNING (registered), a crash ->
BACKOFF (restart after 0.5 s, 1 s, 2 s ... 30 s) or FATAL (5 crashes in a row
that never reached RUNNING), STOPPING -> EXITED. A server that exits 0 on its
own (idle timeout, ``stop``, rank retirement, file deleted) is EXITED and not
restarted: that exit was the server's decision, and restarting it would undo
``backend stop`` and the idle timeout. ``serve`` ends when every slot is
EXITED or FATAL, or on SIGINT/SIGTERM, after stopping every child cleanly.
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any

from backend import events, procs, registry
from backend.area import Area
from backend.config import Settings

if TYPE_CHECKING:
    from backend.central.loop import SyncLoop
    from backend.central.settings import SyncSettings

STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL = (
    "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
)
MAX_QUICK_FAILURES = 5
BACKOFF_MAX = 30.0
EXIT_DECLINED = 3


def _child_main(area_root: str, dbfname: str, settings: dict[str, Any]) -> None:
    """Module-level entry point of a supervised server (spawn start method)."""
    _die_with_parent()
    import setproctitle

    from backend.client.launcher import scale_out
    from backend.procs import server_title
    from backend.server.server import run_server

    # Named like a launched server, so ps, the monitor and the per-host
    # max-server-procs count see a server (the spawn command line names no area).
    setproctitle.setproctitle(server_title(area_root, dbfname, "(supervised)"))

    sys.exit(run_server(Area(Path(area_root)), dbfname, Settings(**settings), echo=False, scale_out=scale_out))


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
    state: str = STARTING
    proc: multiprocessing.process.BaseProcess | None = None
    retry_at: float = 0.0
    failures: int = 0
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

    def _emit(self, slot: Slot, state: str, **detail: Any) -> None:
        slot.state = state
        slot.detail = detail
        now = datetime.now().isoformat(timespec="seconds")
        if self.json_lines:
            line = json.dumps({"time": now, "server": slot.label, "state": state, **detail})
        else:
            extra = " ".join(f"{k}={v}" for k, v in detail.items())
            line = f"{now} {slot.label:<10} {state:<8} {extra}".rstrip()
        print(line, file=self.out, flush=True)

    def _emit_sync(self, event: dict[str, Any]) -> None:
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
            args=(str(self.area.root), slot.dbfname, self.settings.as_dict()),
            name=f"mtserve-{slot.label}",
            daemon=False,
        )
        proc.start()
        slot.proc = proc
        self._emit(slot, STARTING, pid=proc.pid)
        if slot.failures:
            events.record_event(self.area, events.RESTARTED, dbfname=slot.dbfname, pid=proc.pid,
                                slot=slot.label, failures=slot.failures)
        else:
            events.record_event(self.area, events.START_REQUESTED, dbfname=slot.dbfname,
                                pid=proc.pid, why="supervisor", slot=slot.label)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop_reason = signal.Signals(signum).name

    def run(self) -> int:
        self.area.ensure_dirs()
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for slot in self.slots:
                self._start(slot)
            self._start_sync()
            while self._stop_reason is None:
                self._tick()
                self._drain_sync_events()
                if all(s.state in (EXITED, FATAL) for s in self.slots):
                    self._stop_sync()
                    print(f"{datetime.now().isoformat(timespec='seconds')} all servers exited",
                          file=self.out, flush=True)
                    return 1 if any(s.state == FATAL for s in self.slots) else 0
                time.sleep(0.05)
            if self.sync_loop is not None:
                self.sync_loop.request_stop()
            self._stop_all()
            self._stop_sync()
            return 0
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

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
                        slot.failures = 0
                        self._emit(slot, RUNNING, pid=reg.pid, server=f"{reg.host}:{reg.port}",
                                   server_id=reg.server_id)

    def _exited(self, slot: Slot, code: int | None) -> None:
        if slot.proc is not None:
            slot.proc.join(0)
            self._remove_leftover(slot.proc.pid)
        if code == 0:
            self._emit(slot, EXITED, code=0)
            return
        if code == EXIT_DECLINED:
            self._emit(slot, EXITED, code=code, reason="declined: enough servers or wrong host")
            return
        slot.failures += 1
        pid = slot.proc.pid if slot.proc is not None else None
        events.record_event(
            self.area, events.CRASHED, dbfname=slot.dbfname, pid=pid, slot=slot.label, code=code,
            last_log_line=last_log_line(self.area.log_path(slot.dbfname, pid)) if pid else "",
        )
        if slot.failures >= MAX_QUICK_FAILURES:
            events.record_event(self.area, events.FATAL, dbfname=slot.dbfname, slot=slot.label,
                                failures=slot.failures)
            self._emit(slot, FATAL, code=code, failures=slot.failures)
            return
        delay = min(0.5 * 2 ** (slot.failures - 1), BACKOFF_MAX)
        slot.retry_at = time.monotonic() + delay
        self._emit(slot, BACKOFF, code=code, retry_in=f"{delay:g}s")

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
                    print(f"{datetime.now().isoformat(timespec='seconds')} removed {entry.name} "
                          f"left by crashed pid {pid}", file=self.out, flush=True)

    def _stop_all(self) -> None:
        live = [s for s in self.slots if s.proc is not None and s.proc.is_alive()]
        for slot in self.slots:
            if slot.state == BACKOFF:
                self._emit(slot, EXITED, reason=self._stop_reason)
        for slot in live:
            self._emit(slot, STOPPING, pid=slot.proc.pid if slot.proc else None)
            if slot.proc is not None and slot.proc.pid:
                try:
                    os.kill(slot.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + self.settings.drain_timeout + 5
        for slot in live:
            assert slot.proc is not None
            slot.proc.join(max(end - time.monotonic(), 0.1))
            if slot.proc.is_alive():
                slot.proc.kill()
                slot.proc.join(5)
                self._emit(slot, EXITED, code="killed")
            else:
                self._emit(slot, EXITED, code=slot.proc.exitcode)


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
