"""Launcher throttles (SPEC §6; P4, P8, P17): the lease/lock and ``refusal``. Nothing is spawned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from backend import procs, registry
from backend.area import Area
from backend.client import launcher, startlock
from backend.config import Settings
from backend.errors import ConfigError, StartLockBusy
from backend.registry import Registration

FAKE_PID = 999_999


@pytest.fixture
def area(tmp_path: Path) -> Area:
    return Area.open(tmp_path)


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Replace ``_spawn``; pin the load and process count so the host does not matter."""
    calls: list[tuple[str, str]] = []

    def fake_spawn(area: Area, dbfname: str, settings: Settings) -> int:
        calls.append((str(area.root), dbfname))
        return FAKE_PID + len(calls)

    monkeypatch.setattr(launcher, "_spawn", fake_spawn)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(procs, "count_area_servers", lambda root: 0)
    return calls


def settings(**kw: object) -> Settings:
    return Settings().replace(**kw)


def dead_pid() -> int:
    """A pid that was ours and is now reaped."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(10)
    assert not psutil.pid_exists(p.pid)
    return p.pid


def register(area: Area, n: int, pid: int, dbfname: str = "main.db", **extras: str) -> None:
    area.ensure_dirs()
    for i in range(n):
        registry.publish(
            area.servinfo_dir,
            Registration("127.0.0.1", 41000 + i, time.time(), f"sid{i}", pid, dbfname, extras),
        )


def test_second_start_within_throttle_is_refused(area: Area, spawned: list) -> None:
    s = settings(start_throttle=5)
    first = launcher.start_server(area, "main.db", s)
    assert first.started and first.pid == FAKE_PID + 1 and first.reason == "started"
    second = launcher.start_server(area, "main.db", s)
    assert not second.started and second.pid is None
    assert second.reason.startswith("throttled")
    assert len(spawned) == 1
    # The throttle is per dbfname.
    assert launcher.start_server(area, "3.db", s).started
    assert spawned == [(str(area.root), "main.db"), (str(area.root), "3.db")]


def test_throttle_expires(area: Area, spawned: list) -> None:
    s = settings(start_throttle=1.0)
    assert launcher.start_server(area, "main.db", s).started
    assert not launcher.start_server(area, "main.db", s).started
    time.sleep(1.05)
    assert launcher.start_server(area, "main.db", s).started
    assert len(spawned) == 2


def test_lease_is_shared_through_the_lock_file(area: Area, spawned: list) -> None:
    """Another process's start (its lease) throttles us too."""
    area.ensure_dirs()
    lock = area.servinfo_dir / ".start-main.db.lock"
    lock.write_text(f"last={time.time():.6f} pid=12345\n")
    r = launcher.start_server(area, "main.db", settings())
    assert not r.started and r.reason.startswith("throttled")
    assert spawned == []
    # Our start writes the lease with our spawned pid.
    lock.write_text(f"last={time.time() - 100:.6f} pid=12345\n")
    r = launcher.start_server(area, "main.db", settings())
    assert r.started
    text = lock.read_text()
    assert f"pid={r.pid}" in text
    assert abs(float(text.split()[0].split("=")[1]) - time.time()) < 5


@pytest.mark.parametrize("content", ["", "garbage", "last=soon pid=1", "\0\0\0"])
def test_unreadable_lease_does_not_block_starts(area: Area, spawned: list, content: str) -> None:
    area.ensure_dirs()
    (area.servinfo_dir / ".start-main.db.lock").write_text(content)
    assert launcher.start_server(area, "main.db", settings()).started


def test_lease_from_the_future_does_not_block_forever(area: Area, spawned: list) -> None:
    """A lease written by a host whose clock runs ahead (skew) must not throttle for hours."""
    area.ensure_dirs()
    (area.servinfo_dir / ".start-main.db.lock").write_text(f"last={time.time() + 3600} pid=1\n")
    assert launcher.start_server(area, "main.db", settings()).started


def test_force_skips_only_the_time_throttle(area: Area, spawned: list) -> None:
    s = settings(start_throttle=60, max_servers=4)
    assert launcher.start_server(area, "main.db", s).started
    assert launcher.start_server(area, "main.db", s, force=True).started
    register(area, 4, os.getpid())
    r = launcher.start_server(area, "main.db", s, force=True)
    assert not r.started
    assert "4 servers registered" in r.reason
    assert len(spawned) == 2


