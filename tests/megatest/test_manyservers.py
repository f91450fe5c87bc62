"""Port of Megatest's minimal/manyservers.sh (server collision and idle exit),
v1.65; expectations from the reference, section 5.5.

manyservers.sh launches 20 servers of one db at once and expects exactly one
to remain ("All servers but 1 terminated"), then 20 more with still one left,
then none after the idle timeout (60 s + 5). Translated as the reference
says: "exactly 1" -> the configured maximum per db (``max-servers 1`` here, so
still exactly one), "65 s" -> our idle-timeout (20 s here) + a margin. Real
``backend server`` processes of a tmp area; every one is reaped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from backend.client.client import Client
from tests.faults.util import stop_proc
from tests.helpers import entries, spawn_backend, wait_for

CONFIG = """\
[server]
heartbeat 0.2
idle-timeout 20
max-servers 1
start-throttle 0.5
ping-timeout 5
drain-timeout 3
max-load 1000
"""


def _launch(area: Path, n: int) -> list[subprocess.Popen[str]]:
    return [spawn_backend("server", "--area", str(area), "--db", "main.db") for _ in range(n)]


def _alive(procs: list[subprocess.Popen[str]]) -> list[subprocess.Popen[str]]:
    return [p for p in procs if p.poll() is None]


def test_many_servers_collide_down_to_one_then_idle_out(area: Path) -> None:
    (area / "megatest.config").write_text(CONFIG)
    procs: list[subprocess.Popen[str]] = []
    try:
        # manyservers.sh step 1: 20 servers at once -> exactly 1 remains.
        procs += _launch(area, 20)
        wait_for(lambda: len(_alive(procs)) == 1 and len(entries(area, "main.db")) == 1,
                 timeout=60, interval=0.2, what="all servers but 1 to exit")
        [survivor] = _alive(procs)
        assert entries(area, "main.db")[0].registration.pid == survivor.pid
        # Those that left exited normally (declined or retired), none crashed.
        assert all(p.returncode in (0, 3) for p in procs if p is not survivor), [
            (p.returncode, p.stderr.read() if p.stderr else "") for p in procs
            if p is not survivor and p.returncode not in (0, 3)][:2]
        # manyservers.sh step 2: 20 more -> still exactly 1 (the running one). One
        # request first, so the survivor's idle clock starts now, not at its start
        # (pings of the newcomers do not count as requests).
        with Client(area) as c:
            assert c.call("get-keys") == []
        second = _launch(area, 20)
        procs += second
        wait_for(lambda: len(_alive(procs)) == 1 and len(entries(area, "main.db")) == 1,
                 timeout=90, interval=0.2, what="all servers but 1 to exit (second wave)")
        [last] = _alive(procs)
        assert entries(area, "main.db")[0].registration.pid == last.pid
        # Normally the survivor stays and the newcomers decline (exit 3); on a
        # machine so loaded that a newcomer's ping of the survivor times out, the
        # newcomer registers and the older one retires (SPEC section 4, rank):
        # still exactly one, as manyservers.sh checks.
        assert all(p.returncode in (0, 3) for p in procs if p is not last)
        if last is survivor:
            assert all(p.returncode == 3 for p in second)
        # manyservers.sh step 3: no requests for idle-timeout + margin -> none left.
        wait_for(lambda: not _alive(procs), timeout=20 + 30, interval=0.2,
                 what="the survivor's idle exit")
        assert last.returncode == 0
        assert entries(area, "main.db") == []
    finally:
        for p in procs:
            if p.poll() is None:
                stop_proc(p)
            else:
                p.communicate(timeout=10)
