"""A hypothesis state machine of the lifecycle rules (backend/rules.py, the same
functions server.py and client.py call) over a fake clock and a fake registry.

Rules: start a server (start-up scan), kill -9, pause/resume (SIGSTOP), delete a
file, advance time (heartbeat: self-check, rank check), client call (choice,
provably-dead removal, start when none). Invariants: at most max-servers
running after a settled tick, no running server's file removed by a rule, every
acknowledged write readable. Clock skew: each server's touches land up to
±5 min off the observers' clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from backend import registry, rules
from backend.wire.connection import PingResult

MAX, STALE, HEARTBEAT = 4, 360.0, 5.0


@dataclass
class Proc:
    sid: str
    start: float
    skew: float
    state: str = "running"  # running | paused | dead
    load: int = 0


class LifecycleModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000.0
        self.procs: dict[str, Proc] = {}
        self.files: dict[str, float] = {}  # server-id -> mtime
        self.db: dict[str, int] = {}
        self.acked: dict[str, int] = {}
        self.removed_live: list[str] = []
        self.n = 0
        self.settled = True

    # -- the fake world ---------------------------------------------------------

    def entries(self) -> list[registry.Entry]:
        out = []
        for sid, mtime in self.files.items():
            p = self.procs[sid]
            reg = registry.Registration("127.0.0.1", 1000 + int(sid[1:]), p.start, sid,
                                        2 + int(sid[1:]), "main.db")
            out.append(registry.Entry(Path(sid), reg, mtime, int(sid[1:])))
        return registry.newest_first(out)

    def ping(self, e: registry.Entry) -> PingResult:
        p = self.procs.get(e.registration.server_id)
        if p is None or p.state != "running":
            return PingResult(ok=False, error="no answer")
        return PingResult(ok=True, server_id=p.sid, sstate="running", sload=p.load)

    def remove(self, e: registry.Entry) -> None:
        sid = e.registration.server_id
        if self.procs[sid].state == "running":
            self.removed_live.append(sid)
        self.files.pop(sid, None)

    def start_one(self) -> bool:
        ents = self.entries()
        good, dead = rules.startup_scan(ents, [self.ping(e) for e in ents], self.now, STALE)
        for e in dead:
            self.remove(e)
        if rules.startup_refusal(len(good), MAX):
            return False
        self.n += 1
        sid = f"s{self.n}"
        skew = self._skew
        self.procs[sid] = Proc(sid, self.now + self.n * 1e-3, skew)
        self.files[sid] = self.now + skew
        self.settled = False
        return True

    _skew = 0.0

    # -- rules --------------------------------------------------------------------

    @rule(skew=st.sampled_from([0.0, 300.0, -300.0]))
    def start(self, skew: float) -> None:
        self._skew = skew
        self.start_one()

    @precondition(lambda self: any(p.state != "dead" for p in self.procs.values()))
    @rule(data=st.data())
    def kill9(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(s for s, p in self.procs.items() if p.state != "dead")))
        self.procs[sid].state = "dead"  # the file stays

    @precondition(lambda self: any(p.state == "running" for p in self.procs.values()))
    @rule(data=st.data())
    def pause(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(s for s, p in self.procs.items() if p.state == "running")))
        self.procs[sid].state = "paused"

    @precondition(lambda self: any(p.state == "paused" for p in self.procs.values()))
    @rule()
    def resume_all(self) -> None:
        for p in self.procs.values():
            if p.state == "paused":
                p.state = "running"
        self.settled = False

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data())
    def delete_file(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(sorted(self.files)))
        del self.files[sid]  # by an operator: allowed, the server must notice

    @rule(seconds=st.sampled_from([1.0, HEARTBEAT, 60.0, 400.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        # one heartbeat of every running server, oldest first
        for p in sorted(self.procs.values(), key=lambda p: p.start):
            if p.state != "running":
                continue
            problem = rules.registration_problem(p.sid if p.sid in self.files else None, p.sid)
            if problem:
                p.state = "dead"  # clean exit; the file is not ours to remove
                continue
            self.files[p.sid] = self.now + p.skew  # touch
            ents = self.entries()
            newer = rules.newer_than(ents, p.sid)
            if rules.outranked(len(newer), MAX):
                alive = sum(1 for e in newer if rules.alive(e, self.ping(e)))
                if rules.outranked(alive, MAX):
                    p.state = "dead"
                    self.files.pop(p.sid, None)  # clean shutdown removes its own file
        self.settled = True

    @rule(key=st.sampled_from("abcdef"), value=st.integers(0, 9))
    def call(self, key: str, value: int) -> None:
        for _ in range(2):
            ents = self.entries()
            loads = []
            for order, e in enumerate(ents):
                res = self.ping(e)
                if not res.matches(e.registration.server_id):
                    if rules.provably_dead(e, res, self.now, STALE):
                        self.remove(e)
                    continue
                if rules.usable(e, res):
                    loads.append((order, rules.load_of(res)))
            pick = rules.choose(loads)
            if pick is not None:
                self.db[key] = value  # one shared sqlite file: durable once acknowledged
                self.acked[key] = value
                return
            self.start_one()

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def no_running_server_file_removed(self) -> None:
        assert not self.removed_live, self.removed_live

    @invariant()
    def at_most_max_running_after_settling(self) -> None:
        if self.settled:
            running = [p for p in self.procs.values() if p.state == "running"]
            assert len(running) <= MAX, len(running)

    @invariant()
    def acknowledged_writes_readable(self) -> None:
        for k, v in self.acked.items():
            assert self.db.get(k) == v


TestLifecycleModel = LifecycleModel.TestCase
TestLifecycleModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
