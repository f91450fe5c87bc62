"""Rescans and ping rounds run one at a time; requests meanwhile make exactly one more.

The result of each comes back as a typed message, and its handler ends the
flight, so these drive the app with a scan and a pinger that block until
released, and count how often each really ran.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from backend import registry
from backend.wire.connection import PingResult
from mttui.__main__ import make_app
from mttui.model import Probe
from tests.tui.fakes import fake_reg, ok, publish, until

pytestmark = pytest.mark.timeout(60)
SIZE = (150, 30)


class Gate:
    """Counts calls; every call blocks until ``release()``."""

    def __init__(self) -> None:
        self.calls = 0
        self._open = threading.Event()
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.calls += 1
        assert self._open.wait(20), "never released"

    def release(self) -> None:
        self._open.set()


async def test_pings_requested_during_a_round_run_once_after_it(quiet_area: Path) -> None:
    reg = fake_reg(42000, 6000)
    publish(quiet_area, reg)
    gate = Gate()

    def pinger(host: str, port: int, timeout: float) -> PingResult:
        gate.enter()
        return ok(reg.server_id)

    app = make_app(quiet_area, pinger=pinger, probe=Probe(lambda r: True, lambda r: False, lambda r: []),
                   interval=3600, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: gate.calls == 1, what="the first ping round (new entry)")
        app.ping_round(force=True)
        app.ping_round(force=True)
        await pilot.pause(0.2)
        assert gate.calls == 1 and app.ping_rounds == 0  # no second round while one runs
        gate.release()
        await until(pilot, lambda: app.ping_rounds == 2, what="the one round after")
        await pilot.pause(0.3)
        assert gate.calls == 2 and app.ping_rounds == 2
        assert app.rows[reg.name].cells[7] == "0.5"


async def test_rescans_requested_during_a_scan_run_once_after_it(quiet_area: Path) -> None:
    reg = fake_reg(42001, 6001)
    publish(quiet_area, reg)
    gate = Gate()

    def is_local(r: registry.Registration) -> bool:
        gate.enter()  # read_snapshot asks once per entry per scan
        return True

    app = make_app(quiet_area, pinger=lambda h, p, t: ok(reg.server_id),
                   probe=Probe(is_local, lambda r: False, lambda r: []), interval=3600, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: gate.calls == 1, what="the first scan")
        for _ in range(3):
            app.rescan()
        await pilot.pause(0.2)
        assert gate.calls == 1 and not app.loaded
        assert len([w for w in app.workers if w.group == "rescan" and not w.is_finished]) == 1
        gate.release()
        await until(pilot, lambda: gate.calls == 2 and app.table.keys == [reg.name], what="one more scan")
        await pilot.pause(0.3)
        assert gate.calls == 2  # three requests, one more scan (the 5 s safety rescan is later)
