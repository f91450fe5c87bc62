"""DbWorker: where a call runs (loop thread or db thread), group commit per loop
turn, and the guards that keep the loop thread from waiting (a lock held by
another process, a command that has been slow, a rollback journal).

Real sqlite files and a real event loop; the commands are real ``Command``s
whose handlers also note the thread they ran on.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.db.api import CallContext, Command, lookup
from backend.db.store import Call, Outcome, Store
from backend.server.dbworker import INLINE_BUDGET, DbWorker


def _ctx(tmp_path: Path) -> CallContext:
    return CallContext(None, "main.db", 10, tmp_path)


class Where:
    """A write command that records which thread ran it (and can be made slow)."""

    def __init__(self, name: str = "where", sleep: float = 0.0) -> None:
        self.threads: list[str] = []
        self.sleep = sleep
        self.command = Command(name, self._handler, True)

    def _handler(self, conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
        self.threads.append(threading.current_thread().name)
        if self.sleep:
            time.sleep(self.sleep)
        conn.execute("INSERT INTO metadat(var, val) VALUES (?, 'x') "
                     "ON CONFLICT(var) DO UPDATE SET val = excluded.val", (params[0],))
        return params[0]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


def _worker(
    loop: asyncio.AbstractEventLoop, path: Path, *, journal_mode: str = "auto", inline: bool = True
) -> DbWorker:
    w = DbWorker(loop, lambda: Store(path, journal_mode=journal_mode, busy_timeout=5.0),
                 inline=inline)
    w.start()
    return w


async def _call(w: DbWorker, call: Call) -> Outcome:
    fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    w.submit(call, fut.set_result)
    return await asyncio.wait_for(fut, 30)


async def _turn(w: DbWorker, calls: list[Call]) -> list[Outcome]:
    """``calls`` submitted in one loop turn, as that many ready connections would."""
    loop = asyncio.get_running_loop()
    futs: list[asyncio.Future[Outcome]] = []
    for call in calls:
        futs.append(loop.create_future())
        w.submit(call, futs[-1].set_result)
    return list(await asyncio.wait_for(asyncio.gather(*futs), 30))


def _run(loop: asyncio.AbstractEventLoop, w: DbWorker, call: Call) -> Outcome:
    return loop.run_until_complete(_call(w, call))


def test_a_cheap_command_runs_on_the_loop_thread_once_measured(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    w = _worker(loop, tmp_path / "main.db")
    where = Where()
    try:
        for i in range(3):
            assert _run(loop, w, Call(where.command, _ctx(tmp_path), [f"k{i}"])) == (True, f"k{i}")
    finally:
        w.stop()
    # Unknown cost: the first call goes to the db thread; then it is known to be cheap.
    assert where.threads == ["db", "MainThread", "MainThread"]
    # Committed: a new connection sees every write.
    conn = sqlite3.connect(tmp_path / "main.db")
    assert conn.execute("SELECT count(*) FROM metadat WHERE var LIKE 'k%'").fetchone() == (3,)
    conn.close()
    assert w.counters.commits == 3


def test_a_slow_command_stays_in_the_db_thread(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    w = _worker(loop, tmp_path / "main.db")
    slow = Where("slow", sleep=INLINE_BUDGET * 3)
    try:
        for i in range(3):
            assert _run(loop, w, Call(slow.command, _ctx(tmp_path), [f"s{i}"]))[0]
    finally:
        w.stop()
    assert slow.threads == ["db", "db", "db"]


def test_calls_of_one_loop_turn_are_one_transaction(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    w = _worker(loop, tmp_path / "main.db")
    where = Where()

    def burst(tag: str) -> list[Outcome]:
        calls = [Call(where.command, _ctx(tmp_path), [f"{tag}{i}"]) for i in range(5)]
        return loop.run_until_complete(_turn(w, calls))

    try:
        first = burst("a")
        second = burst("b")
    finally:
        w.stop()
    assert first == [(True, f"a{i}") for i in range(5)]
    assert second == [(True, f"b{i}") for i in range(5)]
    # Unknown cost: the first batch goes to the thread, whole; known cheap since,
    # the second runs on the loop thread, whole.
    assert where.threads == ["db"] * 5 + ["MainThread"] * 5
    assert w.counters.commits == 2


def test_a_turn_expected_to_take_too_long_goes_to_the_thread(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    w = _worker(loop, tmp_path / "main.db")
    where = Where()

    def burst(n: int) -> None:
        loop.run_until_complete(_turn(w, [Call(where.command, _ctx(tmp_path), [f"k{i}"])
                                          for i in range(n)]))

    try:
        burst(1)  # measured: cheap
        w._cost["where"] = INLINE_BUDGET / 4  # as if each call took a quarter of the budget
        burst(3)  # 3/4 of the budget: here
        w._cost["where"] = INLINE_BUDGET / 4
        burst(4)  # the whole budget: the thread
    finally:
        w.stop()
    assert where.threads == ["db"] + ["MainThread"] * 3 + ["db"] * 4


def test_a_lock_held_elsewhere_sends_the_call_to_the_thread_and_the_loop_keeps_running(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    w = _worker(loop, tmp_path / "main.db")
    where = Where()
    other = sqlite3.connect(tmp_path / "main.db", isolation_level=None)

    async def scenario() -> tuple[Outcome, int]:
        await _call(w, Call(where.command, _ctx(tmp_path), ["warm"]))
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        ticks = 0
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        w.submit(Call(where.command, _ctx(tmp_path), ["locked"]), fut.set_result)
        for _ in range(20):  # the loop is free while the db thread waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not fut.done()
        other.execute("COMMIT")
        return await asyncio.wait_for(fut, 30), ticks

    try:
        outcome, ticks = loop.run_until_complete(scenario())
    finally:
        w.stop()
        other.close()
    assert outcome == (True, "locked")
    assert ticks == 20
    assert where.threads == ["db", "db"]


def test_order_is_kept_behind_calls_already_in_the_thread(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    w = _worker(loop, tmp_path / "main.db")
    where = Where()
    slow = Where("slow", sleep=0.05)

    async def scenario() -> list[str]:
        await _call(w, Call(where.command, _ctx(tmp_path), ["warm"]))
        done: list[str] = []
        first: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        w.submit(Call(slow.command, _ctx(tmp_path), ["first"]),
                 lambda o: (done.append("first"), first.set_result(o)))
        await asyncio.sleep(0.01)  # the slow call is in the thread now
        second: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        w.submit(Call(where.command, _ctx(tmp_path), ["second"]),
                 lambda o: (done.append("second"), second.set_result(o)))
        await asyncio.wait_for(asyncio.gather(first, second), 30)
        return done

    try:
        done = loop.run_until_complete(scenario())
    finally:
        w.stop()
    assert done == ["first", "second"]
    # The warm-up ran in the thread (cost unknown); "second", though known to be
    # cheap now, went behind "first" instead of overtaking it on the loop thread.
    assert where.threads == ["db", "db"]


@pytest.mark.parametrize("journal_mode, inline", [("delete", True), ("auto", False)])
def test_no_loop_thread_calls_with_a_rollback_journal_or_when_turned_off(
    loop: asyncio.AbstractEventLoop, tmp_path: Path, journal_mode: str, inline: bool
) -> None:
    w = _worker(loop, tmp_path / "main.db", journal_mode=journal_mode, inline=inline)
    where = Where()
    try:
        for i in range(3):
            assert _run(loop, w, Call(where.command, _ctx(tmp_path), [f"k{i}"]))[0]
    finally:
        w.stop()
    assert where.threads == ["db", "db", "db"]


def test_a_failing_call_on_the_loop_thread_is_its_own_error(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    w = _worker(loop, tmp_path / "main.db")
    set_var = lookup("set-var")
    try:
        assert _run(loop, w, Call(set_var, _ctx(tmp_path), ["a", "1"])) == (True, True)
        assert _run(loop, w, Call(set_var, _ctx(tmp_path), ["a", "2"])) == (True, True)
        bad = _run(loop, w, Call(set_var, _ctx(tmp_path), ["b", ["no"]]))
        assert bad[0] is False and bad[1][0] == "bad_request"
        assert _run(loop, w, Call(lookup("get-var"), _ctx(tmp_path), ["a"])) == (True, "2")
    finally:
        w.stop()
