"""Journal busy control: bounded waiting, and journal files are never touched."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from backend.db.journal import journal_path, wait_on_journal


def test_no_journal_no_wait(tmp_path: Path) -> None:
    slept: list[float] = []
    assert wait_on_journal(tmp_path / "main.db", sleep=slept.append) < 0.05
    assert slept == []


def test_waits_until_the_journal_goes_away(tmp_path: Path) -> None:
    db = tmp_path / "main.db"
    journal = journal_path(db)
    journal.write_bytes(b"not really a journal")
    # Someone else (another writer finishing) removes it after 0.5 s.
    remover = threading.Timer(0.5, journal.unlink)
    remover.start()
    try:
        waited = wait_on_journal(db)
    finally:
        remover.join()
    # polls at 0.2 and 0.6 s (0.2 doubling): back within one step of the removal
    assert 0.45 <= waited < 1.0


def test_a_journal_that_stays_bounds_the_wait_and_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "1.db"
    journal = journal_path(db)
    journal.write_bytes(b"stuck")
    before = journal.stat()
    now = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    logs: list[str] = []
    waited = wait_on_journal(db, sleep=sleep, clock=lambda: now[0], log=logs.append)
    assert waited == 30.0
    # Megatest's schedule (0.2 s doubling), cut at the 30 s total
    assert [round(s, 6) for s in sleeps] == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 4.6]
    after = journal.stat()
    assert journal.read_bytes() == b"stuck"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert logs[0] == "delaying db access due to high database load."
    assert "proceeding" in logs[-1]


def test_real_clock_bound(tmp_path: Path) -> None:
    db = tmp_path / "2.db"
    journal_path(db).write_bytes(b"x")
    t0 = time.monotonic()
    waited = wait_on_journal(db, max_wait=0.3, first_delay=0.05)
    assert 0.29 <= waited < 0.6 and time.monotonic() - t0 < 0.7
    assert journal_path(db).exists()
