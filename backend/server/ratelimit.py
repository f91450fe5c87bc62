"""One log line per cause per interval (issue 12 item 10).

Bad traffic repeats itself: one process reconnecting with an over-cap header in
a loop wrote ~224 kB/s of identical "closing connection" lines. Records logged
with ``extra={"rate_limited": True}`` pass this filter at most once per
``interval`` per cause (level and message template); the next line that passes
says how many were suppressed meanwhile. Other records are never held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

INTERVAL = 10.0


class RateLimit(logging.Filter):
    def __init__(self, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self._clock = clock
        # Keyed by message templates written in our code: a small, fixed set.
        self._seen: dict[tuple[int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "rate_limited", False):
            return True
        key = (record.levelno, str(record.msg))
        now = self._clock()
        last, suppressed = self._seen.get(key, (-1e18, 0))
        if now - last < self.interval:
            self._seen[key] = (last, suppressed + 1)
            return False
        self._seen[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} [and {suppressed} more like this in the last {now - last:.0f}s]"
        return True
