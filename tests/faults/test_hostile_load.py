"""Issue 12 items 1 and 2, and the acceptance runs of bench/hostile.py: nobody
without the key can starve a server, and one greedy client cannot starve the
others. These assert behaviour (every legitimate request is served, the caps
hold, memory stays bounded); the speed figures are measured by
``python -m bench.hostile`` and recorded in docs/reliability.md."""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from backend.client.client import Client
from backend.wire import protocol
from bench import hostile
from tests.faults.util import authed, key_of, raw_socket, recv_until_closed, start_server, stop_proc
from tests.helpers import make_area


def _fd_limit(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
def test_idle_unauthenticated_connections_cannot_take_a_db_down(tmp_path: Path) -> None:
    # 1. A server raises the soft fd limit it inherits to the hard limit.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    a1 = make_area(tmp_path / "raise")
    proc, _ = start_server(a1, preexec=lambda: _fd_limit(256, hard))
    try:
        assert psutil.Process(proc.pid).rlimit(resource.RLIMIT_NOFILE)[0] == hard
    finally:
        assert stop_proc(proc) == 0
    # 2. Where the hard limit itself is low (1024), 1,500 idle connections from a
    # process without the key (reopening whatever is dropped) cannot hold every fd:
    # the caps keep headroom, legitimate calls are served throughout.
    area = make_area(tmp_path / "low", "auth-deadline 1\n")
    proc, entry = start_server(area, preexec=lambda: _fd_limit(1024, 1024))
    reg = entry.registration
    flood = hostile._spawn_flood(hostile.IDLE_FLOOD, reg.host, str(reg.port), "1500")
    try:
        with Client(area, launch=None) as client:
            for i in range(20):
                client.call("set-var", f"k{i}", str(i), deadline=20)
                # a fresh connection each time, as `backend call` makes
                with Client(area, launch=None) as fresh:
                    assert fresh.call("get-var", f"k{i}", deadline=20) == str(i)
                time.sleep(0.1)
        assert psutil.Process(proc.pid).num_fds() < 1024
        assert "Too many open files" not in (area / "logs").joinpath(
            f"server-main.db-{proc.pid}.log").read_text()
        # 3. An idle unauthenticated connection is closed after auth-deadline.
        s = raw_socket(entry)
        t0 = time.monotonic()
        _, closed = recv_until_closed(s, 5)
        s.close()
        assert closed and time.monotonic() - t0 < 4
        assert proc.poll() is None
    finally:
        hostile._stop([flood])
        assert stop_proc(proc) == 0


@pytest.mark.slow
def test_pipelining_flooders_do_not_starve_other_clients(area: Path) -> None:
    proc, entry = start_server(area)
    reg = entry.registration
    flood = [hostile._spawn_flood(hostile.PIPELINE_FLOOD, reg.host, str(reg.port), str(area))
             for _ in range(4)]
    try:
        conn = hostile._authenticated(area, reg)
        pings = []
        with Client(area, launch=None) as client:
            for i in range(30):
                t0 = time.monotonic()
                assert conn.ping(10).ok
                pings.append(time.monotonic() - t0)
                client.call("set-var", "k", str(i), deadline=20)
            assert client.call("get-var", "k") == "29"
        conn.close()
        # Generous: catches starvation (seconds per ping before the fix), not speed.
        assert statistics.median(pings) < 1.0
        assert all(f.poll() is None for f in flood), "a flooder was cut off"
        assert psutil.Process(proc.pid).memory_info().rss < 300 * 2**20
    finally:
        hostile._stop(flood)
        assert stop_proc(proc) == 0


@pytest.mark.slow
def test_acceptance_runs_of_bench_hostile(tmp_path: Path) -> None:
    """The scenarios of docs/reliability.md at full size, shorter: no legitimate
    request fails, the server lives, its memory stays bounded."""
    (tmp_path / "idle").mkdir()
    idle = hostile.idle_flood(tmp_path / "idle", 2000, 3.0).summary()
    (tmp_path / "pipe").mkdir()
    base, fig = hostile.pipeline_flood(tmp_path / "pipe", 10, 3.0)
    for row in (idle, base.summary(), fig.summary()):
        assert row["errors"] == 0, row
        assert row["pings"] > 0 and row["writes"] > 0, row
    assert idle["server_alive"] and fig.extra["server_alive"]
    assert fig.extra["flooders_alive"] == 10
    assert max(idle["server_rss_mb_max"], fig.summary()["server_rss_mb_max"]) < 300


def test_bench_hostile_runs_as_a_command() -> None:
    r = subprocess.run([sys.executable, "-m", "bench.hostile", "--help"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 0 and "--flooders" in r.stdout


def test_a_client_that_never_reads_its_answers_is_no_longer_read(area: Path) -> None:
    """Back-pressure (issue 12 item 2, the Protocol session of issue 16): a key
    holder pipelines requests and never reads the answers. The server stops reading
    it once its answers back up, so its memory stays bounded, and everyone else is
    still served meanwhile and after it leaves."""
    proc, entry = start_server(area)
    reg = entry.registration
    with Client(area, launch=None) as client:
        client.call("set-var", "big", "y" * 16000)
    greedy = raw_socket(entry)
    try:
        dec = protocol.FrameDecoder(1 << 20)
        greedy.sendall(protocol.encode(["ping", None, [], None]))
        nonce = None
        while nonce is None:
            dec.feed(greedy.recv(65536))
            answer = dec.next()
            if answer is not None:
                nonce = answer[3]["nonce"]
        token = protocol.auth_token(key_of(area), reg.server_id, nonce)
        greedy.sendall(protocol.encode(["auth", None, [], {"auth": token}]))
        greedy.setblocking(False)
        # Large answers (16 kB) to small requests: the answers back up long
        # before the requests do.
        request = protocol.encode(["get-var", None, ["big"], None]) * 512
        sent, stalled_at = 0, None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                sent += greedy.send(request[sent % len(request):])  # the stream: request, repeated
            except BlockingIOError:  # the server stopped reading us
                if stalled_at is None:
                    stalled_at = time.monotonic()
                elif time.monotonic() - stalled_at > 1.0:
                    break
                time.sleep(0.01)
                continue
            stalled_at = None
        assert stalled_at is not None, f"the server read {sent} bytes without ever stopping"
        # This server's own count (a Client might be sent to another server: the
        # flood's backlog makes this one ask for scale-out).
        watcher, auth = authed(area, entry)

        def bytes_read() -> int:
            return int(watcher.request(["stats", None, [], auth], 20).result["bytes_in"])

        # Stopped, not slowed: while the answers back up it reads nothing more of
        # what waits in its socket (up to one read and the 64 KiB read-ahead).
        read_before = bytes_read()
        time.sleep(1.5)
        read_after = bytes_read()
        assert read_after - read_before <= 262144 + 65536, (read_before, read_after)
        # And it was only waiting: once the client reads its answers, the server
        # answers the requests it holds (and reads more as they are done).
        greedy.setblocking(True)
        greedy.settimeout(10)
        dec, answers, got = protocol.FrameDecoder(1 << 20), 0, 0
        while got < 16 * 2**20:
            data = greedy.recv(1 << 20)
            assert data, f"closed after {answers} answers"
            got += len(data)
            dec.feed(data)
            while dec.next() is not None:
                answers += 1
        # 16 MB is more than the socket buffers held at the stall: written since.
        assert answers > 16 * 2**20 // 16100 - 1
        watcher.close()
        with Client(area, launch=None) as client:
            client.call("set-var", "k", "v", deadline=20)
            assert client.call("get-var", "k", deadline=20) == "v"
        assert psutil.Process(proc.pid).memory_info().rss < 300 * 2**20
    finally:
        greedy.close()
    with Client(area, launch=None) as client:
        assert client.call("get-var", "k", deadline=20) == "v"
    assert stop_proc(proc) == 0