def test_refused_at_max_servers_live_registrations(area: Area, spawned: list) -> None:
    register(area, 3, os.getpid())
    s = settings(max_servers=4, start_throttle=0)
    assert launcher.refusal(area, "main.db", s) is None
    register(area, 4, os.getpid())
    assert launcher.refusal(area, "main.db", s) == (
        "4 servers registered in .servinfo dir, not starting another"
    )
    r = launcher.start_server(area, "main.db", s)
    assert not r.started and "servers registered" in r.reason
    assert spawned == []
    # Other dbs are not counted.
    assert launcher.refusal(area, "1.db", s) is None


def test_dead_local_registrations_do_not_count(area: Area, spawned: list) -> None:
    """P4: four kill -9 leftovers must not block every start for 360 s."""
    register(area, 4, dead_pid())
    s = settings(max_servers=4)
    assert launcher.refusal(area, "main.db", s) is None
    assert launcher.start_server(area, "main.db", s).started


def test_reused_pid_with_wrong_proc_start_does_not_count(area: Area, spawned: list) -> None:
    """Our pid is alive, but the file says the process started long before: a reused pid."""
    register(area, 4, os.getpid(), **{"proc-start": "1000.0", "hostname": procs.this_hostname()})
    assert launcher.refusal(area, "main.db", settings(max_servers=4)) is None
    area2 = Area.open(area.root)
    started = psutil.Process().create_time()
    here = procs.this_hostname()
    register(area2, 4, os.getpid(), **{"proc-start": f"{started}", "hostname": here})
    assert launcher.refusal(area2, "main.db", settings(max_servers=4)) is not None


def test_remote_registrations_count_even_with_dead_pid(area: Area, spawned: list) -> None:
    """A pid on another host cannot be judged locally: the file counts."""
    register(area, 4, dead_pid(), hostname="some-other-host.example")
    assert "servers registered" in (launcher.refusal(area, "main.db", settings()) or "")


def test_load_limit_applies_to_scale_out_only(
    area: Area, spawned: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    cpus = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (4.5 * cpus, 0.0, 0.0))
    # The first server of a db is never refused for load: without it every
    # client would wait out its deadline on a busy host.
    assert launcher.start_server(area, "main.db", settings(max_load=4.0)).started
    register(area, 1, os.getpid())  # a live server of this db now exists
    r = launcher.start_server(area, "main.db", settings(max_load=4.0, start_throttle=0.0))
    assert not r.started
    assert r.reason == "normalized load 4.50 is over the limit of 4"
    # force does not bypass the load limit
    assert not launcher.start_server(area, "main.db", settings(), force=True).started
    monkeypatch.setattr(os, "getloadavg", lambda: (3.9 * cpus, 0.0, 0.0))
    assert launcher.start_server(area, "main.db", settings(max_load=4.0, start_throttle=0.0)).started
    assert len(spawned) == 2


