"""``status.classify``: one registration + an optional ping -> a state word (P10, P2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend import procs
from backend.client import status
from backend.registry import Entry, Registration
from backend.wire.connection import PingResult

NOW = 1_700_000_000.0
STALE_AFTER = 360.0


def entry(pid: int | None = None, mtime: float = NOW - 1, **extras: str) -> Entry:
    reg = Registration(
        "127.0.0.1", 40001, NOW - 100, "sid-file", os.getpid() if pid is None else pid,
        "main.db", dict(extras),
    )
    return Entry(Path("/x") / reg.name, reg, mtime, 1)


def answer(
    server_id: str = "sid-file", sstate: str | None = "running", sload: int = 3
) -> PingResult:
    return PingResult(ok=True, server_id=server_id, sstate=sstate, sload=sload, rtt_ms=1.5)


FAILED = PingResult(ok=False, error="connection refused")


@pytest.fixture(scope="module")
def dead() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(10)
    return p.pid


def classify(e: Entry, ping: PingResult | None, now: float = NOW) -> str:
    return status.classify(e, ping, now, STALE_AFTER)


@pytest.mark.parametrize(
    ("sstate", "want"),
    [
        ("running", status.RUNNING),
        ("starting", status.STARTING),
        ("shutting-down", status.SHUTTING_DOWN),
        ("exploded", status.UNKNOWN),
        (None, status.UNKNOWN),
    ],
)
def test_answer_with_file_server_id(sstate: str | None, want: str) -> None:
    assert classify(entry(), answer(sstate=sstate)) == want


def test_answer_wins_over_stale_and_dead(dead: int) -> None:
    """A server that answers with the file's id is alive, however old its mtime."""
    e = entry(pid=dead, mtime=NOW - 10_000)
    assert classify(e, answer()) == status.RUNNING


def test_other_server_answering_is_mismatch(dead: int) -> None:
    """P10: a reused port answered by another server is never taken for this one."""
    assert classify(entry(), answer(server_id="someone-else")) == status.MISMATCH
    assert classify(entry(pid=dead, mtime=NOW - 10_000), answer(server_id="x")) == status.MISMATCH


def test_no_answer_states(dead: int) -> None:
    live = entry()
    assert classify(live, None) == status.UNKNOWN  # not pinged yet
    assert classify(live, FAILED) == status.UNRESPONSIVE
    gone = entry(pid=dead)
    assert classify(gone, FAILED) == status.DEAD
    assert classify(gone, None) == status.DEAD
    old = entry(mtime=NOW - STALE_AFTER - 1)
    assert classify(old, FAILED) == status.STALE
    assert classify(old, None) == status.STALE
    assert classify(entry(mtime=NOW - STALE_AFTER), FAILED) == status.UNRESPONSIVE


def test_remote_registration_never_judged_by_pid(dead: int) -> None:
    remote = entry(pid=dead, hostname="far-away.example")
    assert classify(remote, FAILED) == status.UNRESPONSIVE
    assert classify(remote, None) == status.UNKNOWN


def test_reused_pid_is_dead() -> None:
    e = entry(**{"proc-start": "1000.0", "hostname": procs.this_hostname()})
    assert classify(e, FAILED) == status.DEAD


def test_clock_skew_future_mtime_not_stale() -> None:
    assert classify(entry(mtime=NOW + 300), FAILED) == status.UNRESPONSIVE


def test_make_row_and_json() -> None:
    e = entry(mtime=NOW - 2)
    row = status.make_row(e, answer(sload=7), STALE_AFTER)
    assert row.state == status.RUNNING and row.remote is False
    j = row.as_json(now=NOW)
    assert j["name"] == e.name and j["server"] == "127.0.0.1:40001"
    assert j["state"] == "RUNNING" and j["load"] == 7 and j["ping_ms"] == 1.5
    assert j["age_s"] == 100.0 and j["touched_s"] == 2.0 and j["error"] is None
    bad = status.make_row(entry(hostname="far.example"), FAILED, STALE_AFTER).as_json(now=NOW)
    assert bad["remote"] is True and bad["error"] == "connection refused"
    assert bad["load"] is None and bad["ping_ms"] is None


@pytest.mark.parametrize(
    ("secs", "text"),
    [(-0.5, "0s"), (-5, "-5s"), (-3600, "-1h00m"),
     (0, "0s"), (59.9, "59s"), (60, "1m00s"), (3599, "59m59s"), (3600, "1h00m"),
     (86399, "23h59m"), (86400, "1d00h"), (90061, "1d01h")],
)
def test_human_duration(secs: float, text: str) -> None:
    assert status.human_duration(secs) == text
