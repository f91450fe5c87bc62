"""One log line per cause per interval (backend/server/ratelimit.py)."""

from __future__ import annotations

import logging

from backend.server.ratelimit import RateLimit


def _record(msg: str, limited: bool = True, level: int = logging.INFO) -> logging.LogRecord:
    rec = logging.LogRecord("backend.server", level, __file__, 1, msg, ("x",), None)
    if limited:
        rec.rate_limited = True
    return rec


def test_one_line_per_cause_per_interval_then_a_count() -> None:
    now = [0.0]
    f = RateLimit(interval=10.0, clock=lambda: now[0])
    assert f.filter(_record("closing connection: %s"))
    assert not any(f.filter(_record("closing connection: %s")) for _ in range(500))
    assert f.filter(_record("other cause: %s"))  # another cause is not held back
    assert f.filter(_record("closing connection: %s", limited=False))  # nor an unmarked line
    now[0] = 10.5
    rec = _record("closing connection: %s")
    assert f.filter(rec)
    assert "[and 500 more like this in the last 10s]" in rec.getMessage()
    now[0] = 25.0
    rec = _record("closing connection: %s")
    assert f.filter(rec) and "more like this" not in rec.getMessage()
