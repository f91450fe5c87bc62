"""The server's database thread: one thread owns the ``Store``; the event loop
hands it calls through a queue, each with a callback for its outcome.

Group commit: the thread takes every call that is waiting (up to
``max_batch``) and runs them in one transaction, so 50 concurrent writers cost
one fsync instead of 50. The callbacks run only after COMMIT returned, in the
loop thread, in one ``call_soon_threadsafe`` per batch. Callbacks, not a
future per call: a future's done-callback costs one more loop turn per request
(issue 16: the write path's profile).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from backend.db.store import Call, Outcome, Store
from backend.server.counters import DbCounters

log = logging.getLogger("backend.server")

OnDone = Callable[[Outcome], None]

_STOP = object()


class DbWorker:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, open_store: Callable[[], Store], max_batch: int = 256,
        *, counters: DbCounters | None = None,
    ) -> None:
        self._loop = loop
        self._open_store = open_store
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="db", daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self.journal_mode = ""
        self.counters = counters or DbCounters()

    def start(self) -> None:
        """Start the thread and wait until the store is open (raises its error)."""
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def submit(self, call: Call, on_done: OnDone) -> None:
        """Queue ``call``; ``on_done(outcome)`` runs in the loop thread after its commit."""
        self._queue.put((call, on_done))

    def stop(self, timeout: float = 10.0) -> None:
        """Finish queued calls, close the store, join the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            store = self._open_store()
        except BaseException as exc:  # reported to start() in the loop thread
            self._open_error = exc
            self._opened.set()
            return
        self.journal_mode = store.journal_mode
        self._opened.set()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch = [item]
                stop_after = False
                while len(batch) < self._max_batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop_after = True
                        break
                    batch.append(nxt)
                self._run(store, batch)
                if stop_after:
                    return
        finally:
            store.close()

    def _run(self, store: Store, batch: list[tuple[Call, OnDone]]) -> None:
        self.counters.count_batch(len(batch))
        try:
            outcomes = store.run([call for call, _ in batch])
        except Exception:
            log.exception("internal error in the store")
            outcomes = [(False, ("db_error", "internal error (see the server log)"))] * len(batch)
        self._loop.call_soon_threadsafe(_resolve, batch, outcomes)


def _resolve(batch: list[tuple[Call, OnDone]], outcomes: list[Outcome]) -> None:
    for (_, on_done), outcome in zip(batch, outcomes, strict=True):
        try:
            on_done(outcome)
        except Exception:
            # A bug in one answer must not strand the rest of the batch.
            log.exception("internal error answering a db call")
