"""``procs.process_matches`` answers from /proc without psutil (issue 16 item 1);
its answers must be psutil's: same start time, same zombie and dead-pid verdicts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from backend import procs
from backend.registry import Registration


def _reg(pid: int, proc_start: float | None) -> Registration:
    extras = {"hostname": procs.this_hostname()}
    if proc_start is not None:
        extras["proc-start"] = repr(proc_start)
    return Registration("127.0.0.1", 1, 0.0, "sid", pid, "main.db", extras)


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")


def test_procfs_start_time_is_psutils() -> None:
    created = psutil.Process(os.getpid()).create_time()
    assert procs._process_matches_procfs(_reg(os.getpid(), created)) is True
    assert procs._process_matches_procfs(_reg(os.getpid(), None)) is True
    # A reused pid: another start time is refused, as psutil's check refuses it.
    assert procs._process_matches_procfs(_reg(os.getpid(), created - 30)) is False
    assert procs.process_matches(_reg(os.getpid(), created - 30)) is False


def test_dead_pid_and_zombie_do_not_match() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(child.pid).create_time()
    try:
        # Not reaped yet: once it exits it is a zombie, which never matches.
        deadline = time.monotonic() + 20
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "child never exited"
            time.sleep(0.01)
        assert procs._process_matches_procfs(_reg(child.pid, started)) is False
    finally:
        child.wait()
    assert procs._process_matches_procfs(_reg(child.pid, started)) is False
    assert procs.process_matches(_reg(child.pid, started)) is False
