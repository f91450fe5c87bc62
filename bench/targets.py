"""Servers under test: ours (a real ``backend server`` process) and the baseline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from backend import registry
from backend.wire import protocol
from backend.wire.connection import ping

# Policy thresholds would turn a benchmark of the server into a benchmark of
# scale-out (``loaded`` answers spawn more servers): lift them for one server.
BENCH_ENV = {
    "MTSERVE_BUSY_THRESHOLD": "100000",
    "MTSERVE_LOADED_THRESHOLD": "100000",
    "MTSERVE_IDLE_TIMEOUT": "600",
    "MTSERVE_MAX_SERVERS": "4",
}


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid``, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    host: str
    port: int
    pid: int
    key: bytes | None
    proc: subprocess.Popen[bytes]

    def auth_meta(self, server_id: str | None, nonce: str | None) -> dict[str, str] | None:
        if self.key is None or not server_id or not nonce:
            return None
        return {"auth": protocol.auth_token(self.key, server_id, nonce)}

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTSERVE_")}
    env.update(extra)
    return env


def start_ours(area: Path, dbfname: str = "main.db") -> Target:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "server", "--area", str(area), "--db", dbfname],
        env=_env(BENCH_ENV), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 30
    while time.monotonic() < end:
        for e in registry.scan(area / ".servinfo", dbfname).entries:
            reg = e.registration
            if reg.pid == proc.pid and ping(reg.host, reg.port, 1).sstate == "running":
                key = (area / ".mtkey").read_text().strip().encode()
                return Target("mtserve", reg.host, reg.port, proc.pid, key, proc)
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("server did not register within 30 s")


def start_baseline(workdir: Path) -> Target:
    """The baseline over its own db directory (``workdir/baseline-db``)."""
    portfile = workdir / "baseline.port"
    portfile.unlink(missing_ok=True)
    db_dir = workdir / "baseline-db"
    db_dir.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline_server", str(portfile), str(db_dir)],
        env=_env({}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if portfile.exists() and portfile.read_text():
            return Target("baseline", "127.0.0.1", int(portfile.read_text()), proc.pid, None, proc)
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("baseline did not start")
