"""Journal busy control (Megatest 1.60's ``db:delay-if-busy``) for serverless access.

Before reading a db file directly, wait while another writer's rollback
journal ``<db>-journal`` exists: poll after 0.2 s, then 0.4, 0.8, ... (doubling),
at most ``max_wait`` seconds in all, then proceed anyway (a journal left by a
crash or a full disk must not block readers forever; sqlite's own locking and
hot-journal recovery still apply when we open the file).

This code only looks at the journal (``os.path.exists``): it never opens,
deletes, renames or copies a journal, WAL or shm file. Megatest's portlogger
deleted stuck journals, which can corrupt the database; we never do.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from backend.backoff import Backoff

MAX_WAIT = 30.0
FIRST_DELAY = 0.2


def journal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-journal")


def wait_on_journal(
    db_path: Path,
    *,
    max_wait: float = MAX_WAIT,
    first_delay: float = FIRST_DELAY,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    log: Callable[[str], None] | None = None,
) -> float:
    """Wait while ``<db_path>-journal`` exists (bounded); return seconds waited."""
    journal = journal_path(Path(db_path))
    wait = Backoff(max_wait, first=first_delay, cap=math.inf, clock=clock, sleep=sleep)
    # os.path.exists swallows OSError: "if stuff goes wrong just allow it to move on".
    while os.path.exists(journal):
        if wait.expired():
            if log is not None:
                log(f"{journal} still present after {wait.elapsed():.1f}s; proceeding")
            break
        if log is not None and wait.delay == first_delay:
            log("delaying db access due to high database load.")
        wait.sleep()
    return wait.elapsed()
