"""tasks.stop_many / restart_many / prune_many: one Outcome per server, failures
included (unit tests: the launcher and the stop are replaced, the files are real)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import registry
from backend.area import Area
from backend.client.control import StopResult
from backend.client.launcher import LaunchResult
from backend.config import load_settings
from mttui import tasks
from tests.tui.fakes import FakePinger, fake_probe, fake_reg, ok, publish


def entry_of(area: Path, port: int, pid: int) -> registry.Entry:
    path = publish(area, fake_reg(port, pid))
    return registry.read_entry(path)


def test_restart_declined_start_leaves_the_old_server(quiet_area: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    entry = entry_of(quiet_area, 46001, 9101)
    monkeypatch.setattr(tasks, "start", lambda *a: LaunchResult(False, None, "max-servers 1"))
    stopped: list[str] = []
    monkeypatch.setattr(tasks, "stop", lambda a, s, e, **kw: stopped.append(e.name))
    area = Area.open(quiet_area)
    [out] = tasks.restart_many(area, load_settings(area.root), [entry], FakePinger())
    assert not out.ok and "max-servers 1" in out.text and "old one left running" in out.text
    assert stopped == []


def test_restart_new_server_that_never_answers(quiet_area: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    entry = entry_of(quiet_area, 46002, 9102)
    monkeypatch.setattr(tasks, "start", lambda *a: LaunchResult(True, 999999, ""))
    monkeypatch.setattr(tasks, "stop", lambda *a: pytest.fail("must not stop the old one"))
    area = Area.open(quiet_area)
    settings = load_settings(area.root).replace(call_deadline=0.3)
    [out] = tasks.restart_many(area, settings, [entry], FakePinger())
    assert not out.ok and "did not come up" in out.text


def test_stop_many_reports_each(quiet_area: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = entry_of(quiet_area, 46003, 9103), entry_of(quiet_area, 46004, 9104)
    results = {a.name: StopResult(a.name, "x", True, "stopped (stop sent)"),
               b.name: StopResult(b.name, "y", False, "not reachable (refused); not stopped")}
    monkeypatch.setattr(tasks, "stop", lambda ar, s, e, **kw: results[e.name])
    area = Area.open(quiet_area)
    out = tasks.stop_many(area, load_settings(area.root), [a, b])
    assert [(o.ok, o.text) for o in out] == [(True, "stopped (stop sent)"),
                                             (False, "not reachable (refused); not stopped")]


@pytest.fixture
def frozen_servinfo(quiet_area: Path) -> Iterator[Path]:
    yield quiet_area
    subprocess.run(["chattr", "-i", str(quiet_area / ".servinfo")], check=False)


def test_prune_many_judges_again_and_reports_what_it_cannot_remove(
        frozen_servinfo: Path) -> None:
    area = Area.open(frozen_servinfo)
    settings = load_settings(area.root)
    dead, answering = entry_of(frozen_servinfo, 46005, 9105), entry_of(frozen_servinfo, 46006, 9106)
    pinger = FakePinger({46006: ok(answering.registration.server_id)})
    probe = fake_probe(gone_pids=(9105, 9106))
    servinfo = frozen_servinfo / ".servinfo"
    if subprocess.run(["chattr", "+i", str(servinfo)], capture_output=True).returncode == 0:
        out = tasks.prune_many(area, settings, [dead], pinger, probe, lambda: 0.0)
        assert not out[0].ok and "cannot remove" in out[0].text and dead.path.exists()
        subprocess.run(["chattr", "-i", str(servinfo)], check=True)
    out = tasks.prune_many(area, settings, [dead, answering], pinger, probe, lambda: 0.0)
    assert [o.ok for o in out] == [True, False]
    assert "process 9105 is gone" in out[0].text and "kept" in out[1].text
    assert not dead.path.exists() and answering.path.exists()


def test_dead_addresses_are_due_every_few_seconds() -> None:
    regs = [fake_reg(46010 + i, 9200 + i) for i in range(3)]
    entries = [registry.Entry(Path(f"/x/{r.name}"), r, 0.0, i) for i, r in enumerate(regs)]
    states = {regs[0].name: "RUNNING", regs[1].name: "DEAD", regs[2].name: "STALE"}
    last = {r.name: 100.0 for r in regs}
    due = tasks.due_for_ping(entries, states, last.get, 102.0)
    assert [e.name for e in due] == [regs[0].name]
    due = tasks.due_for_ping(entries, states, last.get, 100.0 + tasks.DEAD_PING_S)
    assert len(due) == 3
