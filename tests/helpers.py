"""Shared test helpers: run the CLI, wait for conditions, find our processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from backend import registry

# Fast settings for test areas: servers heartbeat quickly and exit on their own
# soon after a test forgets them.
FAST_CONFIG = """\
[server]
heartbeat 0.2
idle-timeout 30
start-throttle 0.5
call-deadline 20
ping-timeout 1
drain-timeout 3
standby-timeout 30
# Tests must not depend on how busy the machine is (the launcher's scale-out
# load limit); the throttle tests set their own.
max-load 1000
"""


def make_area(path: Path, extra: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "megatest.config").write_text(FAST_CONFIG + extra)
    return path


def clean_env() -> dict[str, str]:
    """The environment without MTSERVE_* leaking from the developer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MTSERVE_")}


def backend(*args: str, timeout: float = 60, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "backend", *args],
        capture_output=True, text=True, timeout=timeout, env=env or clean_env(),
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"backend {' '.join(args)} failed: {proc.stderr}")
    return proc


def spawn_backend(*args: str, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "backend", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env or clean_env(), **kw,
    )


def wait_for(pred: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02,
             what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def process_gone(pid: int) -> bool:
    """The process has exited (or is a zombie awaiting its parent); race-free
    against the pid vanishing between the two psutil calls."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def entries(area: Path, dbfname: str | None = None) -> list[registry.Entry]:
    return registry.newest_first(registry.scan(area / ".servinfo", dbfname).entries)


def area_processes(area: Path) -> list[psutil.Process]:
    """Processes whose command line names ``area`` (and their children): ours."""
    key = str(area)
    found: dict[int, psutil.Process] = {}
    # Never ourselves or the pytest processes above us: with --basetemp the
    # test runner's own command line names the area's parent directory.
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    for proc in psutil.process_iter(["cmdline", "pid"]):
        try:
            cmd = proc.info.get("cmdline") or []
            if proc.pid not in spared and any(key in part for part in cmd):
                found[proc.pid] = proc
                for child in proc.children(recursive=True):
                    found[child.pid] = child
        except psutil.Error:
            continue
    return list(found.values())


def kill_area_processes(area: Path) -> int:
    procs = area_processes(area)
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)
    return len(procs)
