"""Two "hosts" on one machine: network namespaces joined by a veth pair, each
command run in its own UTS namespace so that ``gethostname()`` differs.

Only the namespaces made here carry traffic (10.231.0.0/24 exists nowhere
else); names are unique per test so parallel runs do not collide, and both
namespaces are deleted in teardown after every process of the area is gone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import clean_env, kill_area_processes

SUBNET = "10.231.0"


@dataclass(frozen=True)
class Host:
    ns: str
    hostname: str
    addr: str
    dev: str

    def argv(self, *cmd: str) -> list[str]:
        """``cmd`` run inside this host: its netns, a fresh UTS namespace named
        ``hostname``, and exec (the pid we get is the command's own)."""
        return [
            "ip", "netns", "exec", self.ns, "unshare", "--uts", "sh", "-c",
            'hostname "$0" && exec "$@"', self.hostname, *cmd,
        ]

    def backend_argv(self, *args: str) -> list[str]:
        return self.argv(sys.executable, "-m", "backend", *args)

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.backend_argv(*args), capture_output=True, text=True,
                              timeout=timeout, env=self.env(env))

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.backend_argv(*args), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=self.env(env))

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        e = clean_env()
        e.update(extra or {})
        return e

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", "-n", self.ns, *args], check=True, capture_output=True, timeout=10)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def two_hosts(area: Path) -> Iterator[tuple[Host, Host]]:
    if os.geteuid() != 0:
        pytest.skip("needs root (ip netns, unshare)")
    if not shutil.which("ip") or not shutil.which("unshare"):
        pytest.skip("needs iproute2 and unshare")
    tag = secrets.token_hex(3)
    a = Host(f"mtA{tag}", "hostA", f"{SUBNET}.1", f"va{tag}")
    b = Host(f"mtB{tag}", "hostB", f"{SUBNET}.2", f"vb{tag}")
    made: list[str] = []
    try:
        for h in (a, b):
            if _ip("netns", "add", h.ns).returncode != 0:
                pytest.skip(f"ip netns add {h.ns} failed")
            made.append(h.ns)
        a.ip("link", "add", a.dev, "type", "veth", "peer", "name", b.dev, "netns", b.ns)
        for h in (a, b):
            h.ip("addr", "add", f"{h.addr}/24", "dev", h.dev)
            h.ip("link", "set", "lo", "up")
            h.ip("link", "set", h.dev, "up")
        probe = subprocess.run(b.argv("hostname"), capture_output=True, text=True, timeout=10)
        if probe.stdout.strip() != b.hostname:
            pytest.skip(f"unshare --uts does not work here: {probe.stderr.strip()}")
        yield a, b
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot set up namespaces: {exc.stderr}")
    finally:
        kill_area_processes(area)  # nothing may outlive its namespace's test
        for ns in made:
            _ip("netns", "del", ns)
