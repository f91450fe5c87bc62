"""Operating the pool with real processes (issue 13): stop --force, prune,
restart, a typo that starts nothing, the run check, input checks.

Every test that SIGSTOPs a server SIGCONTs it in ``finally``; the ``area``
fixture kills and reaps whatever names the area.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from backend import registry
from backend.registry import Registration
from tests.helpers import area_processes, backend, clean_env, entries, wait_for


@pytest.fixture(autouse=True)
def _any_load(area: Path) -> None:
    # Other work on this machine must not refuse our explicit starts (the load limit).
    with (area / "megatest.config").open("a") as f:
        f.write("max-load 1000\n")


def start(area: Path, db: str = "main.db") -> dict[str, object]:
    r = backend("start", "--area", str(area), "--db", db, "--json", check=True)
    info: dict[str, object] = json.loads(r.stdout)
    return info


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def plant(area: Path, reg: Registration, mtime: float | None = None) -> Path:
    d = area / ".servinfo"
    d.mkdir(exist_ok=True)
    path = registry.publish(d, reg)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


# -- stop --force -----------------------------------------------------------------


def test_stop_force_ends_a_frozen_server_and_removes_its_file(area: Path) -> None:
    info = start(area)
    pid = int(str(info["pid"]))
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = backend("stop", "--area", str(area), "--db", "main.db", "--force", "--timeout", "2")
        took = time.monotonic() - t0
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
    assert r.returncode == 0, r.stderr
    assert "ended by SIGTERM" in r.stdout or "SIGKILL" in r.stdout, r.stdout
    wait_for(lambda: gone(pid), 10, what="the frozen server to end")
    assert entries(area) == []
    print(f"stop --force of a frozen server: {took:.2f}s")


def test_stop_force_escalates_to_sigkill(area: Path) -> None:
    info = start(area)
    pid = int(str(info["pid"]))
    os.kill(pid, signal.SIGSTOP)
    try:
        # 1 ms between SIGTERM and SIGKILL: far less than a server needs to drain and exit.
        r = backend("stop", "--area", str(area), "--db", "main.db", "--force", "--kill-after", "0.001",
                    "--json")
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
    assert r.returncode == 0, r.stderr
    (res,) = json.loads(r.stdout)["servers"]
    assert res["stopped"] and "SIGKILL" in res["outcome"], res
    assert gone(pid) and entries(area) == []


def test_stop_force_never_signals_a_process_not_proven_ours(area: Path) -> None:
    # A registration naming a live process of ours that is not a server of this area.
    victim = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(60)", str(area)])
    try:
        created = psutil.Process(victim.pid).create_time()
        reg = Registration("127.0.0.1", 1, time.time(), "f" * 32, victim.pid, "main.db",
                           {"hostname": os.uname().nodename, "proc-start": f"{created:.3f}"})
        plant(area, reg)
        r = backend("stop", "--area", str(area), "--db", "main.db", "--force", "--timeout", "0.5")
        assert r.returncode == 1
        assert "not proven" in r.stdout + r.stderr and "not signalled" in r.stdout + r.stderr
        assert victim.poll() is None, "a process that is not our server was signalled"
    finally:
        victim.kill()
        victim.wait()


def test_stop_force_on_another_hosts_server_says_it_cannot(area: Path) -> None:
    reg = Registration("192.0.2.7", 4000, time.time(), "e" * 32, 4242, "main.db", {"hostname": "elsewhere"})
    plant(area, reg)
    r = backend("stop", "--area", str(area), "--db", "main.db", "--force", "--timeout", "0.2")
    assert r.returncode == 1
    assert "cannot signal a process on another host" in r.stdout
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_stop_of_a_dead_servers_file_removes_it(area: Path) -> None:
    info = start(area)
    pid = int(str(info["pid"]))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: gone(pid), 10)
    r = backend("stop", "--area", str(area), "--db", "main.db")
    assert r.returncode == 0, r.stderr
    assert "not running" in r.stdout and entries(area) == []


def test_stop_all_with_nothing_running_exits_0(area: Path) -> None:
    r = backend("stop", "--area", str(area), "--all")
    assert r.returncode == 0 and r.stdout.strip() == "nothing to stop"
    r = backend("stop", "--area", str(area), "--all", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"servers": [], "standby": "not running"}


def test_stop_shows_one_progress_line_on_a_terminal(area: Path) -> None:
    info = start(area)
    pid = int(str(info["pid"]))
    os.kill(pid, signal.SIGSTOP)
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "backend", "stop", "--area", str(area), "--db", "main.db", "--force"],
            stdout=subprocess.PIPE, stderr=follower, env=clean_env(), timeout=60,
        )
        os.close(follower)
        err = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(leader)
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
    assert proc.returncode == 0
    assert err.decode().count("waiting for 1 server to exit") == 1, err
    # Not a terminal: no progress line.
    info = start(area)
    r = backend("stop", "--area", str(area), "--db", "main.db")
    assert r.returncode == 0 and r.stderr == ""


# -- prune ------------------------------------------------------------------------


def test_prune_removes_a_killed_servers_file_and_keeps_a_live_one(area: Path) -> None:
    live = start(area)
    dead = start(area)
    dead_pid = int(str(dead["pid"]))
    os.kill(dead_pid, signal.SIGKILL)
    wait_for(lambda: gone(dead_pid), 10)
    # Another host's file, fresh: never removed (its server may be alive over there).
    plant(area, Registration("192.0.2.7", 4000, time.time(), "e" * 32, 4242, "main.db", {"hostname": "far"}))
    # Another host's file, stale and silent: provably dead by the spec's rule.
    stale = plant(area, Registration("192.0.2.8", 4001, 1000.0, "d" * 32, 4243, "main.db", {"hostname": "far"}),
                  mtime=time.time() - 3600)

    r = backend("prune", "--area", str(area), "--dry-run", "--json", check=True)
    planned = json.loads(r.stdout)
    assert planned["dry_run"] is True
    assert len(entries(area)) == 4, "a dry run removes nothing"
    names = {p["name"]: p for p in planned["pruned"] if p["kind"] == "registration"}
    assert set(names) == {f"127.0.0.1:{str(dead['server']).split(':')[1]}-{dead_pid}:main.db", stale.name}

    r = backend("prune", "--area", str(area), check=True)
    assert f"process {dead_pid} is gone" in r.stdout and "untouched for" in r.stdout
    left = {e.registration.pid for e in entries(area)}
    assert left == {int(str(live["pid"])), 4242}
    assert backend("prune", "--area", str(area), check=True).stdout.strip() == "nothing to prune"
    r = backend("events", "--area", str(area), "--json", check=True)
    pruned = [e for e in map(json.loads, r.stdout.splitlines()) if e.get("kind") == "pruned"]
    assert {e["pid"] for e in pruned} == {dead_pid, 4243}
    # The live server still serves.
    assert backend("call", "--area", str(area), "get-var", "x", check=True).stdout == "null\n"


# -- restart ----------------------------------------------------------------------


def test_restart_starts_a_new_server_before_stopping_the_old(area: Path) -> None:
    old = start(area)
    r = backend("restart", "--area", str(area), "--db", "main.db", "--json", check=True)
    (res,) = json.loads(r.stdout)
    assert res["ok"] and res["new"]["pid"] != old["pid"]
    assert [s["stopped"] for s in res["stopped"]] == [True]
    (e,) = entries(area)
    assert e.registration.pid == res["new"]["pid"]
    wait_for(lambda: gone(int(str(old["pid"]))), 10)
    assert backend("call", "--area", str(area), "get-var", "x", check=True).returncode == 0


def test_restart_all_with_nothing_registered(area: Path) -> None:
    r = backend("restart", "--area", str(area), "--all")
    assert r.returncode == 0 and "nothing to restart" in r.stdout


# -- a CLI without surprises ------------------------------------------------------


def test_a_typo_starts_nothing(area: Path) -> None:
    r = backend("call", "--area", str(area), "set-vra", "x", "1", timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "backend: error: unknown_command: unknown command 'set-vra'; did you mean 'set-var'?"
    ]
    # A wrong number of params: the server's own answer, and nothing started either.
    r = backend("call", "--area", str(area), "set-var", "x", timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip() == "backend: error: bad_request: expected 2 params, got 1"
    assert not area_processes(area), "no server and no standby"
    assert not (area / ".servinfo").exists() or entries(area) == []


def test_an_unknown_run_starts_no_server_for_its_db(area: Path) -> None:
    backend("call", "--area", str(area), "register-run", '{"SYSTEM":"x"}', "r1", check=True)
    r = backend("call", "--area", str(area), "--run-id", "99999", "get-tests-for-run", "%", timeout=30)
    assert r.returncode == 1 and "unknown run-id 99999" in r.stderr
    assert entries(area, "9.db") == []
    assert not [p for p in area_processes(area) if "9.db" in " ".join(p.cmdline())]
    # A known run goes through, and the variables need no run.
    assert backend("call", "--area", str(area), "--run-id", "1", "get-tests-for-run", "%",
                   check=True).stdout.strip() == "[]"
    backend("call", "--area", str(area), "--run-id", "99999", "set-var", "x", "1", check=True)


def test_params_true_is_stored_as_text_and_broken_json_is_an_error(area: Path) -> None:
    backend("call", "--area", str(area), "set-var", "debug", "true", check=True)
    assert backend("call", "--area", str(area), "get-var", "debug", check=True).stdout == "true\n"
    r = backend("call", "--area", str(area), "set-var", "x", '{"a": 1')
    assert r.returncode == 1 and "looks like JSON but does not parse" in r.stderr


@pytest.mark.parametrize("args", [["list"], ["start", "--db", "01.db"], ["call", "no-such"]])
def test_errors_are_one_line(area: Path, args: list[str]) -> None:
    cmd, *rest = args
    r = backend(cmd, "--area", str(area), *rest)
    if r.returncode:
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_version_and_exit_codes_in_help() -> None:
    r = backend("--version", check=True)
    assert r.stdout.startswith("backend ")
    for cmd in ("stop", "prune", "logs", "call"):
        assert "130" in backend(cmd, "--help", check=True).stdout
    text = backend("call", "--help", check=True).stdout
    assert "set-var" in text and "get-tests-for-run" in text
