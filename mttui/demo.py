"""``mttui --demo``: a temporary area with ``backend serve`` and a light load.

Every child runs in its own session with stdout/stderr to a file in the area
(never the terminal). ``Demo.cleanup`` is idempotent and runs from a
``finally`` and from ``atexit``: SIGTERM serve and wait, kill the load, then
kill anything else whose command line names the temp area (servers started
from the monitor with ``n``), then remove the area.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

DEMO_CONFIG = """\
[server]
heartbeat 1
start-throttle 1
"""


class Demo:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mttui-demo-")).resolve()
        (self.root / "megatest.config").write_text(DEMO_CONFIG)
        (self.root / "logs").mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.serve: subprocess.Popen[bytes] | None = None
        self._cleaned = False
        atexit.register(self.cleanup)

    def _spawn(self, args: list[str], logname: str) -> subprocess.Popen[bytes]:
        with open(self.root / "logs" / logname, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, *args], cwd=self.root, stdin=subprocess.DEVNULL,
                stdout=out, stderr=out, start_new_session=True,
            )
        self.procs.append(proc)
        log.info("demo: started %s (pid %d)", " ".join(args), proc.pid)
        return proc

    def start(self) -> None:
        area = str(self.root)
        self.serve = self._spawn(
            ["-m", "backend", "serve", "--area", area, "--db", "main.db", "--db", "1.db"],
            "demo-serve.out",
        )
        self._wait_registered(("main.db", "1.db"), 10.0)
        load = self._spawn(["-m", "backend", "demo-load", "--area", area, "--forever", "--pause", "0.05"],
                           "demo-load.out")
        end = time.monotonic() + 1.5
        while time.monotonic() < end and load.poll() is None:
            time.sleep(0.05)
        if load.poll() not in (None, 0):
            log.info("demo: backend demo-load unavailable (exit %s); using the loop",
                     load.returncode)
            self._spawn(["-m", "mttui.loadloop", "--area", area], "demo-load.out")

    def _wait_registered(self, dbs: tuple[str, ...], timeout: float) -> None:
        """Let serve register first, so the load does not start servers of its own."""
        servinfo = self.root / ".servinfo"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                names = os.listdir(servinfo)
            except FileNotFoundError:
                names = []
            if all(any(n.endswith(":" + db) for n in names) for db in dbs):
                return
            if self.serve is not None and self.serve.poll() is not None:
                return
            time.sleep(0.05)

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        for proc in self.procs:
            _signal(proc, signal.SIGTERM)
        if self.serve is not None:
            _wait(self.serve, 10.0)
        for proc in self.procs:
            if not _wait(proc, 1.0):
                _signal(proc, signal.SIGKILL)
                _wait(proc, 5.0)
        _kill_area_processes(str(self.root))
        shutil.rmtree(self.root, ignore_errors=True)
        log.info("demo: cleaned up %s", self.root)


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def _kill_area_processes(key: str) -> None:
    """SIGTERM, then SIGKILL, every process of ours whose command line names ``key``."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.pid != me and any(key in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    for proc in found:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _gone, alive = psutil.wait_procs(found, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
