"""A frozen server (SIGSTOP: registered, pid alive, never answering) must not tax
calls (issue 13 item 1), and shows as UNRESPONSIVE. Every test SIGCONTs what it
stopped, in ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backend import suspects
from backend.area import Area
from backend.client.client import Client
from backend.config import load_settings
from tests.helpers import backend, entries, wait_for


@pytest.fixture(autouse=True)
def _any_load(area: Path) -> None:
    # Other work on this machine must not refuse our explicit starts (the load limit).
    with (area / "megatest.config").open("a") as f:
        f.write("max-load 1000\n")


def start_two(area: Path) -> list[int]:
    pids = []
    for _ in range(2):
        r = backend("start", "--area", str(area), "--db", "main.db", "--json", check=True)
        pids.append(json.loads(r.stdout)["pid"])
    wait_for(lambda: len(entries(area, "main.db")) == 2, what="two servers")
    return pids


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def timed_calls(area: Path, n: int = 5) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.monotonic()
        backend("call", "--area", str(area), "set-var", "k", str(i), check=True)
        times.append(time.monotonic() - t0)
    return times


@pytest.mark.slow
def test_a_frozen_server_costs_calls_almost_nothing(area: Path) -> None:
    # A 2 s ping timeout (the default) is what a frozen server used to cost every call.
    (area / "megatest.config").write_text((area / "megatest.config").read_text() + "ping-timeout 2\n")
    pids = start_two(area)
    baseline = statistics.median(timed_calls(area))
    newest = entries(area, "main.db")[0].registration
    with frozen(newest.pid):
        with_frozen = timed_calls(area)
        listing = json.loads(backend("list", "--area", str(area), "--json", check=True).stdout)
    states = {s["pid"]: s["state"] for s in listing["servers"]}
    print(f"median call: {baseline:.3f}s healthy, {statistics.median(with_frozen):.3f}s with one frozen "
          f"(all: {[round(t, 3) for t in with_frozen]})")
    assert statistics.median(with_frozen) < baseline + 0.3
    assert states[newest.pid] == "UNRESPONSIVE"
    assert {states[p] for p in pids if p != newest.pid} == {"RUNNING"}


@pytest.mark.slow
def test_a_library_client_fails_over_from_a_server_that_freezes_mid_request(area: Path) -> None:
    start_two(area)
    settings = load_settings(area).replace(ping_timeout=0.5)
    with Client(Area.open(area), settings) as client:
        client.call("set-var", "k", "v")
        used = client.last_server
        victim = next(e.registration for e in entries(area) if f"{e.registration.host}:{e.registration.port}" == used)
        with frozen(victim.pid):
            t0 = time.monotonic()
            # A write with its idempotency key: safe to send to the other server.
            client.call("set-var", "k", "w")
            took = time.monotonic() - t0
            assert client.last_server != used
            assert client.call("get-var", "k") == "w"
            # Remembered across processes for suspect-ttl.
            assert suspects.is_suspect(area / ".servinfo", victim)
    print(f"fail-over from a frozen server: {took:.2f}s")
    assert took < 5, took


def test_suspect_notes_expire_and_ignore_other_server_ids(area: Path) -> None:
    from backend.registry import Registration

    d = area / ".servinfo"
    d.mkdir()
    reg = Registration("127.0.0.1", 1, 1.0, "abc", 42, "main.db")
    other = Registration("127.0.0.1", 1, 1.0, "xyz", 42, "main.db")
    now = time.time()
    assert not suspects.is_suspect(d, reg, now)
    suspects.mark(d, reg, 30, now)
    assert suspects.is_suspect(d, reg, now + 29)
    assert not suspects.is_suspect(d, reg, now + 31)
    assert not suspects.is_suspect(d, other, now)
    # A forged note far in the future is ignored.
    suspects.note_path(d, reg).write_text(f"server-id abc until {now + 10**6}\n")
    assert not suspects.is_suspect(d, reg, now)
    suspects.clear(d, reg)
    assert not suspects.note_path(d, reg).exists()
