"""One-line summaries and param counts of the database commands, for
``backend call --help`` and the check ``backend call`` makes before it
launches anything (a wrong param count must not start a server to learn it).

docs/api.md has the full story (params, results, errors); these lines are its
headings in short. ``tests/unit/test_ops_units.py`` checks that every line
names a served command documented in docs/api.md, and that each ``ARITY``
entry is exactly what the command's handler accepts. A command missing here is
listed pointing at docs/api.md, and its params are left to the server.
"""

from __future__ import annotations

from collections.abc import Iterable

SUMMARIES: dict[str, str] = {
    "get-keys": "main.db: the area's key field names",
    "register-run": "main.db: KEYVALS RUNNAME [STATE STATUS USER CONTOUR] -> run-id (same run: same id)",
    "get-run-info": "main.db: RUN_ID -> the run's row",
    "get-runs-by-patt": "main.db: [RUNNAMEPATT TARGPATT OFFSET LIMIT LAST_UPDATE] -> run rows",
    "register-test": "--run-id: TESTNAME [ITEM_PATH] -> test-id",
    "get-test-id": "--run-id: TESTNAME [ITEM_PATH] -> test-id or null",
    "get-test-info-by-id": "--run-id: TEST_ID -> the test's row",
    "get-tests-for-run": "--run-id: [TESTPATT STATES STATUSES OFFSET LIMIT ...] -> test rows",
    "test-set-state-status-by-id": "--run-id: TEST_ID STATE STATUS [COMMENT] (items roll up)",
    "get-count-tests-running": "--run-id: running jobs in that run database",
    "get-count-tests-running-for-run-id": "--run-id: running rows of the run",
    "get-count-tests-running-for-testname": "--run-id: TESTNAME -> its running jobs",
    "get-prereqs-not-met": "--run-id: WAITONS [REF_ITEM_PATH MODE] -> the waitons not met",
    "teststep-set-status!": "--run-id: TEST_ID STEPNAME STATE STATUS [COMMENT LOGFILE]",
    "get-steps-for-test": "--run-id: TEST_ID -> the test's steps",
    "csv->test-data": "--run-id: TEST_ID CSV -> rows of test data added",
    "insert-test-data": "--run-id: TEST_ID ROWS (the bulk path)",
    "read-test-data": "--run-id: TEST_ID [CATEGORYPATT] -> test data rows",
    "get-var": "any db: VAR -> its value or null",
    "set-var": "any db: VAR VALUE (a string or number; true/false are stored as text)",
    "del-var": "any db: VAR",
}


# (fewest, most) params each command accepts.
ARITY: dict[str, tuple[int, int]] = {
    "csv->test-data": (2, 2),
    "del-var": (1, 1),
    "get-count-tests-running": (0, 0),
    "get-count-tests-running-for-run-id": (0, 0),
    "get-count-tests-running-for-testname": (1, 1),
    "get-keys": (0, 0),
    "get-prereqs-not-met": (1, 5),
    "get-run-info": (1, 1),
    "get-runs-by-patt": (0, 5),
    "get-steps-for-test": (1, 1),
    "get-test-id": (1, 2),
    "get-test-info-by-id": (1, 1),
    "get-tests-for-run": (0, 11),
    "get-var": (1, 1),
    "insert-test-data": (2, 2),
    "read-test-data": (1, 2),
    "register-run": (2, 6),
    "register-test": (1, 2),
    "set-var": (2, 2),
    "test-set-state-status-by-id": (3, 4),
    "teststep-set-status!": (4, 6),
}


def arity_problem(name: str, nparams: int) -> str | None:
    """The server's own ``bad_request`` text for a wrong param count, or None."""
    low, high = ARITY.get(name, (0, nparams))
    if low <= nparams <= high:
        return None
    want = str(low) if low == high else f"{low}..{high}"
    return f"expected {want} params, got {nparams}"


def summaries(names: Iterable[str]) -> str:
    """Two columns: each command and its summary."""
    names = list(names)
    width = max((len(n) for n in names), default=0)
    return "\n".join(f"  {n:<{width}}  {SUMMARIES.get(n, '(see docs/api.md)')}" for n in names)
