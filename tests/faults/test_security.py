"""Security (reliability.md §5): loopback by default, authentication, the key
file, hostile registrations, planted links, no unsafe code, no leaks in errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from backend import procs, registry
from backend.client.client import Client
from backend.errors import ConfigError
from backend.wire import protocol
from backend.wire.connection import Connection
from tests.faults.fakes import Recorder
from tests.faults.test_registry_faults import garbage_corpus
from tests.faults.util import authed, gone, key_of, log_text, start_server, stop_proc
from tests.helpers import backend, clean_env, entries, wait_for

REPO = Path(__file__).resolve().parents[2]


def test_loopback_by_default_and_no_public_bind_without_a_key(area: Path) -> None:
    proc, e = start_server(area)
    try:
        listen = [
            c.laddr for c in psutil.Process(proc.pid).net_connections("inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listen and all(a.ip == "127.0.0.1" for a in listen), listen
    finally:
        stop_proc(proc)
    (area / ".mtkey").unlink()
    routable = [
        a.address for addrs in psutil.net_if_addrs().values() for a in addrs
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    for host in ["0.0.0.0", *routable[:1]]:
        env = clean_env()
        env["MTSERVE_HOST"] = host
        r = backend("server", "--area", str(area), "--db", "main.db", env=env)
        assert r.returncode == 1, r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith(f"backend: error: refusing to bind {host}"), last
        if host != "0.0.0.0":
            assert "without an area key" in last
        assert entries(area) == [] and not (area / ".mtkey").exists()


def test_unauthenticated_wrong_and_replayed_auth_are_refused(area: Path) -> None:
    proc, e = start_server(area)
    reg = e.registration
    key = key_of(area)
    try:
        conn = Connection(reg.host, reg.port, 5)
        conn.ping(5)
        nonce = conn.nonce or ""
        other_sid = "0" * 32
        for auth in [
            None, "", 5, ["x"], {"a": 1}, "z" * 64,
            protocol.auth_token(key, reg.server_id, nonce).upper(),
            protocol.auth_token(key, other_sid, nonce),  # signed for another server
            protocol.auth_token(b"1" * 64, reg.server_id, nonce),  # another area's key
            protocol.auth_token(key, reg.server_id, nonce)[:-1],
        ]:
            for cmd in ("get-var", "stop", "set-var"):
                meta = None if auth is None else {"auth": auth}
                resp = conn.request([cmd, None, ["x", "1"] if cmd == "set-var" else ["x"], meta], 5)
                assert (resp.status, resp.errmsg, resp.result) == ("error", "unauthorized", None)
        # a token accepted on one connection does not open another (replay)
        good_conn, auth = authed(area, e)
        assert good_conn.request(["get-var", None, ["x"], auth], 5).status == "ok"
        replay = Connection(reg.host, reg.port, 5)
        resp = replay.request(["get-var", None, ["x"], auth], 5)  # without its own ping
        assert resp.errmsg == "unauthorized"
        replay.ping(5)
        resp = replay.request(["get-var", None, ["x"], auth], 5)
        assert resp.errmsg == "unauthorized"
        for c in (conn, good_conn, replay):
            c.close()
        assert proc.poll() is None, "an unauthenticated stop stopped the server"
    finally:
        stop_proc(proc)


@pytest.mark.parametrize("fault", ["group-writable", "other-writable", "symlink", "other-owner", "junk"])
def test_bad_key_file_is_refused_with_a_clear_message(area: Path, fault: str) -> None:
    key = area / ".mtkey"
    real = area.parent / "real-key"
    real.write_text("ab" * 32 + "\n")
    real.chmod(0o600)
    if fault == "group-writable":
        os.rename(real, key)
        key.chmod(0o620)
        needle = "group/other-writable: refused"
    elif fault == "other-writable":
        os.rename(real, key)
        key.chmod(0o602)
        needle = "group/other-writable: refused"
    elif fault == "symlink":
        key.symlink_to(real)
        needle = "is a symlink: refused"
    elif fault == "junk":
        key.write_text("ab" * 32 + "\n" + "junk" * 100)
        key.chmod(0o600)
        needle = "does not hold 64 hex characters"
    else:
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        os.rename(real, key)
        os.chown(key, 65534, 65534)
        needle = "owned by another user"
    r = backend("server", "--area", str(area), "--db", "main.db")
    assert r.returncode == 1 and needle in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("backend: error: key file")
    assert entries(area) == []
    with pytest.raises(ConfigError, match=re.escape(needle)):
        Client(area).key  # noqa: B018
    if fault != "symlink":
        assert key.exists()  # refused, never "repaired" or replaced


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def test_malicious_registrations_cause_no_connection_signal_or_access(area: Path) -> None:
    sdir = area / ".servinfo"
    sdir.mkdir()
    sleeper = _sleeper()
    victim = area.parent / "victim"
    victim.write_text("precious\n")
    try:
        with Recorder() as rec:
            n = garbage_corpus(sdir, rec.port, sleeper.pid)
            created = psutil.Process(sleeper.pid).create_time()
            line = (
                f"SERVER STARTED: 127.0.0.1:{rec.port} AT {int(time.time())} server-id: {'d' * 32} "
                f"pid: {sleeper.pid} dbfname: "
            )
            hostile = {
                "dotdot": line + "../../victim", "abs": line + str(victim), "nul": line + "main.db\0",
                "huge": line + "9" * 3000 + ".db", "dotdot-db": line + "../main.db",
            }
            for i, (_, text) in enumerate(hostile.items()):
                (sdir / f"127.0.0.1:{rec.port}-{sleeper.pid + 2000 + i}:main.db").write_text(
                    text + f"\nproc-start: {created}\n"
                )
            n += len(hostile)
            before = {p: p.read_bytes() for p in sdir.iterdir() if p.is_file() and not p.is_symlink()}
            for args in (["list", "--area", str(area)], ["ping", "--area", str(area), "--db", "main.db"],
                         ["call", "--area", str(area), "set-var", "a", "1"],
                         ["stop", "--area", str(area), "--all", "--timeout", "2"]):
                r = backend(*args)
                assert "Traceback" not in r.stderr, r.stderr
            assert rec.connections == 0, "a malicious file caused a connection"
            assert sleeper.poll() is None, "a malicious file caused a signal"
            after = {p: p.read_bytes() for p in sdir.iterdir() if p.is_file() and not p.is_symlink()}
            assert {p: b for p, b in after.items() if p in before} == before
        assert victim.read_text() == "precious\n"
        assert not (area / ".mtdb" / ".." / ".." / "victim.db").exists()
        assert sorted(p.name for p in (area / ".mtdb").iterdir() if p.suffix == ".db") == ["main.db"]
    finally:
        sleeper.kill()
        sleeper.wait()
    (area.parent / "malicious-count").write_text(str(n))


def test_planted_symlink_at_the_launcher_log_is_not_followed(area: Path) -> None:
    victim = area.parent / "victim"
    victim.write_text("precious\n")
    (area / "logs").mkdir()
    (area / "logs" / "launcher.log").symlink_to(victim)
    r = backend("call", "--area", str(area), "set-var", "a", "1", "--deadline", "5")
    assert victim.read_text() == "precious\n", "launcher wrote through a planted symlink"
    assert "Traceback" not in r.stderr, r.stderr
    (area / ".servinfo").mkdir(exist_ok=True)
    (area / ".servinfo" / ".start-1.db.lock").symlink_to(area.parent / "victim-lock")
    r = backend("call", "--area", str(area), "--run-id", "1", "get-var", "a", "--deadline", "2")
    assert not (area.parent / "victim-lock").exists()
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr


def test_stop_fallback_still_signals_a_real_server(area: Path) -> None:
    """The guard against forged files must not disable the SIGTERM fallback."""
    proc, e = start_server(area)
    assert procs.terminate_if_ours(area, e.registration, True)
    assert proc.wait(15) == 0
    stop_proc(proc)


UNSAFE = re.compile(r"\bpickle\b|\beval\(|\bexec\(|shell\s*=\s*True|\bos\.system\(|\bmarshal\b|yaml\.load\(")


def test_no_pickle_eval_or_shell_in_the_product() -> None:
    hits = []
    for top in ("backend", "mttui"):
        for path in (REPO / top).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if UNSAFE.search(code):
                    hits.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, hits


def test_error_responses_carry_no_traceback_or_path(area: Path) -> None:
    proc, e = start_server(area)
    try:
        conn, auth = authed(area, e)
        msgs = []
        first = True
        for cmd in ["get-var", "set-var", "register-run", "get-run-info", "register-test",
                    "get-test-info-by-id", "csv->test-data", "read-test-data", "get-tests-for-run",
                    "teststep-set-status!", "test-set-state-status-by-id", "nope"]:
            for run_id in (None, 1, 11):
                for params in ([], [None], [{"a": [1]}], ["../../etc/passwd", "/etc/passwd"], [1] * 9):
                    resp = conn.request([cmd, run_id, params, auth if first else None], 5)
                    first = False
                    if resp.status == "error":
                        msgs.append(resp.errmsg or "")
        conn.close()
        assert msgs
        for m in msgs:
            assert "Traceback" not in m and str(area) not in m and "File \"" not in m, m
    finally:
        stop_proc(proc)
    _ = (gone, log_text, signal, wait_for, registry)


PLANT_LOG = r"""
import os, sys
from pathlib import Path
area, victim = Path(sys.argv[1]), sys.argv[2]
(area / "logs").mkdir(exist_ok=True)
os.symlink(victim, area / "logs" / f"server-main.db-{os.getpid()}.log")
sys.argv = ["backend", "server", "--area", str(area), "--db", "main.db"]
from backend.cli import main
sys.exit(main())
"""


def test_planted_symlink_at_the_server_log_is_not_followed(area: Path) -> None:
    victim = area.parent / "victim"
    victim.write_text("precious\n")
    r = subprocess.run([sys.executable, "-c", PLANT_LOG, str(area), str(victim)],
                       capture_output=True, text=True, timeout=60, env=clean_env())
    assert victim.read_text() == "precious\n", "the server logged through a planted symlink"
    assert r.returncode == 1 and "backend: error: cannot open log" in r.stderr, r.stderr
    assert entries(area) == []


def test_launcher_does_not_open_a_planted_launcher_log(area: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.area import Area
    from backend.client import launcher
    from backend.config import load_settings

    victim = area.parent / "victim"
    victim.write_text("precious\n")
    a = Area.open(area)
    a.ensure_dirs()
    (area / "logs" / "launcher.log").symlink_to(victim)
    seen: list[int] = []

    class FakePopen:
        pid = 999999

        def __init__(self, *args: object, stdout: object = None, **kw: object) -> None:
            seen.append(os.fstat(stdout.fileno()).st_ino)  # type: ignore[attr-defined]

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(launcher.subprocess, "Popen", FakePopen)
    launcher._spawn(a, "main.db", load_settings(area))
    assert seen and seen[0] != victim.stat().st_ino
