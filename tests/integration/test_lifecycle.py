"""Server lifecycle with real processes on loopback (SPEC §4)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from backend import registry
from backend.client.client import Client
from backend.errors import RemoteError
from backend.wire import protocol
from backend.wire.connection import Connection, ping
from tests.helpers import backend, clean_env, entries, spawn_backend, wait_for

LINE1 = re.compile(
    r"^SERVER STARTED: (\S+):(\d+) AT (\d+) server-id: ([0-9a-f]{32}) pid: (\d+) dbfname: (\S+)$"
)


def start_fg(area: Path, db: str = "main.db", **env: str) -> tuple[subprocess.Popen[str], registry.Entry]:
    """A foreground ``backend server`` and its registration once it is running."""
    e = clean_env()
    e.update({f"MTSERVE_{k.upper()}": v for k, v in env.items()})
    proc = spawn_backend("server", "--area", str(area), "--db", db, env=e)

    def registered() -> registry.Entry | None:
        assert proc.poll() is None, f"server exited early: {proc.stderr.read() if proc.stderr else ''}"
        return next((x for x in entries(area, db) if x.registration.pid == proc.pid), None)

    entry = wait_for(registered, 15, what="registration")
    wait_for(lambda: ping(entry.registration.host, entry.registration.port).sstate == "running", 10)
    return proc, entry


def stop_proc(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    finally:
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_registration_line1_matches_megatest_and_ping_returns_server_id(area: Path) -> None:
    proc, entry = start_fg(area)
    try:
        line1 = entry.path.read_text().splitlines()[0]
        m = LINE1.match(line1)
        assert m, line1
        host, port, _at, sid, pid, db = m.groups()
        assert (host, int(port), int(pid), db) == ("127.0.0.1", entry.registration.port, proc.pid, "main.db")
        assert entry.name == f"{host}:{port}-{pid}:{db}"
        res = ping(host, int(port))
        assert res.ok and res.server_id == sid and res.sstate == "running" and res.sload == 0
        assert res.meta["dbfname"] == "main.db" and res.meta["pid"] == proc.pid
        assert re.fullmatch(r"[0-9a-f]{32}", res.meta["nonce"])
    finally:
        assert stop_proc(proc) == 0
    assert entries(area) == []


def test_unauthenticated_commands_are_refused_and_authenticated_work(area: Path) -> None:
    proc, entry = start_fg(area)
    reg = entry.registration
    try:
        conn = Connection(reg.host, reg.port, 5)
        try:
            conn.ping(5)
            resp = conn.request(["get-var", None, ["x"], None], 5)
            assert (resp.status, resp.errmsg) == ("error", "unauthorized")
            bad = protocol.auth_token(b"0" * 64, reg.server_id, conn.nonce or "")
            resp = conn.request(["get-var", None, ["x"], {"auth": bad}], 5)
            assert resp.errmsg == "unauthorized"
            key = (area / ".mtkey").read_text().strip().encode()
            # Another connection's nonce is a replay: refused.
            other = Connection(reg.host, reg.port, 5)
            other.ping(5)
            replay = protocol.auth_token(key, reg.server_id, other.nonce or "")
            other.close()
            resp = conn.request(["get-var", None, ["x"], {"auth": replay}], 5)
            assert resp.errmsg == "unauthorized"
            good = protocol.auth_token(key, reg.server_id, conn.nonce or "")
            resp = conn.request(["set-var", None, ["x", "7"], {"auth": good}], 5)
            assert resp.status == "ok" and resp.meta["sstate"] == "running"
            # The connection stays authenticated.
            resp = conn.request(["get-var", None, ["x"], None], 5)
            assert (resp.status, resp.result) == ("ok", "7")
            resp = conn.request(["no-such-command", None, [], None], 5)
            assert resp.status == "error" and resp.errmsg.startswith("unknown_command:")
        finally:
            conn.close()
    finally:
        stop_proc(proc)


def test_stop_command_sigterm_and_sigint_remove_the_file(area: Path) -> None:
    for how in ("stop", signal.SIGTERM, signal.SIGINT):
        proc, entry = start_fg(area)
        if how == "stop":
            r = backend("stop", "--area", str(area), "--server-id", entry.registration.server_id)
            assert r.returncode == 0, r.stderr
            assert proc.wait(15) == 0
            stop_proc(proc)
        else:
            # A clean shutdown either way; Ctrl-C exits 130 as in every command.
            assert stop_proc(proc, how) == (130 if how == signal.SIGINT else 0)
        assert not entry.path.exists(), how
    logs = "".join(p.read_text() for p in (area / "logs").glob("server-main.db-*.log"))
    assert "stop command" in logs and "SIGTERM" in logs and "SIGINT" in logs


def test_idle_timeout_ends_server_and_removes_file(area: Path) -> None:
    proc, entry = start_fg(area, idle_timeout="1.5")
    t0 = time.monotonic()
    assert proc.wait(20) == 0
    stop_proc(proc)
    assert time.monotonic() - t0 < 15
    assert not entry.path.exists()
    log = area / "logs" / f"server-main.db-{proc.pid}.log"
    assert "Server timed out" in log.read_text()


def test_pings_do_not_keep_a_server_from_idling_out(area: Path) -> None:
    proc, entry = start_fg(area, idle_timeout="1.5")
    reg = entry.registration
    end = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < end:
        ping(reg.host, reg.port, 0.5)
        time.sleep(0.1)
    # It must have exited on its own while being pinged (stop_proc would end it anyway).
    assert proc.poll() == 0, "pings kept the server from idling out"
    stop_proc(proc)


def test_server_exits_within_one_heartbeat_when_its_file_is_deleted(area: Path) -> None:
    proc, entry = start_fg(area, heartbeat="0.5")
    entry.path.unlink()
    t0 = time.monotonic()
    assert proc.wait(10) == 0
    assert time.monotonic() - t0 < 2.5
    stop_proc(proc)
    assert "Apparently I don't exist" in (area / "logs" / f"server-main.db-{proc.pid}.log").read_text()


def test_server_exits_when_its_file_is_replaced_and_leaves_the_new_file(area: Path) -> None:
    proc, entry = start_fg(area)
    reg = entry.registration
    impostor = registry.Registration(reg.host, reg.port, reg.start, "f" * 32, reg.pid, reg.dbfname)
    registry.publish(area / ".servinfo", impostor)
    assert proc.wait(10) == 0
    stop_proc(proc)
    assert registry.read_server_id(entry.path) == "f" * 32  # not ours: left alone


def test_client_starts_a_server_and_recovers_after_kill_9(area: Path) -> None:
    assert entries(area) == []
    r = backend("call", "--area", str(area), "set-var", "x", "1")
    assert r.returncode == 0, r.stderr
    r = backend("call", "--area", str(area), "get-var", "x")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr
    [first] = entries(area, "main.db")
    os.kill(first.registration.pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(first.registration.pid)
             or psutil.Process(first.registration.pid).status() == psutil.STATUS_ZOMBIE, 10)
    t0 = time.monotonic()
    r = backend("call", "--area", str(area), "get-var", "x")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr
    assert time.monotonic() - t0 < 20
    ids = {e.registration.server_id for e in entries(area, "main.db")}
    assert ids - {first.registration.server_id}, "a new server was started"


def test_twenty_concurrent_clients_on_an_empty_area_start_at_most_four(area: Path) -> None:
    procs = [
        spawn_backend("call", "--area", str(area), "set-var", f"k{i}", str(i)) for i in range(20)
    ]
    outs = [(p.wait(60), p.communicate()) for p in procs]
    assert all(code == 0 for code, _ in outs), [err for code, (_, err) in outs if code]
    servers = entries(area, "main.db")
    assert 1 <= len(servers) <= 4
    assert len({e.registration.hostname for e in servers}) == 1
    with Client(area) as c:
        assert [c.call("get-var", f"k{i}") for i in range(20)] == [str(i) for i in range(20)]


@pytest.mark.slow
def test_six_servers_settle_to_four_by_retiring_the_oldest(area: Path) -> None:
    # The first four check their rank only every 4 s, so all six are registered
    # together before anyone retires.
    first = [start_fg(area, heartbeat="4") for _ in range(4)]
    # Registration times have one-second resolution (Megatest's format).
    time.sleep(1.1)
    e = clean_env()
    e["MTSERVE_MAX_SERVERS"] = "10"
    extra = [spawn_backend("server", "--area", str(area), "--db", "main.db", env=e) for _ in range(2)]
    wait_for(lambda: len(entries(area, "main.db")) == 6, 10, what="six registrations")
    order = [x.registration.server_id for x in entries(area, "main.db")]
    expected_retired = set(order[-2:])  # newest first: the two oldest are last
    wait_for(lambda: len(entries(area, "main.db")) == 4, 15, what="rank retirement")
    left = {x.registration.server_id for x in entries(area, "main.db")}
    assert left == set(order) - expected_retired
    for proc, entry in first:
        if entry.registration.server_id in expected_retired:
            assert proc.wait(10) == 0
            log = (area / "logs" / f"server-main.db-{proc.pid}.log").read_text()
            assert "more than three servers ahead of me" in log
    for proc in [p for p, _ in first] + extra:
        stop_proc(proc)


def test_fifth_server_declines_when_four_are_running(area: Path) -> None:
    servers = [start_fg(area) for _ in range(4)]
    r = backend("server", "--area", str(area), "--db", "main.db", timeout=30)
    assert r.returncode == 3
    assert "Have 4, no need for more, exiting." in r.stderr
    assert len(entries(area, "main.db")) == 4
    for proc, _ in servers:
        stop_proc(proc)


def test_startup_scan_removes_stale_dead_files_and_keeps_scanning(area: Path) -> None:
    sdir = area / ".servinfo"
    sdir.mkdir(exist_ok=True)
    old = time.time() - 1000
    dead = []
    for i, port in enumerate((1, 2)):
        reg = registry.Registration("127.0.0.1", port, old, f"dead{i}", 999990 + i, "main.db")
        path = registry.publish(sdir, reg)
        os.utime(path, (old, old))
        dead.append(path)
    fresh = registry.publish(sdir, registry.Registration("127.0.0.1", 3, time.time(), "fresh", 999989, "main.db"))
    proc, _ = start_fg(area)
    try:
        assert not any(p.exists() for p in dead), "both stale files removed (scan continued)"
        assert fresh.exists(), "a dead but fresh file is left alone"
    finally:
        stop_proc(proc)


def test_busy_and_loaded_are_reported_under_load(area: Path) -> None:
    # Thresholds of 1 make load visible with a handful of pipelined requests.
    proc, entry = start_fg(area, busy_threshold="3", loaded_threshold="1")
    reg = entry.registration
    key = (area / ".mtkey").read_text().strip().encode()
    conn = Connection(reg.host, reg.port, 5)
    try:
        conn.ping(5)
        auth = {"auth": protocol.auth_token(key, reg.server_id, conn.nonce or "")}
        wire = b"".join(
            protocol.encode(["set-var", None, [f"v{i}", str(i)], auth]) for i in range(40)
        )
        conn.send(wire, 5)
        statuses = [conn.receive(10).status for _ in range(40)]
    finally:
        conn.close()
    assert statuses.count("ok") >= 1
    assert "busy" in statuses and "loaded" in statuses, statuses
    with Client(area) as client, pytest.raises(RemoteError, match="bad_request"):
        client.call("get-var", 1)  # var must be a string
    stop_proc(proc)


def test_deadline_error_names_area_db_deadline_and_last_failure(area: Path) -> None:
    from backend.errors import NoServerError

    with Client(area, launch=None) as client, pytest.raises(NoServerError) as err:
        client.call("get-var", "x", deadline=0.5)
    text = str(err.value)
    assert "main.db" in text and str(area) in text and "within 0.5s" in text
    assert "last failure: no registration" in text


def test_a_wrong_area_key_is_a_clear_unauthorized_error(area: Path) -> None:
    proc, _ = start_fg(area)
    try:
        (area / ".mtkey").write_text("ab" * 32 + "\n")  # not the key the server holds
        with Client(area) as client, pytest.raises(RemoteError, match="area key does not match"):
            client.call("get-var", "x")
    finally:
        stop_proc(proc)
