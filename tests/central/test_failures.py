"""Failures against a real PostgreSQL: a sync killed mid-way, the central database
down (for ``backend sync`` and for ``backend serve --sync-to``), no driver."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from backend.central.schema import migrate
from tests.central.util import counts, demo_area, local, rows
from tests.helpers import backend, clean_env, spawn_backend, wait_for


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://mt:secret@127.0.0.1:{port}/central"


def _json_lines(proc: subprocess.Popen[str], want, timeout: float = 30):  # type: ignore[no-untyped-def]
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            break
        seen.append(json.loads(line) if line.startswith("{") else line)
        if isinstance(seen[-1], dict) and want(seen[-1]):
            return seen
    raise AssertionError(f"never saw the event; got {seen}")


def _events(area: Path) -> list[dict]:  # type: ignore[type-arg]
    res = backend("events", "--area", str(area), "--json", check=True)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def test_kill_9_mid_sync_leaves_central_consistent_and_next_sync_completes(
        tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=5)
    with psycopg.connect(central_url, autocommit=True) as setup:
        migrate(setup)
    locker = psycopg.connect(central_url)
    # pg_stat_activity is a snapshot per transaction: poll from autocommit.
    watcher = psycopg.connect(central_url, autocommit=True)
    proc = None
    try:
        # Hold test_steps: the pass writes its area, runs and tests, then blocks.
        locker.execute("LOCK TABLE test_steps IN ACCESS EXCLUSIVE MODE")
        proc = spawn_backend("sync", "--area", str(root), "--to", central_url)

        def blocked_after_writing_tests() -> int | None:
            got = watcher.execute(
                "SELECT a.pid FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock' "
                "AND a.datname = current_database() AND EXISTS (SELECT 1 FROM pg_locks l "
                "JOIN pg_class c ON c.oid = l.relation WHERE l.pid = a.pid AND c.relname = 'tests' "
                "AND l.granted)").fetchone()
            return got[0] if got else None

        backend_pid = wait_for(blocked_after_writing_tests, timeout=30, what="the sync to block mid-way")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
        locker.rollback()  # let go: the orphaned server backend finds its client gone
        wait_for(lambda: not watcher.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                             (backend_pid,)).fetchone(), what="the orphan to end")
    finally:
        locker.close()
        watcher.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    # Nothing of the killed pass is visible: not even the area's registration.
    assert {t: n for t, n in counts(central_url).items() if n} == {"areas": 1}  # the seed row 'local'
    assert rows(central_url, "SELECT count(*) FROM mt_sync_marks") == [(0,)]
    res = backend("sync", "--area", str(root), "--to", central_url, "--json")
    assert res.returncode == 0, res.stderr
    got = counts(central_url)
    assert (got["runs"], got["tests"], got["test_steps"], got["test_data"]) == (1, 15, 40, 20)


def test_central_down_is_one_line_and_the_area_keeps_working(area: Path) -> None:
    demo_area(area, tests=1)
    dead = _dead_url()
    res = backend("sync", "--area", str(area), "--to", dead)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("backend: error: cannot connect to ")
    assert "secret" not in res.stderr and "Connection refused" in res.stderr
    res = backend("central", "--to", dead, "runs")
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    # The area itself is untouched and served as before.
    res = backend("call", "--area", str(area), "get-keys")
    assert res.returncode == 0 and json.loads(res.stdout) == ["SYSTEM", "RELEASE"]


def test_no_destination_and_bad_destinations_are_one_line(area: Path) -> None:
    for args, needle in (
        ([], "no central database"),
        (["--to", "mysql://x/y"], "only postgresql://"),
        (["--to", "pgdb"], "no [ext-sync] pgdb"),
    ):
        res = backend("sync", "--area", str(area), *args)
        assert res.returncode == 1 and res.stderr.count("\n") == 1 and needle in res.stderr, res.stderr


def test_serve_backs_off_while_central_is_down_and_servers_keep_serving(area: Path) -> None:
    demo_area(area, tests=1)
    proc = spawn_backend("serve", "--area", str(area), "--json", "--sync-to", _dead_url(), "--sync-every", "1")
    try:
        seen = _json_lines(proc, lambda e: e.get("sync") == "error" and e.get("retry_in") == 4.0)
        errors = [e for e in seen if isinstance(e, dict) and e.get("sync") == "error"]
        assert [e["retry_in"] for e in errors] == [1.0, 2.0, 4.0]  # back-off, not a retry storm
        assert all("secret" not in e["error"] and "cannot connect" in e["error"] for e in errors)
        assert any(isinstance(e, dict) and e.get("state") == "RUNNING" for e in seen)
        res = backend("call", "--area", str(area), "get-keys")
        assert res.returncode == 0, res.stderr
        # The state is visible where operators look: backend stats (text and JSON).
        res = backend("stats", "--area", str(area), "--interval", "0")
        assert res.returncode == 0 and "central sync FAILING: " in res.stdout, (res.stdout, res.stderr)
        assert "cannot connect" in res.stdout and "secret" not in res.stdout
        res = backend("stats", "--area", str(area), "--interval", "0", "--json")
        sync = json.loads(res.stdout)["sync"]
        assert sync["state"] in ("backoff", "syncing") and sync["errors"] >= 3 and sync["pid"] == proc.pid
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err  # Ctrl-C exits 130 (docs/operations.md)
        stopped = [json.loads(line) for line in out.splitlines() if '"stopped"' in line]
        assert stopped and stopped[0]["errors"] >= 3 and stopped[0]["passes"] == 0
        # The area's history has the failure once, not once per retry.
        hist = _events(area)
        failed = [e for e in hist if e["kind"] == "sync_failed"]
        assert len(failed) == 1 and "cannot connect" in failed[0]["error"] and "secret" not in failed[0]["error"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_serve_syncs_in_the_background(area: Path, central_url: str) -> None:
    demo_area(area, tests=2)
    # No flag: the area's own [sync] section turns the background sync on.
    with open(area / "megatest.config", "a") as cfg:
        cfg.write(f"[sync]\nto {central_url}\nevery 0.5\n")
    proc = spawn_backend("serve", "--area", str(area), "--json", "--metrics-port", "0")
    try:
        seen = _json_lines(proc, lambda e: e.get("sync") == "ok")
        first = seen[-1]
        assert first["written"] == 1 + 6 + 16 + 8
        # /metrics of this serve process carries the sync's state.
        (url,) = [str(line).split()[-1] for line in seen if str(line).startswith("metrics on ")]
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        assert f'mtserve_sync_up{{area="{area}"}} 1.0' in text
        assert f'mtserve_sync_rows_total{{area="{area}"}} 31.0' in text
        (run_id,), = local(area, "main.db", "SELECT id FROM runs")
        tid = json.loads(backend("call", "--area", str(area), "--run-id", str(run_id), "get-test-id",
                                 "test01", "item/1", check=True).stdout)
        backend("call", "--area", str(area), "--run-id", str(run_id), "test-set-state-status-by-id",
                str(tid), "COMPLETED", "ABORT", "killed by hand", check=True)
        _json_lines(proc, lambda e: e.get("sync") == "ok" and e["written"] >= 1)
        assert rows(central_url, "SELECT status, comment FROM tests WHERE test_name = 'test01' "
                    "AND item_path = 'item/1'") == [("ABORT", "killed by hand")]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_missing_driver_is_one_line_and_other_commands_never_load_it(area: Path, tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "psycopg"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('psycopg hidden by the test')\n")
    env = {**clean_env(), "PYTHONPATH": str(shim.parent)}
    res = backend("sync", "--area", str(area), "--to", "postgresql://x@127.0.0.1/y", env=env)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "mtserve[central]" in res.stderr
    code = ("import sys; import backend.cli, backend.server.server, backend.client.client, backend.ops.supervisor; "
            "sys.exit('psycopg' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], env=clean_env(), timeout=60).returncode == 0


@pytest.mark.parametrize("every", ["0", "soon", "-1"])
def test_bad_sync_every_is_one_line(area: Path, every: str) -> None:
    res = backend("serve", "--area", str(area), "--sync-to", "postgresql://x@127.0.0.1/y", "--sync-every", every)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "sync every" in res.stderr