def test_refused_start_does_not_take_the_lease(
    area: Area, spawned: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(area, 1, os.getpid())
    monkeypatch.setattr(os, "getloadavg", lambda: (1e6, 0.0, 0.0))
    assert not launcher.start_server(area, "main.db", settings()).started
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert launcher.start_server(area, "main.db", settings()).started


def test_process_count_limit(area: Area, spawned: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "count_area_servers", lambda root: 101)
    r = launcher.start_server(area, "main.db", settings(max_server_procs=100))
    assert not r.started and "101 servers running on" in r.reason
    monkeypatch.setattr(procs, "count_area_servers", lambda root: 100)
    assert launcher.start_server(area, "main.db", settings(max_server_procs=100)).started


def test_invalid_dbfname_refused_before_anything(area: Area, spawned: list) -> None:
    with pytest.raises(ConfigError, match="invalid dbfname"):
        launcher.start_server(area, "../main.db", settings())
    assert spawned == []
    assert not area.servinfo_dir.exists()


def test_held_start_lock_times_out(
    area: Area, spawned: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live holder's fresh lease: wait, then a clear error naming the holder."""
    area.ensure_dirs()
    monkeypatch.setattr(startlock, "LOCK_WAIT", 0.2)
    held = area.servinfo_dir / ".start-main.db.held"
    held.write_text(f"pid={os.getpid()} host={procs.this_hostname()} at={time.time()} token=abc\n")
    t0 = time.monotonic()
    with pytest.raises(StartLockBusy, match=f"held by pid {os.getpid()} on .* expires after"):
        launcher.start_server(area, "main.db", settings())
    assert time.monotonic() - t0 < 3
    assert spawned == []
    busy = [e for e in _events(area) if e["kind"] == "lock_busy"]
    assert len(busy) == 1 and busy[0]["dbfname"] == "main.db" and f"pid {os.getpid()}" in busy[0]["holder"]
    held.unlink()
    assert launcher.start_server(area, "main.db", settings()).started


@pytest.mark.parametrize("content", ["old", "dead", "future", "empty-old", "garbage-old"])
def test_expired_start_lease_is_broken(area: Area, spawned: list, content: str) -> None:
    """Issue 12 item 6: a lease that expired, or whose holder is dead, or that a
    holder never finished writing, does not block starts."""
    area.ensure_dirs()
    held = area.servinfo_dir / ".start-main.db.held"
    host, now = procs.this_hostname(), time.time()
    held.write_text({
        "old": f"pid={os.getpid()} host={host} at={now - 60} token=a\n",
        "dead": f"pid=999999 host={host} at={now} token=a\n",
        "future": f"pid={os.getpid()} host=elsewhere at={now + 3600} token=a\n",
        "empty-old": "", "garbage-old": "\0\0 pid=x",
    }[content])
    if content.endswith("-old"):
        os.utime(held, (now - 60, now - 60))
    t0 = time.monotonic()
    assert launcher.start_server(area, "main.db", settings()).started
    assert time.monotonic() - t0 < 2
    assert not held.exists()  # released after use
    assert [p.name for p in area.servinfo_dir.iterdir() if "broken" in p.name] == []
    expired = [e for e in _events(area) if e["kind"] == "lock_expired"]
    assert len(expired) == 1 and expired[0]["dbfname"] == "main.db"
    if content in ("old", "dead"):
        assert expired[0]["holder_pid"] == (os.getpid() if content == "old" else 999999)


def _events(area: Area) -> list[dict[str, object]]:
    path = area.logs_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_resumed_holder_does_not_release_a_lease_it_lost(area: Area) -> None:
    area.ensure_dirs()
    held = area.servinfo_dir / ".start-main.db.held"
    with startlock.start_lease(area.servinfo_dir, "main.db"):
        mine = held.read_text()
        # our lease was broken meanwhile and another holder took it
        held.unlink()
        held.write_text(f"pid=1 host=x at={time.time()} token=theirs\n")
    assert held.exists() and "theirs" in held.read_text() and mine != held.read_text()


def test_lock_file_symlink_is_not_followed(
    area: Area, spawned: list, tmp_path: Path
) -> None:
    area.ensure_dirs()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.symlink(victim, area.servinfo_dir / ".start-main.db.lock")
    with pytest.raises(ConfigError, match="cannot open start lock"):
        launcher.start_server(area, "main.db", settings())
    assert victim.read_text() == "precious\n"
    assert spawned == []


def test_lock_file_is_invisible_to_scans(area: Area, spawned: list) -> None:
    assert launcher.start_server(area, "main.db", settings()).started
    assert registry.scan(area.servinfo_dir) == registry.Scan((), ())


# -- a start still in progress (a loaded host can take longer than start-throttle) ---


def _lease_of(area: Area, pid: int, age: float, host: str | None = None) -> launcher.Lease:
    return launcher.Lease(time.time() - age, pid, host if host is not None else procs.this_hostname())


def test_a_live_unregistered_server_of_the_last_start_blocks_another_start(area: Area) -> None:
    area.ensure_dirs()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            lease = _lease_of(area, child.pid, age=1.0)
            why = launcher.still_starting(area, "main.db", lease, time.time(), settings())
            assert why is not None and f"pid {child.pid}" in why and "not registered" in why
            # Once it registered, it is a server like any other: the usual limits decide.
            register(area, 1, child.pid)
            assert launcher.still_starting(area, "main.db", lease, time.time(), settings()) is None
        finally:
            child.kill()


@pytest.mark.parametrize("case", ["dead", "old", "other-host", "no-lease"])
def test_a_last_start_that_cannot_be_pending_does_not_block(area: Area, case: str) -> None:
    area.ensure_dirs()
    s = settings(registration_visible_timeout=12.0)
    lease = {
        "dead": _lease_of(area, dead_pid(), age=1.0),
        "old": _lease_of(area, os.getpid(), age=13.0),  # alive, but past the registration bound
        "other-host": _lease_of(area, os.getpid(), age=1.0, host="elsewhere.example"),
        "no-lease": launcher.Lease(),
    }[case]
    assert launcher.still_starting(area, "main.db", lease, time.time(), s) is None


def test_start_server_waits_for_a_pending_start_but_force_does_not(area: Area, spawned: list[tuple[str, str]],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "_running", lambda pid: True)  # the fake spawned pid "runs"
    s = settings(start_throttle=0.0)
    assert launcher.start_server(area, "main.db", s).started
    second = launcher.start_server(area, "main.db", s)
    assert not second.started and "has not registered yet" in second.reason
    assert launcher.start_server(area, "main.db", s, force=True).started
    assert len(spawned) == 2
