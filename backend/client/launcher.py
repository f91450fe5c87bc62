"""Starting server processes, with throttles that hold across processes.

Megatest's throttles were all per process, so N clients starting at once could
each launch a server (its start storms, P8/P17). Here the decision is taken
under the db's start lock (``startlock``: an expiring lease), and
``.servinfo/.start-<dbfname>.lock`` holds the throttle's state: the wall-clock
time and pid of the last start. Any process
of any user of the area sees the same lease, so at most one start per
``start-throttle`` seconds per db happens area-wide, and the registered-file
count is read inside the same critical section.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from backend import events, procs, registry
from backend.area import Area, validate_dbfname
from backend.client import standby
from backend.client.startlock import start_lease
from backend.config import Settings
from backend.errors import ConfigError

EXIT_DECLINED = 3  # server.EXIT_DECLINED: start-up rules said no; not a failure
_TAIL_BYTES = 8192

# Exit codes of servers this process spawned itself (filled by their reaper threads).
_exit_codes: dict[int, int] = {}


@dataclass(frozen=True)
class LaunchResult:
    started: bool
    pid: int | None = None
    reason: str = ""


@contextlib.contextmanager
def _start_lock(area: Area, dbfname: str) -> Iterator[int]:
    """Hold the db's start lock (``startlock``: a lease that expires) and yield the
    fd of ``.start-<dbfname>.lock``, whose content is the throttle's lease."""
    path = area.servinfo_dir / f".start-{dbfname}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot open start lock {path}: {exc.strerror}") from exc
    try:
        def notify(kind: str, **fields: object) -> None:
            events.record_event(area, kind, **fields)

        with start_lease(area.servinfo_dir, dbfname, notify):
            yield fd
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Lease:
    """The throttle's state in ``.start-<dbfname>.lock``: when the last start
    happened, its pid, and the host that started it (a pid means nothing elsewhere)."""

    last: float | None = None
    pid: int | None = None
    host: str = ""


def _read_lease(fd: int) -> Lease:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 256).decode("ascii", "replace")
    fields = dict(part.partition("=")[::2] for part in text.split())
    try:
        last: float | None = float(fields["last"])
    except (KeyError, ValueError):
        last = None
    pid_text = fields.get("pid", "")
    return Lease(last, int(pid_text) if pid_text.isdigit() else None, fields.get("host", ""))


def _write_lease(fd: int, when: float, pid: int) -> None:
    data = f"last={when:.6f} pid={pid} host={procs.this_hostname()}\n".encode("ascii", "replace")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def still_starting(area: Area, dbfname: str, lease: Lease, now: float, settings: Settings) -> str | None:
    """Why the last start must be waited for: its server, launched from this host,
    is alive but has not registered yet (a loaded host can take longer than
    ``start-throttle`` to start one; starting another then gave a db two servers
    for one request). Bounded by ``registration-visible-timeout``: a server that
    never registers stops blocking starts after it."""
    if lease.last is None or lease.pid is None or lease.host != procs.this_hostname():
        return None
    age = now - lease.last
    if not 0 <= age < settings.registration_visible_timeout or not _running(lease.pid):
        return None
    if any(e.registration.pid == lease.pid for e in registry.scan(area.servinfo_dir, dbfname).entries):
        return None
    return f"the server started {age:.1f}s ago (pid {lease.pid}) has not registered yet"


def refusal(area: Area, dbfname: str, settings: Settings, *, replacing: bool = False) -> str | None:
    """Why a start must not happen now (load, process count, registered files), or None.

    ``replacing``: the new server replaces an old one (``backend restart``), so
    it adds no load for long and the load limit does not apply."""
    nrun = procs.count_area_servers(str(area.root))
    if nrun > settings.max_server_procs:
        return f"{nrun} servers running on {procs.this_hostname()}, not starting another"
    entries = registry.scan(area.servinfo_dir, dbfname).entries
    # Local files whose process is dead are provably not servers: counting them
    # would let four kill -9 leftovers block every start for 360 s (P4).
    # Nor do files naming a live server of another area (copied by cp -a, or forged).
    live = [
        e for e in entries
        if not procs.locally_gone(e.registration)
        and not procs.serves_another_area(area.root, e.registration)
    ]
    if len(live) >= settings.max_servers:
        return f"{len(live)} servers registered in .servinfo dir, not starting another"
    # The load limit throttles scale-out only: refusing the *first* server of a db
    # on a busy host (a 50-client start storm on 2 cores has load > 8) left every
    # client without any server until its deadline.
    load1 = os.getloadavg()[0] / (os.cpu_count() or 1)
    if live and load1 > settings.max_load and not replacing:
        return f"normalized load {load1:.2f} is over the limit of {settings.max_load:g}"
    return None


