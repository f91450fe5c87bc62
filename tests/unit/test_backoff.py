"""The one back-off helper (``backend/backoff.py``), on a fake clock: no real sleeps."""

from __future__ import annotations

import asyncio
import math

import pytest

from backend.backoff import Backoff


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


def test_delays_double_up_to_the_cap_and_stop_at_the_deadline() -> None:
    clock = FakeClock()
    wait = Backoff(1.0, first=0.1, cap=0.4, clock=clock, sleep=clock.sleep)
    while wait.sleep():
        pass
    # 0.1 0.2 0.4 0.4, then only 0.3 is left of the second: the last delay is cut to it.
    assert clock.slept == pytest.approx([0.1, 0.2, 0.4, 0.3])
    assert clock.now == pytest.approx(101.0)
    assert wait.expired() and wait.left() == 0.0 and not wait.sleep()
    assert len(clock.slept) == 4  # an expired back-off does not sleep


def test_reset_restarts_the_delays_but_keeps_the_deadline() -> None:
    clock = FakeClock()
    wait = Backoff(10.0, first=0.01, cap=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        wait.sleep()
    wait.reset()
    wait.sleep()
    assert clock.slept == pytest.approx([0.01, 0.02, 0.04, 0.01])
    assert wait.elapsed() == pytest.approx(0.08)
    assert wait.left() == pytest.approx(10.0 - 0.08)


def test_no_deadline_and_no_cap() -> None:
    clock = FakeClock()
    wait = Backoff(first=0.2, cap=math.inf, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert wait.sleep()
    assert clock.slept == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])


def test_zero_timeout_never_sleeps() -> None:
    clock = FakeClock()
    assert not Backoff(0.0, clock=clock, sleep=clock.sleep).sleep()
    assert clock.slept == []


def test_asleep_is_bounded_by_the_same_deadline() -> None:
    clock = FakeClock()
    wait = Backoff(0.05, first=0.01, cap=0.02, clock=clock)

    async def run() -> int:
        n = 0
        while await wait.asleep():
            n += 1
            clock.now += 0.02  # the fake clock stands for the time asyncio.sleep took
        return n

    assert asyncio.run(run()) == 3
