"""The one way to wait: delays that double up to a cap, bounded by a deadline.

Every poll loop of the backend (a registration becoming visible, a server
going away or coming up, a start lock, a hot journal, the client's discovery
and its pause after a transport failure) waits through ``Backoff``. The clock
and the sleep are passed in, so unit tests drive a loop with a fake clock and
no real sleeps; the defaults are ``time.monotonic`` and ``time.sleep``.

    wait = Backoff(timeout, first=0.01, cap=0.2)
    while not done():
        if not wait.sleep():   # False: the deadline has passed, nothing slept
            break
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable


class Backoff:
    """Delays ``first, 2*first, 4*first, ...`` capped at ``cap``; each delay is
    also cut to what is left of ``timeout`` (``math.inf``: no deadline)."""

    def __init__(
        self,
        timeout: float = math.inf,
        *,
        first: float = 0.01,
        cap: float = 1.0,
        factor: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.first, self.cap, self.factor = first, cap, factor
        self.clock, self._sleep = clock, sleep
        self.started = clock()
        self.end = self.started + timeout
        self.delay = first

    def left(self) -> float:
        """Seconds until the deadline (never negative)."""
        return max(self.end - self.clock(), 0.0)

    def expired(self) -> bool:
        return self.clock() >= self.end

    def elapsed(self) -> float:
        return self.clock() - self.started

    def reset(self) -> None:
        """Start the delays again from ``first`` (the deadline stays)."""
        self.delay = self.first

    def next_delay(self) -> float:
        """The next delay (cut to the deadline), and double the one after it."""
        delay = min(self.delay, self.left())
        self.delay = min(self.delay * self.factor, self.cap)
        return delay

    def sleep(self) -> bool:
        """Sleep the next delay; False (without sleeping) once the deadline has passed."""
        if self.expired():
            return False
        self._sleep(self.next_delay())
        return True

    async def asleep(self) -> bool:
        """``sleep`` for coroutines (``asyncio.sleep``; the clock is still the one given)."""
        if self.expired():
            return False
        await asyncio.sleep(self.next_delay())
        return True
