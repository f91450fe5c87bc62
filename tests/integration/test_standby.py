"""The warm standby: later starts in an area fork from it (backend/server/standby.py, backend/client/standby.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
from pathlib import Path

import msgpack
import psutil
import pytest

from backend import procs
from backend.area import Area
from backend.client import standby
from backend.client.launcher import start_server
from backend.config import load_settings
from backend.wire.connection import ping
from backend.wire.standby import address, read_all
from tests.helpers import area_processes, backend, entries, wait_for


def _standbys(area: Path) -> list[psutil.Process]:
    return [p for p in area_processes(area) if " ".join(p.cmdline()).startswith("backend standby")]


def _running(area: Path, pid: int) -> bool:
    for e in entries(area):
        r = e.registration
        if r.pid == pid and ping(r.host, r.port).sstate == "running":
            return True
    return False


def _start(area: Path, db: str = "main.db") -> int:
    a = Area.open(area)
    res = start_server(a, db, load_settings(a.root), force=True)
    assert res.started and res.pid, res.reason
    wait_for(lambda: _running(area, res.pid), 20, what=f"server {res.pid} running")
    return res.pid


def test_first_start_leaves_a_standby_and_later_starts_fork_from_it(area: Path) -> None:
    first = _start(area)
    (warm,) = wait_for(lambda: _standbys(area), 10, what="a standby")
    assert warm.pid != first and warm.ppid() != first  # double fork: nobody's child but init's

    second = _start(area, "1.db")
    child = psutil.Process(second)
    assert child.ppid() == warm.pid  # forked by the standby, not a new interpreter
    # It looks like a launched server to ps, the monitor and the per-host count.
    assert " ".join(child.cmdline()).startswith(f"backend server --area {area} --db 1.db")
    assert procs.count_area_servers(str(area)) == 2
    # It is a full server: its own file, its own log, answers with its server-id.
    (reg,) = [e.registration for e in entries(area, "1.db")]
    assert ping(reg.host, reg.port).server_id == reg.server_id
    assert Area.open(area).log_path("1.db", second).exists()
    # Still exactly one standby: a forked server does not leave another one.
    assert [p.pid for p in _standbys(area)] == [warm.pid]


def test_stop_all_stops_the_standby_too(area: Path) -> None:
    _start(area)
    (warm,) = wait_for(lambda: _standbys(area), 10, what="a standby")
    r = backend("stop", "--area", str(area), "--all", check=True)
    assert "standby: stopped" in r.stdout
    warm.wait(10)
    assert not area_processes(area)
    r = backend("stop", "--area", str(area), "--all")  # nothing left: not an error (issue 13 item 12)
    assert (r.returncode, r.stdout.strip()) == (0, "nothing to stop")


def test_standby_exits_when_idle_and_when_the_area_goes(area: Path) -> None:
    (area / "megatest.config").write_text((area / "megatest.config").read_text() + "standby-timeout 1\n")
    _start(area)
    (warm,) = wait_for(lambda: _standbys(area), 10, what="a standby")
    warm.wait(10)  # 1 s without a request

    (area / "megatest.config").write_text((area / "megatest.config").read_text() + "standby-timeout 300\n")
    _start(area, "1.db")
    (warm,) = wait_for(lambda: _standbys(area), 10, what="a second standby")
    backend("stop", "--area", str(area), "--db", "main.db")
    backend("stop", "--area", str(area), "--db", "1.db")
    shutil.rmtree(area / ".servinfo")
    warm.wait(10)  # its area is gone: it does not wait out the 300 s


def test_standby_off_with_zero_and_a_dead_standby_falls_back(area: Path) -> None:
    (area / "megatest.config").write_text((area / "megatest.config").read_text() + "standby-timeout 0\n")
    _start(area)
    assert not _standbys(area)

    (area / "megatest.config").write_text((area / "megatest.config").read_text() + "standby-timeout 30\n")
    _start(area, "1.db")
    (warm,) = wait_for(lambda: _standbys(area), 10, what="a standby")
    warm.send_signal(signal.SIGKILL)
    warm.wait(10)
    pid = _start(area, "2.db")  # no standby answers: a new interpreter, as before
    assert psutil.Process(pid).ppid() != warm.pid


def test_bad_requests_get_an_error_and_the_standby_keeps_serving(area: Path) -> None:
    _start(area)
    (warm,) = wait_for(lambda: _standbys(area), 10, what="a standby")
    addr = address(Area.open(area))
    settings = load_settings(area).as_dict()
    bad = [
        b"\xc1garbage",
        msgpack.packb([1, 2]),
        msgpack.packb({"op": "launch-missiles"}),
        msgpack.packb({"op": "fork", "db": "../etc.db", "settings": settings}),
        msgpack.packb({"op": "fork", "db": "main.db", "settings": {"heartbeat": 1}}),
        msgpack.packb({"op": "fork", "db": "main.db", "settings": {**settings, "heartbeat": -1}}),
        b"x" * 20000,
    ]
    for payload in bad:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(addr)
            try:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                reply = msgpack.unpackb(read_all(s, 4096))
            except ConnectionError:  # the over-long one may be cut off mid-send
                continue
        assert "error" in reply and "pid" not in reply, (payload[:40], reply)
    assert warm.is_running()
    assert len(entries(area)) == 1  # none of them started a server
    second = _start(area, "1.db")
    assert psutil.Process(second).ppid() == warm.pid


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_use_our_standby(area: Path) -> None:
    _start(area)
    wait_for(lambda: _standbys(area), 10, what="a standby")
    a = Area.open(area)
    settings = load_settings(area)
    pid = os.fork()
    if pid == 0:  # as nobody: its own address differs, and ours refuses it
        code = 1
        try:
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(f"\0mtserve-standby-0-{address(a).rsplit('-', 1)[1]}")
                try:  # refused: closed unanswered (a reset or broken pipe: it never reads the request)
                    s.sendall(msgpack.packb({"op": "fork", "db": "1.db", "settings": settings.as_dict()}))
                    s.shutdown(socket.SHUT_WR)
                    reply = read_all(s, 4096)
                except (ConnectionResetError, BrokenPipeError):
                    reply = b""
            code = 0 if reply == b"" and standby.request_server(a, "1.db", settings) is None else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [e.registration.dbfname for e in entries(area)] == ["main.db"]