def server_command(area: Area, dbfname: str) -> list[str]:
    return [
        sys.executable, "-m", "backend", "server",
        "--area", str(area.root), "--db", dbfname, "--detached",
    ]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child load exactly ``settings``."""
    return {**os.environ, **settings.to_env()}


def start_server(
    area: Area, dbfname: str, settings: Settings, *, force: bool = False, why: str = "client",
    replacing: bool = False
) -> LaunchResult:
    """Start one detached server for ``dbfname`` unless a throttle says no.

    ``force`` skips only the time throttle (an operator's explicit start), never
    the load, process-count or max-servers limits; ``replacing`` (a restart)
    also skips the load limit. ``why`` goes into the ``start_requested`` event
    (client, scale-out, operator, restart).
    """
    validate_dbfname(dbfname)
    area.ensure_dirs()
    with _start_lock(area, dbfname) as fd:
        now = time.time()
        lease = _read_lease(fd)
        last = lease.last
        if not force and last is not None and 0 <= now - last < settings.start_throttle:
            return LaunchResult(False, reason=f"throttled: a server was started {now - last:.1f}s ago")
        pending = None if force or replacing else still_starting(area, dbfname, lease, now, settings)
        if pending:
            return LaunchResult(False, reason=pending)
        reason = refusal(area, dbfname, settings, replacing=replacing)
        if reason:
            return LaunchResult(False, reason=reason)
        pid = _spawn(area, dbfname, settings)
        _write_lease(fd, now, pid)
    events.record_event(area, events.START_REQUESTED, dbfname=dbfname, pid=pid, why=why,
                        requester_pid=os.getpid())
    return LaunchResult(True, pid=pid, reason="started")


def scale_out(area: Area, dbfname: str, settings: Settings) -> str:
    """A server's request for one more server of its db (``server.ScaleOut``): what came of it."""
    return start_server(area, dbfname, settings, why="scale-out").reason


def _spawn(area: Area, dbfname: str, settings: Settings) -> int:
    # A warm standby forks a server in a few ms; without one, start an interpreter.
    pid = standby.request_server(area, dbfname, settings)
    if pid is not None:
        return pid
    log_path = area.logs_dir / "launcher.log"
    # O_NOFOLLOW: a symlink planted at logs/launcher.log must not make us append
    # to (or block on) whatever it points at; then the child's early output is dropped.
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    with os.fdopen(fd, "ab") as log:  # the server re-points its stdio at its own log
        proc = subprocess.Popen(
            server_command(area, dbfname),
            cwd=area.root,
            env=settings_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            close_fds=True,
            start_new_session=True,  # detached: outlives us, immune to our terminal's signals
        )
    # Reap it whenever it exits, so a long-lived client collects no zombies, and keep
    # its exit code: an early exit is reported as the error of the call (early_exit).
    def reap() -> None:
        _exit_codes[proc.pid] = proc.wait()

    threading.Thread(target=reap, name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def early_exit(area: Area, dbfname: str, pid: int) -> str | None:
    """Why launched server ``pid`` exited without serving, or None while it runs,
    once it registered, or when it exited declining (enough servers elsewhere).

    Issue 12 item 5: the caller learns the real cause (exit code, the last error
    line of the server's log, or of the launcher log for a server that died before
    opening its own) within a poll, instead of waiting out its deadline.
    """
    if _running(pid):
        return None
    code = _exit_codes.get(pid)
    if code in (0, EXIT_DECLINED):
        return None
    last = _last_error(area.logs_dir / f"server-{dbfname}-{pid}.log")
    if last is None and code is not None:
        last = _last_error(area.logs_dir / "launcher.log")
    if last is None and code is None:
        return None  # forked by the standby and left no error: nothing to report
    shown = f"exit code {code}" if code is not None else "exited"
    return f"server pid {pid} for {dbfname} {shown}: {last or 'no error logged'}"


def _running(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _last_error(path: os.PathLike[str]) -> str | None:
    """The last error line in the tail of a log (O_NOFOLLOW: never through a link)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(size - _TAIL_BYTES, 0), os.SEEK_SET)
        tail = os.read(fd, _TAIL_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    for line in reversed(tail.splitlines()):
        line = line.strip()
        if "ERROR" in line or line.startswith("backend: error:"):
            return line.split("ERROR ", 1)[-1].removeprefix("ERROR: ").removeprefix("backend: error: ")
    return None
