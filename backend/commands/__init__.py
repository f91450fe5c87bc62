"""The database commands, one module per table group; importing this package
registers them all in ``base.COMMANDS`` (``backend.api`` does)."""

from backend.commands import data, runs, steps, tests, vars

__all__ = ["data", "runs", "steps", "tests", "vars"]
