"""Registry faults at process level (reliability.md §1): atomic publish under
SIGKILL, pid and port reuse, clock skew, own file deleted/replaced, cannot
register, a garbage corpus, and a publish/read property test."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import procs, registry
from backend.area import Area
from backend.client.client import Client
from backend.client.control import stop_server
from backend.config import load_settings
from backend.errors import NoServerError
from tests.faults.fakes import Recorder
from tests.faults.util import gone, log_text, start_server, stop_proc
from tests.helpers import backend, clean_env, entries, spawn_backend, wait_for

PUBLISHER = r"""
import os, random, sys, time
from pathlib import Path
from backend import registry
d = Path(sys.argv[1])
i = 0
while True:
    i += 1
    n = random.randint(0, 3000)
    extras = {"seq": str(i), "len": str(n), "pad": "x" * n, "end": str(i)}
    reg = registry.Registration("127.0.0.1", 40000 + i % 1000, time.time(), f"sid{i}",
                                os.getpid(), "main.db", extras)
    registry.publish(d, reg)
    if i % 50 == 0:  # keep the directory small: old names go
        for p in d.iterdir():
            if not p.name.startswith(".") and f"-{os.getpid()}:" in p.name and p.name != reg.name:
                p.unlink(missing_ok=True)
"""


def test_publish_is_atomic_when_the_writer_is_sigkilled(area: Path) -> None:
    sdir = area / ".servinfo"
    sdir.mkdir()
    seen, bad, stop = [0], [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            scan = registry.scan(sdir)
            bad.extend(p for p in scan.problems if "vanished" not in p.reason)
            for e in scan.entries:
                x = e.registration.extras
                if x.get("end") != x.get("seq") or len(x.get("pad", "")) != int(x.get("len", -1)):
                    bad.append(e.name)
                seen[0] += 1

    t = threading.Thread(target=reader)
    t.start()
    kills = 0
    try:
        for _ in range(8):
            child = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(sdir)], env=clean_env())
            time.sleep(random.uniform(0.15, 0.4))
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            kills += 1
    finally:
        stop.set()
        t.join(10)
    assert kills == 8 and seen[0] > 100, seen
    assert not bad, bad[:5]
    # Whatever the kills left is either a whole registration or an ignored temp dotfile.
    final = registry.scan(sdir)
    assert not final.problems
    for name in os.listdir(sdir):
        assert name.startswith(".tmp-") or registry.NAME_RE.match(name), name


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "60"])


def test_pid_reuse_is_judged_dead_and_never_signalled(area: Path) -> None:
    sleeper = _sleeper()
    try:
        sdir = area / ".servinfo"
        sdir.mkdir()
        created = psutil.Process(sleeper.pid).create_time()
        settings = load_settings(area)
        with Recorder(answer_server_id="a" * 32) as rec:
            # 1. pid reused: the file's proc-start is not the live process's.
            reused = registry.Registration(
                "127.0.0.1", rec.port, time.time() - 5000, "a" * 32, sleeper.pid, "main.db",
                {"hostname": procs.this_hostname(), "proc-start": f"{created - 5000:.3f}"},
            )
            path = registry.publish(sdir, reused)
            assert procs.locally_gone(reused)
            assert not procs.terminate_if_ours(area, reused, True)
            res = stop_server(Area(area), settings, registry.read_entry(path), timeout=0.5)
            assert not res.stopped
            # 2. a forged file naming the live process with its true start time,
            # pointing at a listener that answers the file's server-id: the stop
            # fallback must not SIGTERM a process that does not own that port.
            path.unlink()
            forged = registry.Registration(
                "127.0.0.1", rec.port, time.time(), "a" * 32, sleeper.pid, "main.db",
                {"hostname": procs.this_hostname(), "proc-start": f"{created:.3f}"},
            )
            path = registry.publish(sdir, forged)
            res = stop_server(Area(area), settings, registry.read_entry(path), timeout=0.5)
            assert not res.stopped
            assert not procs.terminate_if_ours(area, forged, True)
            # 3. a client judges the reused-pid file dead and removes it once stale.
            path.unlink()
            path = registry.publish(sdir, reused)
            os.utime(path, (time.time() - 1000, time.time() - 1000))
            with Client(area, launch=None) as c, pytest.raises(NoServerError):
                c.call("get-var", "x", deadline=1)
            assert not path.exists()
        assert sleeper.poll() is None, "the unrelated process was signalled"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_port_reuse_is_a_server_id_mismatch(area: Path) -> None:
    a_proc, a = start_server(area)
    os.kill(a_proc.pid, signal.SIGKILL)
    a_proc.wait(10)
    stop_proc(a_proc)
    # B takes A's port (SO_REUSEADDR) while A's file is still fresh.
    b_proc, b = start_server(area, port=str(a.registration.port), heartbeat="30")
    try:
        assert b.registration.port == a.registration.port and a.path.exists()
        settings = load_settings(area)
        res = stop_server(Area(area), settings, a, timeout=0.5)
        # A's process is gone: stopping A means removing its file; B is untouched.
        assert res.stopped and "process" in res.outcome and "is gone" in res.outcome
        assert not a.path.exists() and b.path.exists()
        with Client(area, launch=None) as c:
            c.call("set-var", "k", "v", deadline=5)
            assert c._conns["main.db"].server_id == b.registration.server_id
        # Only a forged file (B's pid, another server-id) names B's port: never used.
        forged = registry.Registration(
            "127.0.0.1", b.registration.port, time.time(), "f" * 32, b_proc.pid, "main.db",
            dict(b.registration.extras),
        )
        b.path.unlink()  # B notices only at its next heartbeat (30 s)
        registry.publish(area / ".servinfo", forged)
        with Client(area, launch=None) as c, pytest.raises(NoServerError, match="answers server-id"):
            c.call("get-var", "k", deadline=1.5)
        assert b_proc.poll() is None, "B was stopped through a file that is not its own"
    finally:
        stop_proc(b_proc, signal.SIGKILL)


@pytest.mark.slow
def test_clock_skew_of_five_minutes_never_removes_a_live_file(area: Path) -> None:
    servers = [start_server(area, heartbeat="30") for _ in range(3)]
    now = time.time()
    (pa, a), (pb, b), (pc, c) = servers
    os.utime(a.path, (now + 300, now + 300))  # written by a host 5 min ahead
    os.utime(b.path, (now - 400, now - 400))  # 5 min behind plus NFS lag: looks stale
    os.utime(c.path, (now - 300, now - 300))  # 5 min behind, and paused (ping fails)
    pc.send_signal(signal.SIGSTOP)
    try:
        pd, d = start_server(area, heartbeat="30")  # its start-up scan judges all three
        with Client(area) as cl:
            for i in range(5):
                cl.call("set-var", f"s{i}", "1")
        r = backend("list", "--area", str(area), "--json")
        assert r.returncode == 0, r.stderr
        for e in (a, b, c, d):
            assert e.path.exists(), f"{e.name} removed"
    finally:
        pc.send_signal(signal.SIGCONT)
        for p, _ in servers:
            stop_proc(p)
        stop_proc(pd)


def test_own_file_replaced_by_symlink_or_garbage_makes_the_server_exit(area: Path) -> None:
    victim = area.parent / "victim"
    for how in ("symlink", "garbage"):
        proc, e = start_server(area)
        copy = area.parent / f"copy-{how}"
        shutil.copy(e.path, copy)
        e.path.unlink()
        if how == "symlink":
            e.path.symlink_to(copy)  # same content, but not a file we follow
        else:
            e.path.write_text("SERVER STARTED: garbage\n")
        assert proc.wait(10) == 0, how
        stop_proc(proc)
        assert os.path.lexists(e.path), "a file that is not ours is left alone"
        e.path.unlink()
    assert not victim.exists()


def test_clients_fail_over_when_a_server_file_is_deleted(area: Path) -> None:
    (p1, e1), (p2, e2) = start_server(area), start_server(area)
    try:
        with Client(area, launch=None) as c:
            c.call("set-var", "a", "1")
            used = c._conns["main.db"].server_id
            victim = next(x for x in ((p1, e1), (p2, e2)) if x[1].registration.server_id == used)
            victim[1].path.unlink()
            assert victim[0].wait(10) == 0
            assert c.call("get-var", "a", deadline=10) == "1"
            assert c._conns["main.db"].server_id != used
    finally:
        stop_proc(p1)
        stop_proc(p2)


def _bind_ro(path: Path) -> bool:
    r1 = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
    if r1.returncode:
        return False
    r2 = subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True)
    if r2.returncode:
        subprocess.run(["umount", str(path)])
        return False
    return True


@pytest.mark.root
@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_cannot_register_is_a_clear_error_and_no_serving(area: Path, fault: str) -> None:
    sdir = area / ".servinfo"
    sdir.mkdir()
    if os.geteuid() != 0:
        if fault == "full":
            pytest.skip("a full directory needs a small tmpfs (root)")
        sdir.chmod(0o555)
        mounted = False
    elif fault == "read-only":
        mounted = _bind_ro(sdir)
        if not mounted:
            pytest.skip("cannot make a read-only bind mount here")
    else:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16k,nr_inodes=8", "tmpfs", str(sdir)],
            capture_output=True,
        )
        if r.returncode:
            pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
        mounted = True
        i = 0
        while True:  # fill every inode (and block)
            try:
                (sdir / f".fill{i}").write_bytes(b"x" * 4096)
            except OSError:
                break
            i += 1
    try:
        r = backend("server", "--area", str(area), "--db", "main.db", timeout=40)
        assert r.returncode not in (0, 3), r.stderr
        assert "backend: error: cannot " in r.stderr, r.stderr
        assert not [n for n in os.listdir(sdir) if registry.NAME_RE.match(n)]
        assert "ERROR: cannot " in log_text(area)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(sdir)])
        else:
            sdir.chmod(0o755)


def garbage_corpus(sdir: Path, port: int, pid: int) -> int:
    """Hostile files in ``sdir``; every one must be reported, none trusted. Returns the count."""
    name = f"127.0.0.1:{port}-{pid}:main.db"
    sid = "b" * 32
    line1 = f"SERVER STARTED: 127.0.0.1:{port} AT {int(time.time())} server-id: {sid} pid: {pid} dbfname: main.db"
    contents: list[bytes] = [
        b"", b"\0" * 100, b"\xff\xfe garbage", b"x" * 5000, b"SERVER STARTED:",
        (line1 + "\0").encode(), line1.replace("main.db", "../../etc/passwd").encode(),
        line1.replace("main.db", "/etc/passwd").encode(), line1.replace(f"pid: {pid}", "pid: 1").encode(),
        line1.replace(f"pid: {pid}", "pid: 0").encode(), line1.replace(f":{port} ", ":0 ").encode(),
        line1.replace(f":{port} ", ":65536 ").encode(), line1.replace(f":{port} ", ":99999999 ").encode(),
        line1.replace(" AT ", " AT nan").encode(), line1.replace(" AT ", " AT -").encode(),
        line1.replace(sid, "a b").encode(), line1.replace(sid, "x" * 300).encode(),
        line1.replace(f"pid: {pid}", "pid: " + "9" * 5000).encode(),
        line1.replace(f"pid: {pid}", "pid: \u0664\u0660").encode(),
        line1.replace("127.0.0.1", "127.0.0.2", 1).encode(),  # content names another file
        ("x" * 4090 + "\n" + line1).encode(), (line1 + "\n" + "k: v\n" * 1000).encode(),
    ]
    n = 0
    for i, data in enumerate(contents):
        # each under a valid name of its own (distinct pid) so that all are parsed
        fname = name.replace(f"-{pid}:", f"-{pid + 1 + i}:") if i else name
        if b"pid: " in data:
            data = data.replace(f"pid: {pid} ".encode(), f"pid: {pid + 1 + i} ".encode()) if i else data
        (sdir / fname).write_bytes(data)
        n += 1
    for bad_name in ["garbage", "127.0.0.1:1-2:..x.db", "x" * 250, "127.0.0.1:0-5:main.db\n", ":-:"]:
        (sdir / bad_name).write_bytes(line1.encode())
        n += 1
    os.mkfifo(sdir / f"127.0.0.1:{port}-{pid + 900}:main.db")
    os.symlink("/etc/passwd", sdir / f"127.0.0.1:{port}-{pid + 901}:main.db")
    os.symlink(sdir / name, sdir / f"127.0.0.1:{port}-{pid + 902}:main.db")
    os.symlink("/nonexistent", sdir / f"127.0.0.1:{port}-{pid + 903}:main.db")
    os.mkdir(sdir / f"127.0.0.1:{port}-{pid + 904}:main.db")
    return n + 5


def test_garbage_corpus_is_reported_never_trusted(area: Path) -> None:
    sdir = area / ".servinfo"
    sdir.mkdir()
    with Recorder() as rec:
        n = garbage_corpus(sdir, rec.port, 4_000_000)
        before = sorted(os.listdir(sdir))
        t0 = time.monotonic()
        scan = registry.scan(sdir)
        assert time.monotonic() - t0 < 2  # no FIFO blocked
        assert scan.entries == ()
        assert len(scan.problems) >= n - 1, (n, scan.problems)
        r = backend("call", "--area", str(area), "set-var", "x", "1")
        assert r.returncode == 0, r.stderr
        r = backend("list", "--area", str(area), "--json")
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        r = backend("stop", "--area", str(area), "--all")
        assert r.returncode == 0, r.stderr
        assert rec.connections == 0, "a garbage file caused a connection"
    after = sorted(os.listdir(sdir))
    assert [x for x in before if x not in after] == [], "garbage is reported, never removed"
    (area / "corpus-count").write_text(str(n))


hosts = st.sampled_from(["127.0.0.1", "localhost", "h-1.example.com", "[::1]", "10.0.0.7"])
extras_st = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9\-]{0,20}", fullmatch=True),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=40)
    .map(str.strip),
    max_size=4,
)
regs = st.builds(
    registry.Registration,
    host=hosts,
    port=st.integers(1, 65535),
    start=st.integers(1, 2**33).map(float),
    server_id=st.from_regex(r"[A-Za-z0-9_\-.]{1,64}", fullmatch=True),
    pid=st.integers(2, 2**31),
    dbfname=st.one_of(st.just("main.db"), st.integers(0, 999999).map(lambda n: f"{n}.db")),
    extras=extras_st,
)


@settings(max_examples=60, deadline=None)
@given(reg=regs)
def test_publish_then_read_round_trips(tmp_path_factory: pytest.TempPathFactory, reg: registry.Registration) -> None:
    d = tmp_path_factory.mktemp("si")
    path = registry.publish(d, reg)
    got = registry.read_entry(path).registration
    assert got == reg and got.extras == {k: v for k, v in reg.extras.items()}
    assert [n for n in os.listdir(d)] == [reg.name]


def test_publish_over_planted_links_leaves_the_victim_alone(area: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sdir = area / ".servinfo"
    sdir.mkdir()
    victim = area.parent / "victim.txt"
    victim.write_text("precious\n")
    reg = registry.Registration("127.0.0.1", 4000, int(time.time()), "c" * 32, 4242, "main.db")
    # a symlink, then a hard link, at the final name: replaced, not written through
    for plant in (os.symlink, os.link):
        plant(victim, sdir / reg.name)
        registry.publish(sdir, reg)
        assert victim.read_text() == "precious\n"
        assert not (sdir / reg.name).is_symlink()
        assert registry.read_entry(sdir / reg.name).registration == reg
        (sdir / reg.name).unlink()
    # a symlink at the (predicted) temp name: the exclusive create refuses
    monkeypatch.setattr(registry, "_temp_suffix", lambda: "feedface")
    os.symlink(victim, sdir / f".tmp-{reg.name}.feedface")
    with pytest.raises(registry.RegistryError):
        registry.publish(sdir, reg)
    assert victim.read_text() == "precious\n"


def test_server_started_by_a_client_outlives_it(area: Path) -> None:
    client = spawn_backend("call", "--area", str(area), "set-var", "x", "1", start_new_session=True)
    assert client.wait(60) == 0, client.communicate()
    client.communicate()
    [e] = wait_for(lambda: entries(area, "main.db"), 10)
    # the client's whole process group dies hard: the server is in its own session
    try:
        os.killpg(client.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    time.sleep(0.5)
    assert not gone(e.registration.pid)
    with Client(area, launch=None) as c:
        assert c.call("get-var", "x") == "1"
    os.kill(e.registration.pid, signal.SIGTERM)
    wait_for(lambda: gone(e.registration.pid), 15)
    _ = spawn_backend  # used above


__all__ = ["garbage_corpus"]
_ = (Area, psutil)
