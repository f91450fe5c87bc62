"""``backend serve`` as an operator uses it (issue 13 item 5, issue 12 item 12):
one per area, keeps N running, same JSON fields for every state, reaps and
cleans every child before it exits. And ``backend logs`` across restarts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import backend, entries, spawn_backend, wait_for

FIELDS = {"time", "slot", "db", "index", "state", "pid", "server", "server_id", "exit", "reason", "retry_in"}


def stop_serve(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    try:
        proc.send_signal(sig)
        return proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def running(area: Path, n: int = 1) -> list[int]:
    wait_for(lambda: len(entries(area)) == n, 20, what=f"{n} registrations")
    return [e.registration.pid for e in entries(area)]


@pytest.mark.slow
def test_a_second_serve_is_refused_naming_the_first(area: Path) -> None:
    first = spawn_backend("serve", "--area", str(area))
    try:
        running(area)
        r = backend("serve", "--area", str(area), timeout=30)
        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == [
            f"backend: error: another backend serve (pid {first.pid}) already supervises {area.resolve()}; "
            "stop it first"
        ]
        # restart defers to serve in a supervised area.
        r = backend("restart", "--area", str(area), "--all")
        assert r.returncode == 1 and f"backend serve (pid {first.pid})" in r.stderr
    finally:
        out, err = stop_serve(first)
    assert first.returncode == 0, err
    assert entries(area) == []


@pytest.mark.slow
def test_serve_replaces_a_server_that_exits_and_reports_every_field(area: Path) -> None:
    proc = spawn_backend("serve", "--area", str(area), "--json")
    try:
        (pid,) = running(area)
        # A clean exit of its own (here: backend stop) is replaced, not the end.
        backend("stop", "--area", str(area), "--db", "main.db", check=True)
        wait_for(lambda: [e for e in entries(area) if e.registration.pid != pid], 20, what="a replacement")
        out, err = stop_serve(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]  # stdout: JSON lines only
    assert events and all(set(e) == FIELDS for e in events), events
    states = [e["state"] for e in events]
    assert states[:2] == ["STARTING", "RUNNING"] and "BACKOFF" in states and states[-2:] == ["STOPPING", "EXITED"]
    backoff = next(e for e in events if e["state"] == "BACKOFF")
    assert backoff["exit"] == "0" and "on its own" in backoff["reason"] and backoff["pid"] == pid
    running_events = [e for e in events if e["state"] == "RUNNING"]
    assert all(e["server"] and e["server_id"] and e["pid"] for e in running_events)
    assert events[-1]["reason"] == "stopped cleanly" and events[-1]["exit"] in ("0", "SIGTERM")


@pytest.mark.slow
def test_serve_removes_the_file_of_a_child_killed_just_before_its_own_stop(area: Path) -> None:
    """Issue 12 item 12: a child SIGKILLed right before serve gets SIGTERM used
    to leave its registration behind (serve only cleaned up children it had
    noticed dying)."""
    proc = spawn_backend("serve", "--area", str(area), "--servers-per-db", "2")
    try:
        pids = running(area, 2)
        os.kill(pids[0], signal.SIGKILL)
        out, err = stop_serve(proc)  # at once: serve has not noticed the death yet
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert entries(area) == [], out
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids)


@pytest.mark.slow
def test_serve_on_sigint_exits_130_and_above_max_servers_says_so(area: Path) -> None:
    r = backend("serve", "--area", str(area), "--servers-per-db", "9", timeout=30)
    assert r.returncode == 1 and "exceeds max-servers 4" in r.stderr
    proc = spawn_backend("serve", "--area", str(area))
    try:
        running(area)
        out, err = stop_serve(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "code -" not in out and "Traceback" not in err


@pytest.mark.slow
def test_logs_show_newest_first_and_follow_across_restarts(area: Path) -> None:
    with (area / "megatest.config").open("a") as f:
        f.write("max-load 1000\n")
    first = json.loads(backend("start", "--area", str(area), "--db", "main.db", "--json", check=True).stdout)
    r = backend("logs", "--area", str(area), "--db", "main.db", "-n", "3", check=True)
    assert r.stdout.startswith(f"==> logs/server-main.db-{first['pid']}.log <==")
    assert len(r.stdout.splitlines()) == 4
    r = backend("logs", "--area", str(area), "--server-id", first["server_id"][:12], check=True)
    assert f"server-main.db-{first['pid']}.log" in r.stdout
    r = backend("logs", "--area", str(area), "--db", "7.db")
    assert r.returncode == 1 and "no server log for 7.db" in r.stderr

    follower = spawn_backend("logs", "--area", str(area), "-f", "-n", "1")
    try:
        time.sleep(1.0)
        backend("restart", "--area", str(area), "--db", "main.db", check=True)
        second = entries(area)[0].registration
        time.sleep(1.5)
        follower.send_signal(signal.SIGINT)
        out, _ = follower.communicate(timeout=10)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 130
    assert f"==> logs/server-main.db-{second.pid}.log <==" in out
    assert second.server_id in out  # the new server's start-up lines, followed from its first line
    assert "Exiting now" in out  # and the old server's last lines
    r = backend("logs", "--area", str(area), check=True)
    heads = [line for line in r.stdout.splitlines() if line.startswith("==>")]
    assert heads[0] == f"==> logs/server-main.db-{second.pid}.log <==", "newest server first"
