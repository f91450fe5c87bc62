"""1000 registrations: the table refresh stays quick (generous bound, prints ms)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backend import registry
from mttui.__main__ import make_app
from tests.tui.fakes import FakePinger, fake_probe, fake_reg, ok, until

pytestmark = pytest.mark.timeout(90)
N = 1000


async def test_thousand_rows(quiet_area: Path) -> None:
    servinfo = quiet_area / ".servinfo"
    answers = {}
    for i in range(N):
        reg = fake_reg(20000 + i, 100000 + i, f"{i % 50}.db")
        registry.publish(servinfo, reg)
        answers[reg.port] = ok(reg.server_id, sload=i % 7)
    app = make_app(quiet_area, pinger=FakePinger(answers), probe=fake_probe(), interval=3600)
    async with app.run_test(size=(150, 40)) as pilot:
        t0 = time.perf_counter()
        await until(pilot, lambda: app.table.row_count == N and app.ping_rounds >= 1,
                    limit=30, what="1000 rows")
        first = (time.perf_counter() - t0) * 1000
        timings = []
        for column in (0, 4, 5):  # sort by server, threads, age: every row moves
            app.dirty = True
            app.action_sort(column)
            timings.append(app.last_refresh_ms)
        app.dirty = True
        app.flush()  # nothing changed but the clock: an in-place refresh
        steady = app.last_refresh_ms
        print(f"\n1000 rows: first load {first:.0f} ms; refresh with re-sort "
              f"{max(timings):.0f} ms; steady refresh {steady:.0f} ms")
        assert max(timings) < 2000 and steady < 2000
        await pilot.press("down", "down")
        assert app.table.cursor_key is not None
