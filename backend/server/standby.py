"""A warm standby that forks new servers instead of starting an interpreter.

Starting a server process costs ~150 ms on our machines and nearly all of it
is the interpreter and imports (asyncio alone 50-80 ms); the server's own
start-up is ~5 ms. So the first server the launcher starts in an area, before
it does anything else, forks a *standby*: a copy of itself with every module
imported, no threads, no event loop, waiting on a unix socket. Later starts in
that area (scale-out, a restart after a crash or an idle exit) ask the standby,
which forks the new server from that warm state.

- One standby per (user, area, host): its address is an abstract unix socket
  named after the uid and the area's real path. Abstract names live per network
  namespace and leave no file behind; both ends check ``SO_PEERCRED`` so that
  only the same user can ask, and only a standby of the same user answers.
- Anything wrong (no standby, a stalled one, a refusal) makes the launcher fall
  back to spawning ``backend server`` as before: the standby only makes starts
  faster, never possible or impossible.
- The standby exits after ``standby-timeout`` seconds without a request, when
  the area's ``.servinfo`` directory goes away, or on SIGTERM; ``0`` turns the
  standby off. Its children are reaped by the kernel (SIGCHLD ignored).
- Process titles (``setproctitle``): the standby reads ``backend standby
  --area A``, a server it forked ``backend server --area A --db D --detached``,
  like a launched one, for ``ps``, the monitor and the per-host process count.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from typing import NoReturn

import msgpack
import setproctitle

from backend import procs
from backend.area import Area, validate_dbfname
from backend.config import Settings
from backend.errors import BackendError
from backend.server.server import ScaleOut, run_server
from backend.wire.standby import MAX_REQUEST, REQUEST_TIMEOUT, address, peer_uid, read_all

_CHECK_S = 2.0  # how often an idle standby looks whether its area still exists


def fork_standby(area: Area, settings: Settings, scale_out: ScaleOut | None = None) -> None:
    """Called by a launched server before it starts anything: leave a standby
    behind unless this user's area already has one.

    Double fork, so the standby is nobody's child (the server would never reap
    it) and has its own session.
    """
    if settings.standby_timeout <= 0:
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address(area))  # EADDRINUSE: a standby is already there
        listener.listen(16)
        child = os.fork()
    except OSError:
        listener.close()
        return
    if child == 0:
        code = 0
        try:
            os.setsid()
            if os.fork() == 0:
                _serve(listener, area, settings.standby_timeout, scale_out)
        except BaseException:  # noqa: BLE001 - nothing may unwind into the server's code
            code = 1
        finally:
            os._exit(code)
    listener.close()
    os.waitpid(child, 0)


def _serve(
    listener: socket.socket, area: Area, idle_timeout: float, scale_out: ScaleOut | None
) -> None:
    """The standby's loop: one request at a time until idle, gone or told to exit."""
    setproctitle.setproctitle(f"backend standby --area {area.root}")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the servers we fork
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the launcher's log is not ours to write to for ten minutes
        os.dup2(devnull, fd)
    os.close(devnull)
    home = _identity(area)
    last = time.monotonic()
    while True:
        left = last + idle_timeout - time.monotonic()
        if left <= 0 or _identity(area) != home:
            return
        ready, _, _ = select.select([listener], [], [], min(left, _CHECK_S))
        if not ready:
            continue
        try:
            conn, _ = listener.accept()
        except OSError:
            continue
        with conn:
            conn.settimeout(REQUEST_TIMEOUT)
            if _answer(conn, listener, area, scale_out) == "exit":
                return
        last = time.monotonic()


def _identity(area: Area) -> tuple[int, int] | None:
    try:
        st = os.stat(area.servinfo_dir)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _answer(
    conn: socket.socket, listener: socket.socket, area: Area, scale_out: ScaleOut | None
) -> str:
    try:
        if peer_uid(conn) != os.getuid():
            return "refused"
        request = msgpack.unpackb(read_all(conn, MAX_REQUEST))
        if not isinstance(request, dict):
            raise ValueError("request is not a map")
        if request.get("op") == "exit":
            conn.sendall(msgpack.packb({"exiting": True}))
            return "exit"
        if request.get("op") != "fork":
            raise ValueError(f"unknown op {request.get('op')!r}")
        dbfname = validate_dbfname(str(request.get("db")))
        settings = Settings.from_wire(request.get("settings"), "standby request")
        pid = os.fork()
        if pid == 0:
            conn.close()
            listener.close()
            _become_server(area, dbfname, settings, scale_out)
        conn.sendall(msgpack.packb({"pid": pid}))
        return "forked"
    except (OSError, ValueError, BackendError, msgpack.UnpackException) as exc:
        try:
            conn.sendall(msgpack.packb({"error": str(exc)}))
        except OSError:
            pass
        return "error"


def _become_server(
    area: Area, dbfname: str, settings: Settings, scale_out: ScaleOut | None
) -> NoReturn:
    """In a fresh fork of the standby: turn into a launched server, never return."""
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        os.chdir(area.root)
        setproctitle.setproctitle(procs.server_title(str(area.root), dbfname, "--detached"))
        code = run_server(area, dbfname, settings, detached=True, scale_out=scale_out)
    except BaseException:  # noqa: BLE001 - a fork must never return into the standby loop
        code = 1  # run_server logged a BackendError to the server's log
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
