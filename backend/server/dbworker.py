"""The server's database work: one thread owns the ``Store``; the event loop
hands it calls, each with a callback for its outcome.

Group commit: the calls dispatched during one turn of the event loop (every
request read from every connection that was ready) are collected and run as
one transaction, the way Redis fsyncs once per loop turn; the thread also takes
every batch that is waiting (up to ``max_batch`` calls). 50 concurrent writers
cost one fsync, not 50. Callbacks run only after COMMIT returned, in the loop
thread, in one ``call_soon_threadsafe`` per batch. Callbacks, not a future per
call: a future's done-callback costs one more loop turn per request.

The loop thread runs a turn's calls itself (``_run_here``) when handing them
over would cost more than they do: nothing is queued or running in the thread
(so order is kept), the journal is WAL (a commit waits for no reader), the
calls' commands have recently taken, together, under ``INLINE_BUDGET`` (each
command's average share of the transactions it ran in; one not seen yet counts
as the whole budget, so it goes to the thread first and a heavy query never
stalls the loop), and the database is not locked by anyone else
(``Store.run_nowait`` never waits: a locked database sends the calls, undone,
to the thread, which waits with the busy timeout while the loop goes on
answering pings). A thread round trip costs ~80 µs of CPU on these machines, a
third of a durable write (issue 16: the write c1 profile); at 50 lockstep
clients the loop has nothing to read while a commit runs, so the thread buys no
overlap either, only the hand-offs and the contention for the GIL.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from backend.db.store import Call, Outcome, Store
from backend.server.counters import DbCounters

log = logging.getLogger("backend.server")

OnDone = Callable[[Outcome], None]
Batch = list[tuple[Call, OnDone]]

_STOP = object()

INLINE_BUDGET = 0.002
"""Seconds a turn's calls may be expected to take and still run on the loop
thread: a ping waits about this long behind them at most, as a rule."""
_COST_WEIGHT = 0.2  # exponential average of a command's cost: recent calls weigh most


class DbWorker:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, open_store: Callable[[], Store], max_batch: int = 256,
        *, counters: DbCounters | None = None, inline: bool = True,
    ) -> None:
        self._loop = loop
        self._open_store = open_store
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="db", daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self._store: Store | None = None
        # Held by whoever runs a transaction; the loop thread only ever tries it.
        self._store_lock = threading.Lock()
        self._inline = inline
        self._turn: Batch = []  # calls dispatched in this loop turn (loop thread only)
        self._in_thread = 0  # calls handed to the thread and not yet resolved (loop thread only)
        # Seconds per command: exponential average of its share of the transactions it ran in.
        # Written by both threads, a whole float at a time under the GIL.
        self._cost: dict[str, float] = {}
        self.journal_mode = ""
        self.counters = counters or DbCounters()

    def start(self) -> None:
        """Start the thread and wait until the store is open (raises its error)."""
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def submit(self, call: Call, on_done: OnDone) -> None:
        """Queue ``call`` (from the loop thread); ``on_done(outcome)`` runs in the
        loop thread after its commit."""
        turn = self._turn
        turn.append((call, on_done))
        if len(turn) == 1:
            # After every connection that was ready in this turn has been read.
            self._loop.call_soon(self._end_of_turn)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish queued calls, close the store, join the thread. (From any thread:
        the server calls it once nothing is in flight, so no turn is open.)"""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # -- the loop thread ------------------------------------------------------------

    def _end_of_turn(self) -> None:
        batch, self._turn = self._turn, []
        if not batch:
            return
        if not self._run_here(batch):
            self._hand_over(batch)

    def _hand_over(self, batch: Batch) -> None:
        self._in_thread += len(batch)
        self._queue.put(batch)

    def _run_here(self, batch: Batch) -> bool:
        """Run ``batch`` on the loop thread if that is safe now (see the module doc)."""
        store = self._store
        if (
            not self._inline or self._in_thread or store is None or self.journal_mode != "wal"
            or self._estimate(batch) >= INLINE_BUDGET
            or not self._store_lock.acquire(blocking=False)
        ):
            return False
        calls = [call for call, _ in batch]
        try:
            t0 = time.perf_counter()
            outcomes = store.run_nowait(calls)
            if outcomes is None:  # locked by another process: the thread waits for it
                return False
            self._note_cost(calls, time.perf_counter() - t0)
            self.counters.count_batch(len(calls))
        except Exception:
            log.exception("internal error in the store")
            outcomes = [(False, ("db_error", "internal error (see the server log)"))] * len(calls)
        finally:
            self._store_lock.release()
        _resolve(batch, outcomes)
        return True

    def _estimate(self, batch: Batch) -> float:
        """Seconds ``batch`` is expected to take: the sum of its commands' recent
        costs, a command not seen yet counting as the whole budget."""
        cost = self._cost
        return sum(cost.get(call.command.name, INLINE_BUDGET) for call, _ in batch)

    def _note_cost(self, calls: list[Call], seconds: float) -> None:
        """A transaction of ``calls`` took ``seconds``: each call's share (the
        commit spread over the batch) goes into its command's average."""
        share = seconds / len(calls)
        cost = self._cost
        for call in calls:
            name = call.command.name
            old = cost.get(name)
            cost[name] = share if old is None else old + _COST_WEIGHT * (share - old)

    def _resolved(self, batch: Batch, outcomes: list[Outcome]) -> None:
        self._in_thread -= len(batch)
        _resolve(batch, outcomes)

    # -- the db thread ----------------------------------------------------------------

    def _main(self) -> None:
        try:
            store = self._open_store()
        except BaseException as exc:  # reported to start() in the loop thread
            self._open_error = exc
            self._opened.set()
            return
        self.journal_mode = store.journal_mode.lower()
        self._store = store
        self._opened.set()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch: Batch = list(item)
                stop_after = False
                while len(batch) < self._max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop_after = True
                        break
                    batch.extend(nxt)
                self._run(store, batch)
                if stop_after:
                    return
        finally:
            with self._store_lock:
                self._store = None
                store.close()

    def _run(self, store: Store, batch: Batch) -> None:
        self.counters.count_batch(len(batch))
        with self._store_lock:
            t0 = time.perf_counter()
            calls = [call for call, _ in batch]
            try:
                outcomes = store.run(calls)
            except Exception:
                log.exception("internal error in the store")
                outcomes = [(False, ("db_error", "internal error (see the server log)"))] * len(batch)
            self._note_cost(calls, time.perf_counter() - t0)
        self._loop.call_soon_threadsafe(self._resolved, batch, outcomes)


def _resolve(batch: Batch, outcomes: list[Outcome]) -> None:
    for (_, on_done), outcome in zip(batch, outcomes, strict=True):
        try:
            on_done(outcome)
        except Exception:
            # A bug in one answer must not strand the rest of the batch.
            log.exception("internal error answering a db call")
