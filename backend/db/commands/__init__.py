"""The database commands, one module per table group; importing this package
registers them all in ``base.COMMANDS`` (``backend.db.api`` does)."""

from backend.db.commands import data, runs, steps, tests, vars

__all__ = ["data", "runs", "steps", "tests", "vars"]
