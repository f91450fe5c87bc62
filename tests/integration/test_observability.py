"""Counters, ``stats``, Prometheus metrics and the event history, with real servers
(docs/observability.md)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backend import events
from backend.area import Area
from backend.client.client import Client
from backend.client.statsfetch import fetch_area
from backend.config import load_settings
from backend.errors import RemoteError
from backend.stats import ServerStats
from backend.wire import protocol
from backend.wire.connection import Connection
from tests.helpers import backend, clean_env, entries, spawn_backend, wait_for
from tests.integration.test_lifecycle import start_fg, stop_proc


def _stats(area: Path) -> ServerStats:
    [sample] = fetch_area(Area(area), load_settings(area))
    assert sample.stats is not None, sample.error
    return sample.stats


def _events(area: Path, kind: str | None = None) -> list[dict[str, Any]]:
    got = events.read_events(Area(area))
    return [e for e in got if kind is None or e["kind"] == kind]


def _samples(text: str) -> dict[str, list[Any]]:
    """Every sample of a Prometheus exposition, by sample name (parsed by prometheus_client)."""
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def _traffic(area: Path, n: int) -> None:
    """n set-var (ok), 3 get-var without params (bad_request), 2 unknown commands."""
    with Client(area) as client:
        for i in range(n):
            client.call("set-var", f"k{i}", "v")
        for _ in range(3):
            with pytest.raises(RemoteError) as err:
                client.call("get-var")
            assert err.value.code == "bad_request"
        for _ in range(2):
            with pytest.raises(RemoteError) as err:
                client.call("no-such-command")
            assert err.value.code == "unknown_command"


def test_counters_count_known_traffic_by_command_and_code(area: Path) -> None:
    proc, entry = start_fg(area)
    try:
        n = 17
        _traffic(area, n)
        reg = entry.registration
        # One wrong token: an auth failure, counted under its command and as such.
        conn = Connection(reg.host, reg.port, 2)
        conn.ping(2)
        resp = conn.request(["get-keys", None, [], {"auth": "0" * 64}], 2)
        assert resp.error_code == "unauthorized"
        conn.close()

        s = _stats(area)
        assert s.server_id == reg.server_id and s.pid == proc.pid and s.dbfname == "main.db"
        setvar = s.commands["set-var"]
        assert setvar.outcomes == {"ok": n}
        assert sum(setvar.buckets) == n and setvar.sum_s > 0
        assert s.commands["get-var"].outcomes == {"bad_request": 3}
        assert sum(s.commands["get-var"].buckets) == 3
        assert s.commands["(unknown)"].outcomes == {"unknown_command": 2}
        assert s.commands["get-keys"].outcomes == {"unauthorized": 1}
        assert s.auth_failures == 1
        # Every set-var ran in a transaction of its own (one client, one at a time);
        # the 3 bad get-var reached the db thread too.
        assert s.db_commits >= n + 3
        assert sum(s.batch_buckets) == s.db_commits
        assert s.db_file_bytes > 0
        assert s.bytes_in > 0 and s.bytes_out > s.bytes_in
        assert s.connections_total >= 2 and s.connections_open >= 1
        assert s.inflight == 0 and s.state == "running" and s.uptime_s > 0
        assert s.errors == 6 and s.requests >= n + 6

        # The same through the CLI, and the table names the server.
        r = backend("stats", "--area", str(area), "--json", "--interval", "0.2", check=True)
        data = json.loads(r.stdout)
        [row] = data["servers"]
        assert row["commands"]["set-var"]["count"] == n
        assert row["errors"] == 6 and row["auth_failures"] == 1
        assert data["total"]["requests"] == row["requests"] and data["dbs"]["main.db"]["servers"] == 1
        assert row["rate_now"] is not None and row["p99_ms"] is not None
        r = backend("stats", "--area", str(area), check=True)
        assert f"{reg.host}:{reg.port}" in r.stdout and "P99MS" in r.stdout
    finally:
        stop_proc(proc)


def test_stats_needs_authentication(area: Path) -> None:
    proc, entry = start_fg(area)
    try:
        reg = entry.registration
        conn = Connection(reg.host, reg.port, 2)
        conn.ping(2)
        resp = conn.request(["stats", None, [], None], 2)
        assert resp.status == protocol.ERROR and resp.error_code == "unauthorized"
        assert resp.result is None
        conn.close()
    finally:
        stop_proc(proc)


def test_stats_with_no_server_is_a_one_line_error(area: Path) -> None:
    r = backend("stats", "--area", str(area))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no server registered" in r.stderr
    r = backend("stats", "--area", str(area), "--db", "1.db")
    assert r.returncode == 1 and "no server registered for 1.db" in r.stderr
    r = backend("stats", "--area", str(area), "--db", "../x.db")
    assert r.returncode == 1 and "invalid dbfname" in r.stderr
    r = backend("stats", "--area", str(area), "--interval", "-1")
    assert r.returncode != 0 and r.stderr.count("\n") == 1


def test_metrics_output_parses_and_counts_the_traffic(area: Path) -> None:
    proc, entry = start_fg(area)
    try:
        n = 9
        _traffic(area, n)
        r = backend("metrics", "--area", str(area), check=True)
        samples = _samples(r.stdout)
        reg = entry.registration
        base = {"area": str(area.resolve()), "dbfname": "main.db", "server_id": reg.server_id,
                "pid": str(reg.pid)}

        def one(name: str, **labels: str) -> float:
            want = {**base, **labels}
            got = [s.value for s in samples[name] if all(s.labels.get(k) == v for k, v in want.items())]
            assert len(got) == 1, (name, labels, got)
            return float(got[0])

        assert one("mtserve_up") == 1
        assert one("mtserve_requests_total", command="set-var", code="ok") == n
        assert one("mtserve_requests_total", command="get-var", code="bad_request") == 3
        assert one("mtserve_requests_total", command="(unknown)", code="unknown_command") == 2
        assert one("mtserve_request_duration_seconds_count", command="set-var") == n
        assert one("mtserve_request_duration_seconds_bucket", command="set-var", le="+Inf") == n
        assert one("mtserve_inflight_requests") == 0
        assert one("mtserve_db_commits_total") >= n
        assert one("mtserve_db_bytes", file="db") > 0
        assert one("mtserve_auth_failures_total") == 0
        assert one("mtserve_connections") >= 1
        [servers] = [s for s in samples["mtserve_servers"] if s.labels["state"] == "RUNNING"]
        assert servers.value == 1 and servers.labels["dbfname"] == "main.db"
        assert all(s.labels["host"] for s in samples["mtserve_up"])
    finally:
        stop_proc(proc)


def _first_line(proc: subprocess.Popen[str], pattern: str, timeout: float = 20) -> re.Match[str]:
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        m = re.search(pattern, line)
        if m:
            return m
        assert line or proc.poll() is None, f"serve ended: {proc.stderr.read() if proc.stderr else ''}"
    raise AssertionError(f"no line matching {pattern!r}")


def test_serve_metrics_port_is_scraped_over_http_and_events_record_the_life(area: Path) -> None:
    proc = spawn_backend("serve", "--area", str(area), "--metrics-port", "0")
    try:
        port = int(_first_line(proc, r"metrics on http://127\.0\.0\.1:(\d+)/metrics").group(1))
        _first_line(proc, r"RUNNING")
        with Client(area) as client:
            client.call("set-var", "a", "b")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            assert resp.status == 200
            text = resp.read().decode()
        samples = _samples(text)
        [up] = samples["mtserve_up"]
        assert up.value == 1
        [setvar] = [s for s in samples["mtserve_requests_total"] if s.labels["command"] == "set-var"]
        assert setvar.value == 1
        child = int(up.labels["pid"])
        # kill -9: the supervisor sees the crash and restarts the slot.
        os.kill(child, signal.SIGKILL)
        crashed = wait_for(lambda: _events(area, events.CRASHED), 20, what="crashed event")
        assert crashed[0]["pid"] == child and crashed[0]["code"] == -signal.SIGKILL
        assert crashed[0]["last_log_line"]  # the server logged before it was killed
        restarted = wait_for(lambda: _events(area, events.RESTARTED), 20, what="restarted event")
        wait_for(lambda: any(e["pid"] == restarted[0]["pid"] for e in _events(area, events.STARTED)),
                 20, what="restarted server running")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        stop_proc(proc)
    kinds = [(e["kind"], e.get("why")) for e in _events(area) if e.get("pid") == child]
    assert kinds[:2] == [("start_requested", "supervisor"), ("started", None)]
    assert ("crashed", None) in kinds
    last = _events(area, events.RETIRED)
    assert last and last[-1]["why"] == "signal" and last[-1]["detail"] == "SIGTERM"
    marked = _events(area, events.MARKED_DEAD)
    assert marked and marked[0]["pid"] == child and marked[0]["by"] == "supervisor"
    # The endpoint went away with serve.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_metrics_port_in_use_is_a_one_line_error(area: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = backend("serve", "--area", str(area), "--metrics-port", str(port), timeout=30)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot serve metrics" in r.stderr
    assert not entries(area)


def test_events_for_start_stop_idle_and_decline(area: Path) -> None:
    (area / "megatest.config").write_text(
        (area / "megatest.config").read_text() + "max-servers 1\n"
    )
    r = backend("start", "--area", str(area), "--db", "main.db", "--json", check=True)
    pid = json.loads(r.stdout)["pid"]
    [req] = [e for e in _events(area, events.START_REQUESTED) if e["pid"] == pid]
    assert req["why"] == "operator" and req["dbfname"] == "main.db"
    wait_for(lambda: _events(area, events.STARTED), 15, what="started event")
    # A second server of a max-servers 1 db declines, and says why.
    r = backend("server", "--area", str(area), "--db", "main.db", timeout=30)
    assert r.returncode == 3
    [declined] = _events(area, events.DECLINED)
    assert "no need for more" in declined["why"]
    backend("stop", "--area", str(area), "--db", "main.db", check=True)
    [stopped] = _events(area, events.RETIRED)
    assert stopped["pid"] == pid and stopped["why"] == "stop" and stopped["code"] == 0
    # Idle retirement.
    proc, _ = start_fg(area, idle_timeout="1")
    assert proc.wait(20) == 0
    stop_proc(proc)
    idle = [e for e in _events(area, events.RETIRED) if e["pid"] == proc.pid]
    assert idle and idle[0]["why"] == "idle"
    # The file is private and the CLI shows it, in order.
    assert (os.stat(area / "logs" / "events.jsonl").st_mode & 0o777) == 0o600
    r = backend("events", "--area", str(area), "--json", check=True)
    kinds = [json.loads(line)["kind"] for line in r.stdout.splitlines()]
    assert kinds.index("start_requested") < kinds.index("started") < kinds.index("declined")
    assert kinds.count("retired") == 2
    r = backend("events", "--area", str(area), check=True)
    assert "why=idle" in r.stdout and "why=stop" in r.stdout
    r = backend("events", "--area", str(area), "-n", "1", "--json", check=True)
    assert len(r.stdout.splitlines()) == 1


def test_kill_9_is_recorded_by_the_next_start_up_scan(area: Path) -> None:
    proc, entry = start_fg(area)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stop_proc(proc)
    # Until someone removes its file, the dead server is a registration that is not up.
    samples = _samples(backend("metrics", "--area", str(area), check=True).stdout)
    [up] = samples["mtserve_up"]
    assert up.value == 0 and up.labels["pid"] == str(proc.pid)
    [dead] = samples["mtserve_servers"]
    assert dead.labels["state"] == "DEAD" and dead.value == 1
    assert "mtserve_requests_total" not in samples
    old = time.time() - 1000  # untouched for longer than stale-after: provably dead
    os.utime(entry.path, (old, old))
    proc2, _ = start_fg(area)
    try:
        marked = wait_for(lambda: _events(area, events.MARKED_DEAD), 10, what="marked_dead")
        assert marked[0]["pid"] == proc.pid and marked[0]["by"] == "server start-up scan"
        assert marked[0]["name"] == entry.name
    finally:
        stop_proc(proc2)


def test_events_follow_prints_new_events(area: Path) -> None:
    follower = spawn_backend("events", "--area", str(area), "-f", "--json")
    try:
        time.sleep(1.0)  # let it reach the end of the (empty) history
        Area(area).ensure_dirs()
        events.record_event(Area(area), "test_kind", note="hello")
        assert follower.stdout is not None
        ready, _, _ = select.select([follower.stdout], [], [], 20)
        assert ready, "backend events -f printed nothing"
        line = follower.stdout.readline()
        event = json.loads(line)
        assert event["kind"] == "test_kind" and event["note"] == "hello"
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(10)
        stop_proc(follower)


def test_events_and_metrics_are_one_line_errors_on_a_missing_area(tmp_path: Path) -> None:
    for cmd in ("events", "metrics", "stats"):
        r = backend(cmd, "--area", str(tmp_path / "nope"), env=clean_env())
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
