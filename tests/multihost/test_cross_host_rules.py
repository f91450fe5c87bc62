"""Cross-host rules without namespaces: registrations that claim another host.

A registration's ``hostname:`` line decides which host it lives on, so a file
naming "elsewhere" is, to this process, a server on another machine: its pid
is never looked at, its loopback address is never dialled, and while its mtime
is fresh nothing here starts a server for its db or removes it.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from backend import procs, registry
from backend.area import Area
from backend.client import status
from backend.client.client import Client
from backend.client.control import stop_server
from backend.config import load_settings
from backend.errors import NoServerError
from backend.wire import protocol
from backend.wire.connection import PingResult
from tests.helpers import backend, entries, spawn_backend

OTHER = "elsewhere-host"


def publish_foreign(area: Path, host: str, port: int, *, age: float = 0.0, pid: int = 4242,
                    sid: str = "f0" * 16, extras: dict[str, str] | None = None) -> registry.Entry:
    sdir = area / ".servinfo"
    sdir.mkdir(exist_ok=True)
    reg = registry.Registration(host, port, time.time() - age, sid, pid, "main.db",
                                {"hostname": OTHER, **(extras or {})})
    path = registry.publish(sdir, reg)
    if age:
        t = time.time() - age
        import os

        os.utime(path, (t, t))
    return registry.read_entry(path)


def routable_local_address() -> str:
    for addr in sorted(procs._local_addresses()):
        if ":" not in addr and addr != "localhost" and not procs.is_loopback_address(addr):
            return addr
    pytest.skip("no non-loopback IPv4 address on this host")


def closed_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Launches:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object) -> None:
        self.calls += 1


def test_non_loopback_bind_is_refused_without_an_area_key(area: Path) -> None:
    assert not (area / ".mtkey").exists()
    addr = routable_local_address()
    r = backend("server", "--area", str(area), "--db", "main.db", "--host", addr, timeout=30)
    assert r.returncode == 1
    assert f"refusing to bind {addr} (not loopback) without an area key" in r.stderr
    assert not (area / ".mtkey").exists(), "the refusal must not create the key"
    assert entries(area) == []
    # `backend serve --host` runs the same server start-up: its child refuses too.
    serve = spawn_backend("serve", "--area", str(area), "--host", addr)
    try:
        assert serve.stdout is not None
        for line in serve.stdout:  # STARTING, then BACKOFF once the child has exited
            if "BACKOFF" in line or "FATAL" in line:
                break
    finally:
        serve.terminate()
        serve.communicate(timeout=15)
    logs = "".join(p.read_text() for p in (area / "logs").glob("server-main.db-*.log"))
    assert f"refusing to bind {addr} (not loopback) without an area key" in logs
    assert entries(area) == [] and not (area / ".mtkey").exists()


def test_wildcard_bind_is_refused_even_with_a_key(area: Path) -> None:
    Area.open(area).key()
    r = backend("server", "--area", str(area), "--db", "main.db", "--host", "0.0.0.0", timeout=30)
    assert r.returncode == 1 and "refusing to bind 0.0.0.0" in r.stderr
    assert entries(area) == []


def test_routable_bind_with_a_key_registers_that_address_and_hostname(area: Path) -> None:
    Area.open(area).key()
    addr = routable_local_address()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "server", "--area", str(area), "--db", "main.db",
         "--host", addr], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not entries(area) and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.05)
        [e] = entries(area)
        assert e.registration.host == addr
        assert e.name.startswith(f"{addr}:")
        assert e.registration.extras["hostname"] == socket.gethostname()
        with Client(area) as c:
            c.call("set-var", "k", "v")
            assert c.call("get-var", "k") == "v"
            assert c.last_server == f"{addr}:{e.registration.port}"
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


def test_foreign_loopback_registration_fails_fast_and_starts_nothing(area: Path) -> None:
    e = publish_foreign(area, "127.0.0.1", 40001)
    launches = Launches()
    settings = load_settings(area)
    t0 = time.monotonic()
    with Client(area, settings, launch=launches) as c, pytest.raises(NoServerError) as err:
        c.call("get-var", "x", deadline=10)
    assert time.monotonic() - t0 < 2, "no waiting for the deadline: nothing will change"
    assert (
        f"servers for main.db run on host {OTHER} but registered a loopback address "
        "(127.0.0.1) that this host cannot reach; start them with --host"
    ) in str(err.value)
    assert launches.calls == 0
    assert e.path.exists()


def test_foreign_silent_routable_registration_blocks_starts_until_the_deadline(area: Path) -> None:
    addr = routable_local_address()
    e = publish_foreign(area, addr, closed_port(addr), age=30)
    launches = Launches()
    t0 = time.monotonic()
    with Client(area, launch=launches) as c, pytest.raises(NoServerError) as err:
        c.call("get-var", "x", deadline=1.5)
    assert 1.0 < time.monotonic() - t0 < 5
    assert f"run on host {OTHER} ({addr}:" in str(err.value)
    assert "do not answer" in str(err.value)
    assert launches.calls == 0
    assert e.path.exists(), "not provably dead: fresh mtime"


def test_a_server_start_declines_while_a_foreign_registration_is_fresh(area: Path) -> None:
    publish_foreign(area, "127.0.0.1", 40002)
    r = backend("server", "--area", str(area), "--db", "main.db", timeout=30)
    assert r.returncode == 3, r.stderr
    assert (
        f"Prime main server is on host {OTHER}, but we are on host {socket.gethostname()}, "
        "exiting"
    ) in r.stderr
    assert [x.registration.hostname for x in entries(area)] == [OTHER]


def test_a_stale_foreign_registration_is_removed_and_a_server_starts(area: Path) -> None:
    stale = publish_foreign(area, "127.0.0.1", 40003, age=1000)
    with Client(area) as c:
        c.call("set-var", "x", "1")
    assert not stale.path.exists()
    assert {x.registration.hostname for x in entries(area)} == {socket.gethostname()}
    backend("stop", "--area", str(area), "--all", check=True)


def test_status_shows_foreign_rows_as_remote_and_loopback_ones_unreachable(area: Path) -> None:
    e = publish_foreign(area, "127.0.0.1", 40004)
    # Even an answer from 127.0.0.1 here came from some local process, not that server.
    fake = PingResult(ok=True, server_id="00" * 16, sstate="running", sload=0, rtt_ms=0.1)
    row = status.make_row(e, fake, 360)
    assert row.remote and row.state == status.UNREACHABLE
    assert status.make_row(e, None, 360).state == status.UNKNOWN
    old = publish_foreign(area, "127.0.0.1", 40005, age=999)
    assert status.make_row(old, fake, 360).state == status.STALE
    routable = publish_foreign(area, "10.231.9.9", 40006)
    answer = PingResult(ok=True, server_id=routable.registration.server_id, sstate="running",
                        sload=3, rtt_ms=0.5)
    row = status.make_row(routable, answer, 360)
    assert row.remote and row.state == status.RUNNING and row.as_json()["load"] == 3


# -- stop across hosts: the stop command with the key, never a signal ----------------


@pytest.fixture
def stubborn_server() -> Iterator[tuple[str, int, str]]:
    """A listener on a routable local address that answers ping with a fixed
    server-id and refuses ``stop``: a server that will not go away by request."""
    host = routable_local_address()
    sid = "ab" * 16
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dec = protocol.FrameDecoder(4096)
        try:
            while data := await reader.read(4096):
                dec.feed(data)
                while (obj := dec.next()) is not None:
                    meta = {"sstate": "running", "sload": 0, "nonce": "n" * 32}
                    if obj[0] == "ping":
                        writer.write(protocol.encode(["ok", None, sid, meta]))
                    else:
                        writer.write(protocol.encode(protocol.error_wire("unauthorized", "", meta)))
                await writer.drain()
        finally:
            writer.close()

    async def main() -> None:
        srv = await asyncio.start_server(handle, host, 0)
        port.append(srv.sockets[0].getsockname()[1])
        started.set()
        await done.wait()
        srv.close()
        await srv.wait_closed()

    t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    t.start()
    assert started.wait(5)
    yield host, port[0], sid
    loop.call_soon_threadsafe(done.set)
    t.join(5)
    loop.close()


def test_stop_never_signals_the_pid_of_a_remote_registration(
    area: Path, stubborn_server: tuple[str, int, str]
) -> None:
    host, port, sid = stubborn_server
    # A real local process whose pid and start time match the file: only the
    # hostname line says it is not ours. The SIGTERM fallback must not touch it.
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(area)])
    try:
        created = psutil.Process(victim.pid).create_time()
        e = publish_foreign(area, host, port, pid=victim.pid, sid=sid,
                            extras={"proc-start": f"{created:.3f}"})
        res = stop_server(Area.open(area), load_settings(area), e, timeout=0.3)
        assert not res.stopped
        assert "stop refused" in res.outcome and "not ours, not stopped" in res.outcome
        time.sleep(0.2)
        assert victim.poll() is None, "a remote registration's pid was signalled"
        # The loopback twin of that file is not even dialled.
        lo = publish_foreign(area, "127.0.0.1", port, pid=victim.pid, sid=sid)
        res = stop_server(Area.open(area), load_settings(area), lo, timeout=0.3)
        assert not res.stopped and "not reachable from here" in res.outcome
    finally:
        victim.kill()
        victim.wait(5)
