"""Database faults (reliability.md §4): the kill -9 nemesis in both journal
modes, a crash inside a group commit, disk full, and an audit hook proving no
code path touches db/journal/wal/shm files outside sqlite."""

from __future__ import annotations

import os
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
from backend.wire import protocol
from tests.faults.util import authed, gone, spawn_writer, start_server, stop_proc
from tests.helpers import clean_env, entries, wait_for


def _db_check(area: Path, keys: list[str]) -> None:
    db = area / ".mtdb" / "main.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = dict(
            conn.execute("SELECT var, count(*) FROM metadat GROUP BY var").fetchall()
        )
        missing = [k for k in keys if counts.get(k) != 1]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_kill9_nemesis_keeps_every_acknowledged_write(area: Path, journal: str) -> None:
    env = clean_env()
    env["MTSERVE_JOURNAL_MODE"] = journal
    acks = [area.parent / f"acks-{i}" for i in range(2)]
    writers = [spawn_writer(area, f"w{i}", 300, acks[i], env) for i in range(2)]
    kills = 0
    try:
        end = time.monotonic() + 60
        while kills < 8 and time.monotonic() < end and any(w.poll() is None for w in writers):
            live = [e for e in entries(area, "main.db") if not gone(e.registration.pid)]
            if live:
                time.sleep(random.uniform(0.05, 0.3))
                os.kill(live[0].registration.pid, signal.SIGKILL)
                kills += 1
                wait_for(lambda p=live[0].registration.pid: gone(p), 5)
            else:
                time.sleep(0.05)
        outs = [w.communicate(timeout=90) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    assert kills == 8, kills
    assert all(w.returncode == 0 for w in writers), [o[1][-500:] for o in outs]
    keys = [k for a in acks for k in a.read_text().split()]
    assert len(keys) >= 500, (len(keys), [o[1][-300:] for o in outs])
    for e in entries(area, "main.db"):
        if not gone(e.registration.pid):
            os.kill(e.registration.pid, signal.SIGTERM)
            wait_for(lambda p=e.registration.pid: gone(p), 15)
    _db_check(area, keys)


@pytest.mark.slow
def test_crash_inside_a_group_commit_leaves_no_partial_effects(area: Path) -> None:
    """256 pipelined writes become one transaction; kill -9 lands while it runs.
    Every acknowledged write is there; every write present has its idempotency
    record from the same transaction (no half-applied batch)."""
    acked: list[str] = []
    for round_ in range(6):
        proc, e = start_server(area)
        conn, auth = authed(area, e)
        assert conn.request(["get-var", None, ["x"], auth], 5).status == "ok"
        reqs = [
            ["set-var", None, [f"r{round_}-{i}", "v" * 2000], {"idem": f"i{round_}-{i}"}]
            for i in range(600)
        ]
        got: list[str] = []

        def reader(conn=conn, got=got, round_=round_) -> None:  # type: ignore[no-untyped-def]
            try:
                for i in range(600):
                    if conn.receive(10).status in ("ok", "loaded"):
                        got.append(f"r{round_}-{i}")
            except Exception:
                return

        t = threading.Thread(target=reader)
        t.start()
        conn.send(b"".join(protocol.encode(r) for r in reqs), 10)
        time.sleep(random.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        t.join(15)
        conn.close()
        stop_proc(proc)
        acked += got
    db = area / ".mtdb" / "main.db"
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        present = {v for (v,) in c.execute("SELECT var FROM metadat WHERE var LIKE 'r%'")}
        idems = {k for (k,) in c.execute("SELECT key FROM mt_idempotency WHERE key LIKE 'i%'")}
    finally:
        c.close()
    assert set(acked) <= present
    assert {"i" + v[1:] for v in present} == idems, "a write without its idempotency record"
    (area.parent / "group-commit-acked").write_text(f"{len(acked)} {len(present)}")


@pytest.mark.root
@pytest.mark.slow
def test_disk_full_is_db_error_and_earlier_commits_survive(area: Path) -> None:
    dbdir = area / ".mtdb"
    dbdir.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(dbdir)],
                       capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount a small tmpfs: {r.stderr.decode().strip()}")
    proc = None
    try:
        proc, e = start_server(area)
        conn, auth = authed(area, e)
        assert conn.request(["set-var", None, ["early", "kept"], auth], 5).status == "ok"
        full = None
        for i in range(400):
            resp = conn.request(["set-var", None, [f"big{i}", "x" * 20000], None], 10)
            if resp.status == "error":
                full = resp
                break
        assert full is not None, "the disk never filled"
        assert full.errmsg == "db_error: database or disk is full", full.errmsg
        for _ in range(3):  # reads still served, the early commit intact
            resp = conn.request(["get-var", None, ["early"], None], 5)
            assert (resp.status, resp.result) == ("ok", "kept"), resp
        resp = conn.request(["get-var", None, ["big0"], None], 5)
        assert resp.status == "ok" and resp.result == "x" * 20000
        conn.close()
        assert proc.poll() is None
        assert stop_proc(proc) == 0
        proc = None
    finally:
        if proc is not None:
            stop_proc(proc, signal.SIGKILL)
        subprocess.run(["umount", "-l", str(dbdir)])


AUDITED = r"""
import os, sys
out = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
import re
DBFILE = re.compile(r"^(main|[0-9]+)[.]db(-journal|-wal|-shm)?$")
WATCH = {"open", "os.remove", "os.unlink", "os.rename", "os.replace", "shutil.copyfile",
         "shutil.copymode", "shutil.copystat", "shutil.move", "os.truncate", "os.link",
         "os.symlink", "shutil.rmtree", "os.chmod", "os.utime"}
def hook(event, args):
    if event not in WATCH:
        return
    for a in args[:2]:
        if isinstance(a, (str, bytes, os.PathLike)):
            p = os.fsdecode(a)
            if DBFILE.match(os.path.basename(p)):
                os.write(out, f"{event} {p}\n".encode())
sys.addaudithook(hook)
sys.argv = ["backend"] + sys.argv[2:]
from backend.cli import main
sys.exit(main())
"""


@pytest.mark.slow
def test_audit_hook_no_file_access_to_db_journal_wal_shm_outside_sqlite(area: Path) -> None:
    script = area.parent / "audited.py"
    script.write_text(AUDITED)
    record = area.parent / "audit.log"
    env = clean_env()
    env["MTSERVE_IDLE_TIMEOUT"] = "60"
    for journal in ("wal", "delete"):
        env["MTSERVE_JOURNAL_MODE"] = journal
        db = "main.db" if journal == "wal" else "1.db"
        server = subprocess.Popen(
            [sys.executable, str(script), str(record), "server", "--area", str(area), "--db", db],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda db=db: entries(area, db), 20, what="registration")
            with Client(area, launch=None) as c:
                run_id = None if db == "main.db" else 1
                for i in range(50):
                    c.call("set-var", f"k{i}", str(i), run_id=run_id)
                if run_id is None:
                    c.call("register-run", {"release": "r1"}, "run1")
                else:
                    c.call("register-test", "t1", "", run_id=1)
                assert c.call("get-var", "k1", run_id=run_id) == "1"
            r = subprocess.run(
                [sys.executable, str(script), str(record), "call", "--direct", "--area",
                 str(area), *(["--run-id", "1"] if run_id else []), "get-var", "k2"],
                env=env, capture_output=True, text=True, timeout=60,
            )
            assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr
            r = subprocess.run(
                [sys.executable, str(script), str(record), "stop", "--area", str(area), "--db", db],
                env=env, capture_output=True, text=True, timeout=60,
            )
            assert r.returncode == 0, r.stderr
            assert server.wait(20) == 0
        finally:
            stop_proc(server, signal.SIGKILL)
    assert (area / ".mtdb" / "main.db").exists() and (area / ".mtdb" / "1.db").exists()
    assert not record.exists() or record.read_text() == "", record.read_text()
