"""`backend serve` supervision and the CLI's contract (one-line errors, --json)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from backend import procs
from backend.wire.connection import ping
from tests.helpers import backend, entries, spawn_backend, wait_for


def _read_lines(proc, until: str, timeout: float = 20) -> list[str]:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if until in line:
            return lines
    raise AssertionError(f"never saw {until!r}; got {lines}")


@pytest.mark.slow
def test_serve_runs_two_dbs_restarts_crashes_and_stops_cleanly(area: Path) -> None:
    t0 = time.monotonic()
    proc = spawn_backend("serve", "--area", str(area), "--db", "main.db", "--db", "1.db")
    try:
        wait_for(lambda: len(entries(area)) == 2, 15, what="two registrations")
        print(f"serve -> 2 registrations: {time.monotonic() - t0:.2f}s")
        assert {e.registration.dbfname for e in entries(area)} == {"main.db", "1.db"}
        # Supervised servers count against max-server-procs like launched ones.
        assert procs.count_area_servers(str(area)) == 2
        r = backend("list", "--area", str(area), "--json", check=True)
        listing = json.loads(r.stdout)
        assert {s["state"] for s in listing["servers"]} == {"RUNNING"}
        assert all(s["load"] == 0 and s["ping_ms"] > 0 for s in listing["servers"])
        for e in entries(area):
            assert ping(e.registration.host, e.registration.port).server_id == e.registration.server_id

        # A crash is restarted (BACKOFF -> STARTING -> RUNNING).
        victim = next(e for e in entries(area) if e.registration.dbfname == "1.db")
        os.kill(victim.registration.pid, signal.SIGKILL)
        wait_for(
            lambda: any(
                e.registration.dbfname == "1.db" and e.registration.pid != victim.registration.pid
                and ping(e.registration.host, e.registration.port).sstate == "running"
                for e in entries(area)
            ),
            20, what="restart of 1.db",
        )
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err  # Ctrl-C exits 130 everywhere (issue 13 item 12)
    lines = out.splitlines()
    states = [line.split()[2] for line in lines if len(line.split()) > 2 and "#" in line.split()[1]]
    for state in ("STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED"):
        assert state in states, (state, out)
    assert "Traceback" not in err
    assert [e.name for e in entries(area)] == [], "no registration left"
    psutil.wait_procs(children, timeout=5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize(
    "args, needle, code",
    [
        (["list", "--area", "/nonexistent/area"], "does not exist", 1),
        (["start", "--area", "{area}", "--db", "bogus.db"], "invalid dbfname", 1),
        (["server", "--area", "{area}", "--db", "../x.db"], "invalid dbfname", 1),
        (["ping", "--area", "{area}", "127.0.0.1:1"], "no answer", 1),
        (["ping", "--area", "{area}", "not-an-address"], "bad address", 1),
        (["ping", "--area", "{area}", "--db", "main.db"], "no server registered", 1),
        (["call", "--area", "{area}", "--run-id", "x", "get-var", "a"], "invalid int value", 2),
        (["call", "--area", "{area}", "--run-id", "-1", "get-var", "a"], "out of range", 2),
        (["stop", "--area", "{area}", "--db", "main.db"], "no matching server", 1),
        (["start", "--area", "{area}", "--db", "01.db"], "without leading zeros", 1),
        (["call", "--area", "{area}", "set-var", "x", "[broken"], "does not parse", 1),
        (["frobnicate"], "invalid choice", 2),
        ([], "required", 2),
        (["server", "--area", "{area}", "--db", "main.db", "--heartbeat", "fast"], "heartbeat must be float", 1),
    ],
)
def test_cli_errors_are_one_line_and_nonzero(area: Path, args: list[str], needle: str, code: int) -> None:
    r = backend(*[a.format(area=area) for a in args], timeout=30)
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0] and "Traceback" not in r.stderr


def test_bad_megatest_config_value_is_a_clear_error(area: Path) -> None:
    (area / "megatest.config").write_text("[server]\nmax-servers lots\n")
    r = backend("call", "--area", str(area), "get-var", "x")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "max-servers must be int" in r.stderr


def test_call_prints_json_and_strings(area: Path) -> None:
    assert backend("call", "--area", str(area), "set-var", "color", "blue").returncode == 0
    r = backend("call", "--area", str(area), "get-var", "color", check=True)
    assert r.stdout == "blue\n"
    r = backend("call", "--area", str(area), "--json", "get-var", "color", check=True)
    assert json.loads(r.stdout) == "blue"
    r = backend("call", "--area", str(area), "get-var", "missing", check=True)
    assert r.stdout == "null\n"


def test_start_then_stop_by_db(area: Path) -> None:
    r = backend("start", "--area", str(area), "--db", "2.db", "--json", check=True)
    info = json.loads(r.stdout)
    assert info["dbfname"] == "2.db" and info["server"].startswith("127.0.0.1:")
    r = backend("ping", "--area", str(area), "--db", "2.db", check=True)
    assert "RUNNING" in r.stdout and info["server_id"][:12] in r.stdout  # ids at one length in text
    r = backend("stop", "--area", str(area), "--db", "2.db", check=True)
    assert "stopped" in r.stdout
    assert entries(area, "2.db") == []
    wait_for(lambda: not psutil.pid_exists(info["pid"])
             or psutil.Process(info["pid"]).status() == psutil.STATUS_ZOMBIE, 10)


def test_list_reports_megatest_files_and_garbage(area: Path) -> None:
    sdir = area / ".servinfo"
    sdir.mkdir()
    (sdir / "127.0.0.1:40001-4242:main.db").write_text(
        "SERVER STARTED: 127.0.0.1:40001 AT 1616502350.0 server-id: abc pid: 4242 dbfname: main.db\n"
    )
    (sdir / "127.0.0.1:40002-4243:main.db").write_bytes(b"\x00\xff garbage")
    (sdir / "junk").write_text("x")
    os.mkfifo(sdir / "127.0.0.1:40003-4244:main.db")
    (sdir / ".nfs0001").write_text("x")
    (sdir / "subdir").mkdir()
    r = backend("list", "--area", str(area), "--json", timeout=20)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    [row] = data["servers"]
    assert row["server_id"] == "abc" and row["state"] == "DEAD" and row["started"] == 1616502350.0
    reasons = {p["name"]: p["reason"] for p in data["problems"]}
    assert set(reasons) == {"127.0.0.1:40002-4243:main.db", "junk", "127.0.0.1:40003-4244:main.db", "subdir"}
    r = backend("list", "--area", str(area), timeout=20)
    assert r.returncode == 0 and "abc" in r.stdout
    assert r.stderr.count("warning") == 4


def test_key_command_creates_a_private_key_once_and_never_prints_it(area: Path) -> None:
    r = backend("key", "--area", str(area), "--json", check=True)
    first = json.loads(r.stdout)
    key_path = area / ".mtkey"
    assert first["created"] is True and first["path"] == str(key_path)
    assert key_path.stat().st_mode & 0o777 == 0o600
    secret = key_path.read_text().strip()
    assert secret not in r.stdout
    r = backend("key", "--area", str(area), "--json", check=True)
    again = json.loads(r.stdout)
    assert again["created"] is False and again["fingerprint"] == first["fingerprint"]
    key_path.chmod(0o666)
    r = backend("key", "--area", str(area))
    assert r.returncode == 1 and "group/other-writable" in r.stderr
