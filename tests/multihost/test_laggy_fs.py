"""The lifecycle rules over an NFS-like view of the registry (P16, SPEC §2).

A hypothesis property test: a world of servers (live, live but silent for a
moment, dead, dead with its port reused by a live one; on this host or another,
with loopback or routable addresses) registered in a real ``.servinfo/``, seen
through ``LaggyOS`` (listings and mtimes up to 60 s behind, ``.nfs*``
leftovers, spurious ESTALE / EEXIST), with the remover's clock skewed against
the file server's. The real client choice, client call, server start-up scan
and publish run against it, and must never

- remove the file of a live server (also one whose ping failed just then), or
- use a server under another server-id than the one its file names (the
  connection the client authenticates on answers the file's server-id).

Safety needs lag + skew + heartbeat < stale-after (60 + 290 + 5 < 360 here);
docs/multi-host.md explains the margin.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import backend.client.client
import backend.procs
import backend.registry
from backend import registry
from backend.area import Area
from backend.client.client import Client
from backend.config import Settings
from backend.errors import ConnectError, NoServerError, RegistryError, Timeout
from backend.server.server import Server
from backend.wire import protocol
from backend.wire.connection import PingResult
from tests.multihost.laggyfs import LaggyOS

HEARTBEAT, STALE_AFTER, MAX_LAG, MAX_SKEW = 5.0, 360.0, 60.0, 290.0
ME, PEER = "me", "peer"
LIVE, SILENT, DEAD, REUSED = "live", "silent", "dead", "reused"


@dataclass
class Srv:
    reg: registry.Registration
    kind: str
    path: Path

    @property
    def answers(self) -> bool:
        return self.kind == LIVE

    @property
    def listening(self) -> bool:
        return self.kind in (LIVE, SILENT)


@dataclass
class World:
    servers: list[Srv] = field(default_factory=list)
    key: bytes = b""
    used: list[str] = field(default_factory=list)  # server-ids clients sent work to

    def dial(self, host: str, port: int) -> Srv | None:
        """Who answers a connect from this host (ME) to host:port."""
        loop = backend.procs.is_loopback_address(host)
        for s in self.servers:
            if not s.listening or s.reg.port != port or s.reg.host != host:
                continue
            if loop and s.reg.hostname != ME:
                continue  # another host's 127.0.0.1 is not ours to reach
            return s
        return None

    def ping(self, host: str, port: int) -> PingResult:
        s = self.dial(host, port)
        if s is None:
            return PingResult(ok=False, error="connection refused")
        if not s.answers:
            return PingResult(ok=False, error="no answer within 1s")
        return PingResult(ok=True, server_id=s.reg.server_id, sstate="running", sload=0,
                          rtt_ms=0.1, meta={"nonce": "ab" * 16, "sstate": "running", "sload": 0})


class FakeConnection:
    """``backend.client.client.Connection`` against the world (no sockets)."""

    world: World

    def __init__(self, host: str, port: int, timeout: float, max_frame: int = 1 << 20) -> None:
        self.host, self.port = host, port
        self.owner = self.world.dial(host, port)
        if self.owner is None:
            raise ConnectError(f"cannot connect to {host}:{port}: refused")
        self.server_id: str | None = None
        self.nonce: str | None = None
        self.authenticated = False
        self.backoff = 0

    def ping(self, timeout: float) -> PingResult:
        res = self.world.ping(self.host, self.port)
        if not res.ok:
            raise Timeout(res.error or "timeout")
        self.server_id, self.nonce = res.server_id, res.meta["nonce"]
        return res

    def request(self, wire: list[Any], timeout: float) -> protocol.Response:
        assert self.owner is not None and self.owner.answers
        meta = wire[3] or {}
        if not self.authenticated:
            # The token names the server-id the client believes it talks to.
            token = protocol.auth_token(self.world.key, self.owner.reg.server_id, self.nonce or "")
            assert meta.get("auth") == token, "client authenticated under another server-id"
        self.world.used.append(self.owner.reg.server_id)
        return protocol.Response("ok", None, self.owner.reg.server_id,
                                 {"sstate": "running", "sload": 0})

    def close(self) -> None:
        pass


server_spec = st.fixed_dictionaries({
    "kind": st.sampled_from([LIVE, LIVE, SILENT, DEAD, REUSED]),
    "foreign": st.booleans(),
    "loopback": st.booleans(),
    "dead_for": st.floats(0, 2000),
    "phase": st.floats(0, HEARTBEAT),
    "new": st.booleans(),
})
scenario = st.fixed_dictionaries({
    "servers": st.lists(server_spec, min_size=1, max_size=6),
    "gone": st.integers(0, 2),
    "nfs": st.integers(0, 2),
    "skew": st.one_of(st.floats(-300, MAX_SKEW), st.just(MAX_SKEW)),
    "worst": st.booleans(),
    "ops": st.lists(st.sampled_from(["choose", "call", "server", "publish"]),
                    min_size=1, max_size=5),
    "p_estale": st.sampled_from([0.0, 0.05, 0.3]),
    # A private PRNG, not st.randoms(): how many draws the view makes depends on
    # real-time staleness checks, which hypothesis's replay must not see.
    "seed": st.integers(0, 2**32 - 1),
})


def build(sdir: Path, spec: dict[str, Any], fs_now: float) -> tuple[World, set[str], set[str]]:
    world = World()
    pid = 5_000_000  # above any pid_max: never a real process
    for i, s in enumerate(spec["servers"]):
        pid += 1
        host = "127.0.0.1" if s["loopback"] else f"10.231.{2 if s['foreign'] else 1}.1"
        port = 40000 + i
        kind = s["kind"]
        if kind == REUSED:
            owners = [x for x in world.servers if x.kind == LIVE]
            if owners:  # a dead file whose host:port now belongs to a live server
                host, port = owners[0].reg.host, owners[0].reg.port
            kind = REUSED if owners else DEAD
        reg = registry.Registration(
            host, port, fs_now - 3000 + i, f"{i:02d}" + "5e" * 15, pid, "main.db",
            {"hostname": PEER if s["foreign"] else ME},
        )
        path = registry.publish(sdir, reg)
        age = s["phase"] if kind in (LIVE, SILENT) else s["dead_for"]
        t = fs_now - age
        import os

        os.utime(path, (t, t))
        world.servers.append(Srv(reg, kind, path))
    may_hide = {x.path.name for x, s in zip(world.servers, spec["servers"], strict=True)
                if s["new"] and x.kind in (LIVE, SILENT)}
    ghosts: set[str] = set()
    for j in range(spec["gone"]):
        reg = registry.Registration("127.0.0.1", 41000 + j, fs_now - 50, f"g{j}" * 8, 6_000_000 + j,
                                    "main.db", {"hostname": ME})
        ghosts.add(reg.name)  # removed a moment ago; cached listings still show it
    for j in range(spec["nfs"]):
        (sdir / f".nfs00000000000{j:04d}0000001").write_text("SERVER STARTED: junk\n")
    return world, may_hide, ghosts


def check_safety(world: World, where: str) -> None:
    for s in world.servers:
        if s.listening:  # alive, answering or not
            assert s.path.exists(), f"{where}: removed the file of a live server ({s.kind})"
    live_ids = {s.reg.server_id for s in world.servers if s.answers}
    assert set(world.used) <= live_ids, f"{where}: work went to a server that is not live"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_rules_hold_over_a_laggy_filesystem(spec: dict[str, Any]) -> None:
    cfg = Settings(heartbeat=HEARTBEAT, stale_after=STALE_AFTER, ping_timeout=1.0,
                   call_deadline=2.0)
    skew = spec["skew"]  # the remover's clock minus the file server's

    def fs_clock() -> float:
        return time.time() - skew

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        root = Path(tmp)
        area = Area.open(root)
        area.ensure_dirs()
        world, may_hide, ghosts = build(area.servinfo_dir, spec, fs_clock())
        world.key = area.key()
        rng = random.Random(spec["seed"])
        laggy = LaggyOS(area.servinfo_dir, rng, max_lag=MAX_LAG, heartbeat=HEARTBEAT,
                        fs_clock=fs_clock, p_estale=spec["p_estale"], worst=spec["worst"])
        FakeConnection.world = world
        mp.setattr(backend.registry, "os", laggy)
        mp.setattr(backend.client.client, "Connection", FakeConnection)
        mp.setattr(backend.procs, "this_hostname", lambda: ME)
        alive_pids = {s.reg.pid for s in world.servers if s.listening and s.reg.hostname == ME}
        mp.setattr(backend.procs, "process_matches", lambda reg: reg.pid in alive_pids)

        clock = [0.0]

        def sleep(d: float) -> None:
            clock[0] += d

        async def fake_pings(entries: list[registry.Entry]) -> list[PingResult]:
            return [world.ping(e.registration.host, e.registration.port) for e in entries]

        for op in spec["ops"]:
            laggy.reshuffle(may_hide=may_hide, may_ghost=ghosts)
            client = Client(area, cfg, launch=lambda *a: None, clock=lambda: clock[0],
                            sleep=sleep)
            if op == "choose":
                conn, _, _ = client._choose("main.db", clock[0] + 2, "")
                if conn is not None:
                    assert isinstance(conn, FakeConnection) and conn.owner is not None
                    assert conn.owner.answers and conn.server_id == conn.owner.reg.server_id
            elif op == "call":
                try:
                    answered_by = client.call("get-var", "x")
                except NoServerError:
                    pass
                else:
                    assert answered_by in {s.reg.server_id for s in world.servers if s.answers}
            elif op == "server":
                srv = Server(area, "main.db", cfg)
                srv._ping_entries = fake_pings  # type: ignore[method-assign]
                decision = asyncio.run(srv._startup_scan())
                assert decision is None or "exiting" in decision
            else:
                reg = registry.Registration("127.0.0.1", 42000, time.time(), "99" * 16,
                                            7_000_000, "main.db", {"hostname": ME})
                try:
                    path = registry.publish(area.servinfo_dir, reg)
                except RegistryError:
                    pass  # a spurious EEXIST: the server reports and exits, never half-registers
                else:
                    assert registry.read_server_id(path) in ("99" * 16, None)
                    path.unlink()
            client.close()
            check_safety(world, op)
        removed = sum(not s.path.exists() for s in world.servers)
        event(f"dead files removed: {min(removed, 2)}")
        event(f"calls answered: {min(len(world.used), 2)}")
        event(f"ESTALE injected: {min(laggy.injected['ESTALE'], 1)}")
