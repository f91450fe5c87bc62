"""Two hosts sharing one area (SPEC §4 home host, §2 provably dead, §3 auth).

Host A and host B are network namespaces joined by a veth pair, each command
in its own UTS namespace (hostname hostA / hostB); the area directory is the
shared filesystem. The test process itself is on neither host: it only reads
the area.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from backend import registry
from backend.area import Area
from tests.helpers import entries, wait_for
from tests.multihost.netns import Host

pytestmark = [pytest.mark.root, pytest.mark.slow]


def start_server(host: Host, area: Path, *flags: str) -> tuple[subprocess.Popen[str], registry.Entry]:
    proc = host.spawn("server", "--area", str(area), "--db", "main.db", *flags)

    def registered() -> registry.Entry | None:
        assert proc.poll() is None, f"server on {host.hostname} exited: {proc.communicate()[1]}"
        return next((e for e in entries(area, "main.db") if e.registration.pid == proc.pid), None)

    entry = wait_for(registered, 20, what=f"registration of the server on {host.hostname}")
    return proc, entry


def finish(proc: subprocess.Popen[str], timeout: float = 15) -> int:
    code = proc.wait(timeout)
    proc.communicate()
    return code


def hostnames(area: Path) -> list[str]:
    return [e.registration.hostname for e in entries(area, "main.db")]


def call(host: Host, area: Path, *args: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return host.run("call", "--area", str(area), *args, env=env)


def test_home_host_across_two_hosts(area: Path, two_hosts: tuple[Host, Host]) -> None:
    a, b = two_hosts
    b_env = {"MTSERVE_HOST": b.addr}  # B's auto-started servers bind B's routable address
    Area.open(area).key()

    # 1. Servers on A registered with loopback: B says so at once and starts nothing.
    proc, e = start_server(a, area)
    assert (e.registration.host, e.registration.hostname) == ("127.0.0.1", "hostA")
    t0 = time.monotonic()
    r = call(b, area, "get-var", "color", env=b_env)
    assert r.returncode == 1
    assert (
        "servers for main.db run on host hostA but registered a loopback address (127.0.0.1) "
        "that this host cannot reach; start them with --host"
    ) in r.stderr
    assert time.monotonic() - t0 < 10
    assert hostnames(area) == ["hostA"]
    proc.terminate()
    assert finish(proc) == 0

    # 2. With --host, B's client registers data through A's server.
    proc, e = start_server(a, area, "--host", a.addr)
    assert e.name.startswith(f"{a.addr}:") and e.registration.hostname == "hostA"
    assert call(b, area, "set-var", "color", "blue", env=b_env).returncode == 0
    r = call(b, area, "--json", "register-run", '{"SYSTEM": "linux"}', "nightly", env=b_env)
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)
    r = call(b, area, "--json", "get-run-info", str(run_id), env=b_env)
    assert r.returncode == 0 and json.loads(r.stdout)["runname"] == "nightly", r.stderr
    r = call(b, area, "get-var", "color", env=b_env)
    assert (r.returncode, r.stdout.strip()) == (0, "blue"), r.stderr
    assert hostnames(area) == ["hostA"], "B used A's server and started none"

    # 3. A server started on B exits without registering.
    r = b.run("server", "--area", str(area), "--db", "main.db", "--host", b.addr)
    assert r.returncode == 3, r.stderr
    assert "Prime main server is on host hostA, but we are on host hostB, exiting." in r.stderr
    assert hostnames(area) == ["hostA"]

    # 4. B stops A's server with the key (the stop command over the network).
    r = b.run("stop", "--area", str(area), "--db", "main.db")
    assert r.returncode == 0, r.stderr
    assert finish(proc) == 0
    assert entries(area, "main.db") == []

    # 5. B's client now starts a server on B, which becomes the home host.
    r = call(b, area, "get-var", "color", env=b_env)
    assert (r.returncode, r.stdout.strip()) == (0, "blue"), r.stderr
    [e] = entries(area, "main.db")
    assert e.registration.hostname == "hostB" and e.registration.host == b.addr
    r = a.run("server", "--area", str(area), "--db", "main.db", "--host", a.addr)
    assert r.returncode == 3
    assert "Prime main server is on host hostB, but we are on host hostA, exiting." in r.stderr
    r = call(a, area, "get-var", "color")
    assert (r.returncode, r.stdout.strip()) == (0, "blue"), r.stderr
    assert hostnames(area) == ["hostB"]
    assert a.run("stop", "--area", str(area), "--all").returncode == 0
    wait_for(lambda: entries(area) == [], 15, what="B's server to exit")


def test_partition_gives_a_clear_error_and_removes_nothing(
    area: Path, two_hosts: tuple[Host, Host]
) -> None:
    a, b = two_hosts
    Area.open(area).key()
    proc, e = start_server(a, area, "--host", a.addr)
    assert call(b, area, "set-var", "x", "1").returncode == 0
    logs_before = set((area / "logs").glob("server-*.log"))

    a.ip("link", "set", a.dev, "down")  # the cable between A and B is cut
    deadline = 3.0
    t0 = time.monotonic()
    r = call(b, area, "get-var", "x", env={"MTSERVE_CALL_DEADLINE": str(deadline)})
    took = time.monotonic() - t0
    assert r.returncode == 1
    assert "no usable server for main.db" in r.stderr
    assert f"servers for main.db run on host hostA ({a.addr}:{e.registration.port})" in r.stderr
    assert "do not answer from host hostB" in r.stderr
    assert took < deadline + 3, took  # the deadline, one ping timeout, process start-up
    # Nothing removed, nothing started on B: A's file is fresh, so not provably dead.
    [still] = entries(area, "main.db")
    assert still.registration.server_id == e.registration.server_id
    assert set((area / "logs").glob("server-*.log")) == logs_before
    assert proc.poll() is None

    a.ip("link", "set", a.dev, "up")
    r = call(b, area, "get-var", "x")
    assert (r.returncode, r.stdout.strip()) == (0, "1"), r.stderr
    proc.terminate()
    assert finish(proc) == 0
