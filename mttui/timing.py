"""The monitor's clocks: redraw cap, safety rescan, age tick and the ping intervals.

A leaf module (no Textual, no app): the app's timers and the ``+``/``-`` action
both read it, so neither has to import the other.
"""

from __future__ import annotations

REDRAW_S = 0.25  # at most 4 redraws a second
# A server appearing or leaving is news, and rare next to touches and pings: it
# may redraw sooner after the last redraw. Still a cap (20 a second), so a pool
# of 100 servers starting at once costs a few redraws, not one per file.
ROW_REDRAW_S = 0.05
RESCAN_S = 5.0  # periodic full rescan, a safety net for missed events (unchanged files are not parsed)
# Ages and "touched" move with the clock; redrawing them every 2 s (like k9s and
# a ping round) instead of every second halves the monitor's idle CPU, most of
# which is DataTable re-rendering changed cells.
TICK_S = 2.0
# Counters for the traffic columns and graphs: a rate needs two samples, and
# 5 s keeps 100 servers' stats (one short connection each) well inside the
# monitor's CPU goal.
STATS_S = 5.0
INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def step_interval(current: float, step: int) -> float:
    """The ping interval ``step`` places from the one nearest ``current`` (clamped)."""
    near = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - current))
    return INTERVALS[min(max(near + step, 0), len(INTERVALS) - 1)]
