"""The pure parts: rows, states, sorting, filtering, summary, event filtering."""

from __future__ import annotations

import threading
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from backend import registry
from backend.client import status
from mttui import model
from mttui.watch import Coalescer, relevant
from tests.tui.fakes import FROZEN, fake_reg, ok


def entry(reg: registry.Registration, mtime: float = FROZEN) -> registry.Entry:
    return registry.Entry(Path("/a/.servinfo") / reg.name, reg, mtime, 1)


def test_states() -> None:
    reg = fake_reg(1000, 10)
    e = entry(reg)
    assert model.classify(e, None, FROZEN, 360) == status.UNKNOWN
    assert model.classify(e, ok(reg.server_id), FROZEN, 360) == status.RUNNING
    assert model.classify(e, ok("other"), FROZEN, 360) == status.MISMATCH
    assert model.classify(e, ok(reg.server_id, sstate="shutting-down"), FROZEN, 360) \
        == status.SHUTTING_DOWN
    failed = model.PingResult(ok=False, error="refused")
    assert model.classify(e, failed, FROZEN, 360) == status.UNRESPONSIVE
    assert model.classify(e, failed, FROZEN, 360, gone=True) == status.DEAD
    assert model.classify(e, failed, FROZEN + 361, 360, gone=True) == status.STALE
    row = model.make_row(e, ok(reg.server_id, 5, 1.25), FROZEN, 360, remote=True)
    assert row.label == "REMOTE RUNNING"
    assert row.cells == ("127.0.0.1:1000", "main.db", "10", "REMOTE RUNNING", "5", "5m00s",
                         "0s", "1.2", reg.server_id[:8], "-", "-", "-")


def test_sort_filter_summary() -> None:
    regs = [fake_reg(3000, 30, "2.db"), fake_reg(1000, 10, "main.db"), fake_reg(2000, 20, "10.db")]
    snap = model.Snapshot(tuple(entry(r) for r in regs))
    pings = {regs[0].name: ok(regs[0].server_id, 7), regs[1].name: ok("x")}
    rows = model.build_rows(snap, pings, {}, FROZEN, 360)
    by_db = [r.entry.registration.dbfname for r in model.sort_rows(rows, "db")]
    assert by_db == ["main.db", "2.db", "10.db"]  # numeric, main first
    by_threads = [r.cells[4] for r in model.sort_rows(rows, "threads", reverse=True)]
    assert by_threads == ["7", "0", "-"]
    assert [r.key for r in model.visible_rows(rows, "10.DB", "server", False)] == [regs[2].name]
    assert len(model.visible_rows(rows, regs[0].server_id, "server", False)) == 1
    summary = model.summarize(rows, problems=2)
    assert summary.counts == {"RUNNING": 1, "UNKNOWN": 1, "MISMATCH": 1}
    assert summary.text() == "3 servers · 1 RUNNING · 1 UNKNOWN · 1 MISMATCH · load 7 · 2 bad files"


def test_history_is_bounded() -> None:
    h = model.History(size=3)
    for i in range(5):
        h.add("a", float(i), ok("x", i))
    assert h.loads("a") == [2.0, 3.0, 4.0]
    h.prune([])
    assert h.get("a") == []


def test_relevant_events() -> None:
    d = "/a/.servinfo"
    name = "127.0.0.1:1-2:main.db"
    assert relevant(FileMovedEvent(f"{d}/.tmp-{name}.abc", f"{d}/{name}"), False)
    assert relevant(FileCreatedEvent(f"{d}/{name}"), False)
    assert not relevant(FileCreatedEvent(f"{d}/.tmp-{name}.abc"), False)
    assert not relevant(FileOpenedEvent(f"{d}/{name}"), False)  # our own reads
    assert not relevant(FileClosedNoWriteEvent(f"{d}/{name}"), False)
    assert relevant(DirCreatedEvent("/a/.servinfo"), True)
    assert not relevant(FileCreatedEvent("/a/other"), True)


def test_coalescer_posts_once_until_taken() -> None:
    posted: list[int] = []
    c = Coalescer(lambda: posted.append(1))
    threads = [threading.Thread(target=lambda: [c() for _ in range(100)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert posted == [1]
    c.taken()
    c()
    assert posted == [1, 1]

