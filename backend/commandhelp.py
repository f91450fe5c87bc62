"""One-line summaries of the database commands, for ``backend call --help``.

docs/api.md has the full story (params, results, errors); these lines are its
headings in short. ``tests/unit/test_commandhelp.py`` checks that every line
names a served command documented in docs/api.md. A command without a line
here is still listed, pointing at docs/api.md.
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


def summaries(names: Iterable[str]) -> str:
    """Two columns: each command and its summary."""
    names = list(names)
    width = max((len(n) for n in names), default=0)
    return "\n".join(f"  {n:<{width}}  {SUMMARIES.get(n, '(see docs/api.md)')}" for n in names)
