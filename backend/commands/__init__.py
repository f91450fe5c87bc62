"""The database commands, one module per table group; importing this package
registers them all in ``base.COMMANDS`` (``backend.api`` does)."""

from backend.commands import (
    data,
    generalcall,
    history,
    keys,
    misc,
    prereqs,
    runlist,
    runs,
    runstats,
    steps,
    stepsread,
    testinfo,
    tests,
    vars,
)

__all__ = [
    "data", "generalcall", "history", "keys", "misc", "prereqs", "runlist", "runs", "runstats", "steps",
    "stepsread", "testinfo", "tests", "vars",
]
