"""The database commands, one module per table group; importing this package
registers them all in ``base.COMMANDS`` (``backend.db.api`` does)."""

from backend.db.commands import (
    archive,
    data,
    generalcall,
    history,
    keys,
    misc,
    miscread,
    nosync,
    prereqs,
    runlist,
    runs,
    runstats,
    runwrites,
    servers,
    steps,
    stepsread,
    tasks,
    testinfo,
    testmeta,
    tests,
    teststate,
    vars,
)

__all__ = [
    "archive", "data", "generalcall", "history", "keys", "misc", "miscread", "nosync",
    "prereqs", "runlist", "runs", "runstats", "runwrites", "servers", "steps", "stepsread",
    "tasks", "testinfo", "testmeta", "tests", "teststate", "vars",
]
