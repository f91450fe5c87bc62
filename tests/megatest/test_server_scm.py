"""Port of Megatest's tests/unittests/server.scm, v1.65; expectations from the
reference, section 5.4: reads stay consistent while servers start and stop.

server.scm L45-82 polled v1.60's server table (gone in v1.65) while starting
and killing servers; the invariant it checks, that get-test-info-by-id keeps
returning the same record on every iteration, is what this port checks, with
real server processes of a tmp area being killed (kill-server) and started
(the client's auto-start, ``backend start``) under a reader.
"""

from __future__ import annotations

import getpass
import threading
from pathlib import Path
from typing import Any

from backend.client.client import Client
from tests.helpers import backend, entries, process_gone, wait_for

KEYVALS = [["SYSTEM", "abc"], ["RELEASE", "def"]]


def test_reads_are_stable_while_servers_start_and_stop(area: Path) -> None:
    # The launcher's load throttle is not what this checks (the machine running
    # the suite may be busy): lift it for this area.
    with (area / "megatest.config").open("a") as cfg:
        cfg.write("max-load 1000\n")
    with Client(area) as c:
        # server.scm L24: register-run with five arguments -> 1
        assert c.call("register-run", KEYVALS, "mytestrun", "new", "n/a",
                      getpass.getuser()) == 1
        # server.scm L26: general-call register-test (1 "test-one" "") -> #t
        assert c.call("general-call", "register-test", 1, "test-one", "", run_id=1) is True
        # server.scm L28-30: get-test-id -> 30001 (v1.60's numbering, stale); v1.65: 1
        tid = c.call("get-test-id", "test-one", "", run_id=1)
        assert tid == 1
        # server.scm L32-34: get-test-info-by-id, field 2 -> "test-one"
        record = c.call("get-test-info-by-id", tid, run_id=1)
        assert record["testname"] == "test-one"

    stop = threading.Event()
    reads: list[int] = [0]
    wrong: list[Any] = []

    def reader() -> None:
        with Client(area) as r:
            while not stop.is_set():
                try:
                    got = r.call("get-test-info-by-id", tid, run_id=1)
                except Exception as exc:  # noqa: BLE001 - any failure is a finding
                    wrong.append(repr(exc))
                    return
                if got != record:
                    wrong.append(got)
                reads[0] += 1

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        # server.scm L45-82: start a server, wait until it runs, kill a server,
        # wait until it is gone; three rounds, reads going on throughout.
        for _ in range(3):
            before = reads[0]
            started = backend("start", "--area", str(area), "--db", "1.db")
            assert started.returncode == 0, started.stderr
            wait_for(lambda: entries(area, "1.db"), timeout=20, what="a server of 1.db")
            with Client(area) as k:
                assert k.call("kill-server", run_id=1) is True
                victim = k.last_server
            gone = [e.registration.pid for e in entries(area, "1.db")
                    if e.registration.server_id == victim]
            for pid in gone:
                wait_for(lambda p=pid: process_gone(p),
                         timeout=20, what=f"server pid {pid} to exit")
            wait_for(lambda b=before: reads[0] > b + 5 or wrong, timeout=30,
                     what="reads after the server stopped")
            assert not wrong, wrong[:3]
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert not wrong, wrong[:3]
    assert reads[0] > 15
