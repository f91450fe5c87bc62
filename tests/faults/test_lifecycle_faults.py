"""Lifecycle faults with real processes (reliability.md §2): SIGTERM under 20
clients, SIGSTOP longer than the client deadline, the idle-timeout race, a
start storm of 50 client processes."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backend.client.client import Client
from backend.config import load_settings
from backend.errors import BackendError, NoServerError
from tests.faults.util import gone, start_server, stop_proc
from tests.helpers import clean_env, entries, wait_for


@pytest.mark.slow
def test_sigterm_with_twenty_clients_mid_request(area: Path) -> None:
    # loaded/busy thresholds high: no scale-out, so the only server is the one we stop
    proc, e = start_server(area, drain_timeout="5", loaded_threshold="1000", busy_threshold="1000")
    acked: list[list[str]] = [[] for _ in range(20)]
    outcomes: list[str] = []
    go, stop = threading.Event(), threading.Event()

    def client(i: int) -> None:
        with Client(area, launch=None) as c:
            go.wait()
            j = 0
            while not stop.is_set():
                key = f"c{i}-{j}"
                j += 1
                try:
                    c.call("set-var", key, "v", deadline=2)
                except NoServerError:
                    outcomes.append("no server")
                    return
                except BackendError as exc:  # anything else is a defect
                    outcomes.append(f"unexpected {type(exc).__name__}: {exc}")
                    return
                acked[i].append(key)
            outcomes.append("stopped")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    go.set()
    time.sleep(0.8)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(30)
    stop_proc(proc)
    assert not e.path.exists()
    assert all(o in ("no server", "stopped") for o in outcomes), outcomes
    assert outcomes.count("no server") == 20, outcomes
    total = sum(len(a) for a in acked)
    assert total > 20, total
    conn = sqlite3.connect(f"file:{area / '.mtdb' / 'main.db'}?mode=ro", uri=True)
    try:
        present = {v for (v,) in conn.execute("SELECT var FROM metadat")}
    finally:
        conn.close()
    missing = [k for a in acked for k in a if k not in present]
    assert not missing, missing[:5]


@pytest.mark.slow
def test_sigstop_longer_than_the_deadline_fails_over_without_double_apply(area: Path) -> None:
    (p1, e1), (p2, _) = start_server(area), start_server(area)
    settings = load_settings(area).replace(request_timeout=1.0, ping_timeout=0.5)
    try:
        with Client(area, settings, launch=None) as c:
            c.call("set-var", "x", "0")
            used = c._conns["main.db"].server_id
            paused = p1 if e1.registration.server_id == used else p2
            paused.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            c.call("set-var", "x", "1", deadline=8)  # times out on the paused one, then fails over
            assert time.monotonic() - t0 < 6
            assert c._conns["main.db"].server_id != used
            c.call("set-var", "x", "2")
            paused.send_signal(signal.SIGCONT)
            # the resumed server now reads the stale "x=1" it was sent; its idempotency
            # key was used on the other server, so it must not apply it again
            time.sleep(1.0)
            assert c.call("get-var", "x") == "2"
            assert paused.poll() is None
    finally:
        stop_proc(p1)
        stop_proc(p2)


@pytest.mark.slow
def test_requests_around_the_idle_timeout_are_served_or_cleanly_refused(area: Path) -> None:
    (area / "megatest.config").write_text(
        (area / "megatest.config").read_text().replace("idle-timeout 30", "idle-timeout 1")
    )
    rng = random.Random(7)
    keys = []
    with Client(area) as c:
        for i in range(8):
            c.call("set-var", f"k{i}", str(i), deadline=20)  # served (maybe by a new server)
            keys.append(f"k{i}")
            time.sleep(rng.uniform(0.85, 1.25))
        assert [c.call("get-var", k) for k in keys] == [str(i) for i in range(8)]
    wait_for(lambda: not entries(area, "main.db"), 20, what="idle exit")


STORM = r"""
import sys
from backend.client.client import Client
with Client(sys.argv[1]) as c:
    c.call("set-var", "s" + sys.argv[2], "1", deadline=60)
"""


@pytest.mark.slow
def test_start_storm_of_fifty_clients_starts_at_most_max_servers(area: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", STORM, str(area), str(i)], env=clean_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for i in range(50)
    ]
    most = 0
    seen: set[int] = set()
    while any(p.poll() is None for p in procs):
        live = [x for x in entries(area, "main.db") if not gone(x.registration.pid)]
        most = max(most, len(live))
        seen |= {x.registration.pid for x in live}
        time.sleep(0.02)
    errs = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), [x for x in errs if x][:3]
    assert 1 <= most <= 4, most
    assert len(seen) <= 4, seen
    with Client(area, launch=None) as c:
        assert all(c.call("get-var", f"s{i}") == "1" for i in range(50))
