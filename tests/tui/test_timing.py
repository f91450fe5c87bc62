"""The ping-interval steps of ``+``/``-`` (pure; the pilot tests press the keys)."""

from __future__ import annotations

import pytest

from mttui.timing import INTERVALS, step_interval


@pytest.mark.parametrize(
    ("current", "step", "expected"),
    [
        (2.0, -1, 1.0),
        (2.0, 1, 5.0),
        (0.5, -1, 0.5),  # clamped at the fastest
        (60.0, 1, 60.0),  # clamped at the slowest
        (3.0, 1, 5.0),  # --interval 3 is not a step: start from the nearest (2)
        (45.0, 1, 60.0),  # a tie (30 or 60) counts as the faster, 30
        (1000.0, -2, 10.0),
    ],
)
def test_step_interval_moves_from_the_nearest_step_and_clamps(current: float, step: int, expected: float) -> None:
    assert step_interval(current, step) == expected


def test_every_step_is_reachable_both_ways() -> None:
    up = [INTERVALS[0]]
    while (nxt := step_interval(up[-1], 1)) != up[-1]:
        up.append(nxt)
    assert tuple(up) == INTERVALS
    down = [INTERVALS[-1]]
    while (nxt := step_interval(down[-1], -1)) != down[-1]:
        down.append(nxt)
    assert tuple(reversed(down)) == INTERVALS
