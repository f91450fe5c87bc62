"""The database commands, one module per table group; importing this package
registers them all in ``base.COMMANDS`` (``backend.api`` does)."""

from backend.commands import (
    archive,
    data,
    misc,
    nosync,
    runs,
    runwrites,
    servers,
    steps,
    tasks,
    testmeta,
    tests,
    teststate,
    vars,
)

__all__ = [
    "archive", "data", "misc", "nosync", "runs", "runwrites", "servers", "steps", "tasks",
    "testmeta", "tests", "teststate", "vars",
]
