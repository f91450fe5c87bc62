"""One-line summaries and param counts of the database commands, for
``backend call --help`` and the check ``backend call`` makes before it
launches anything (a wrong param count must not start a server to learn it).

docs/api.md has the full story (params, results, errors); these lines are its
headings in short. ``tests/unit/test_ops_units.py`` checks that every served
command has a line here and every line names a served command documented in docs/api.md, and that each ``ARITY``
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
    # Read/write section of api.scm (docs/api.md "Read/write section").
    "get-keys-write": "main.db: as get-keys (Megatest's write-path variant)",
    "start-server": "answered by the server: reports the running server (the client starts one when none answers)",
    "kill-server": "answered by the server: our stop (graceful shutdown)",
    "test-set-state-status": "--run-id: TEST_ID STATE STATUS [COMMENT] (no roll-up, no times)",
    "set-state-status-and-roll-up-items": "--run-id: TESTNAME_OR_ID ITEM_PATH STATE STATUS [COMMENT] (items roll up)",
    "top-test-set-per-pf-counts": "--run-id: TESTNAME: recompute its parent row from its items",
    "test-set-top-process-pid": "--run-id: TEST_ID PID",
    "test-set-archive-block-id": "--run-id: TEST_ID ARCHIVE_BLOCK_ID",
    "delete-test-records": "--run-id: TEST_ID: mark the test DELETED -> whether one was marked",
    "delete-old-deleted-test-records": "--run-id: remove tests DELETED over 30 days ago -> how many",
    "set-tests-state-status": "--run-id: TESTNAMES CURRSTATE CURRSTATUS NEWSTATE NEWSTATUS -> test ids",
    "delete-run": "main.db: RUN_ID marks the run deleted; --run-id N: deletes its tests",
    "lock/unlock-run": "main.db: RUN_ID LOCK UNLOCK USER -> the new state",
    "update-run-event_time": "main.db: RUN_ID: event_time = now",
    "update-run-stats": "main.db: RUN_ID STATS -> groups written",
    "test-data-rollup": "--run-id: TEST_ID [STATUS]: the test's status from its data",
    "sync-inmem->db": "a successful no-op (every write goes to the file at once)",
    "mark-incomplete": "--run-id: [DEADTIME]: mark dead running tests INCOMPLETE -> their ids",
    "testmeta-add-record": "main.db: TESTNAME -> whether it was added",
    "testmeta-update-field": "main.db: TESTNAME FIELD VALUE -> whether the test has a row",
    "tasks-add": "main.db: ACTION OWNER TARGET RUNNAME TESTPATT [PARAMS] -> task id",
    "tasks-set-state-given-param-key": "main.db: PARAM_KEY NEW_STATE -> tasks changed",
    "no-sync-set": "main.db: VAR VAL (the no-sync store)",
    "no-sync-get/default": "main.db: VAR [DEFAULT] -> its value or DEFAULT",
    "no-sync-del!": "main.db: VAR -> whether it existed",
    "no-sync-get-lock": "main.db: KEYNAME -> [true, now] when taken, [false, holder's time] when held",
    "archive-register-disk": "main.db: NAME PATH DF -> disk id",
    "archive-register-block-name": "main.db: DISK_ID ARCHIVE_PATH -> block id",
    "archive-allocate-testsuite/area-to-block": "main.db: BLOCK_ID TESTSUITE AREAKEY -> allocation id",
    # Read-only section of api.scm (docs/api.md "Read-only section").
    "get-key-val-pairs": "main.db: RUN_ID -> {key: value}",
    "get-key-vals": "main.db: RUN_ID -> the run's key values",
    "get-target": "main.db: RUN_ID -> key values joined with /",
    "get-targets": "main.db: every target of the area",
    "test-get-archive-block-info": "main.db: ARCHIVE_BLOCK_ID -> the block's row or null",
    "test-toplevel-num-items": "--run-id: TESTNAME -> its items not DELETED",
    "test-get-rundir-from-test-id": "--run-id: TEST_ID -> rundir or null",
    "get-count-tests-running-in-jobgroup": "--run-id: JOBGROUP -> running jobs of that jobgroup",
    "get-previous-test-run-record": "--run-id: TESTNAME [ITEM_PATH] -> the record in the newest earlier run",
    "get-matching-previous-test-run-records": "--run-id: TESTNAME [ITEM_PATH] -> records of earlier runs",
    "test-get-logfile-info": "--run-id: TESTNAME -> {rundir, final_logf} or null",
    "test-get-records-for-index-file": "--run-id: TESTNAME -> its items' records",
    "get-testinfo-state-status": "--run-id: TEST_ID -> {id, state, status, ...} or null",
    "test-get-top-process-pid": "--run-id: TEST_ID -> stored pid or null",
    "test-get-paths-matching-keynames-target-new":
        "--run-id: KEYNAMES TARGET RES TESTPATT [STATEPATT STATUSPATT] RUNNAME -> rundirs",
    "synchash-get": "unsupported (Megatest's dashboard cache; use get-tests-for-run with last-update)",
    "get-raw-run-stats": "--run-id: -> [{state, status, count}] of the run's jobs",
    "get-test-times": "main.db: RUNNAME TARGET -> [{testname, item_path, run_duration}]",
    "get-run-status": "main.db: RUN_ID -> its status",
    "set-run-status": "main.db: RUN_ID STATUS [MSG]",
    "get-tests-for-run-mindata": "--run-id: [TESTPATT STATES STATUSES NOT_IN] -> minimal test rows",
    "get-tests-for-runs-mindata": "main.db: [RUN_IDS TESTPATT STATES STATUSES NOT_IN] -> minimal rows per run",
    "get-runs": "main.db: RUNPATT [COUNT OFFSET KEYPATTS] -> {header, rows}",
    "simple-get-runs": "main.db: RUNPATT [COUNT OFFSET TARGET] -> run rows",
    "get-num-runs": "main.db: RUNPATT -> the number of runs",
    "get-all-run-ids": "main.db: -> ids of the runs not deleted",
    "get-prev-run-ids": "main.db: RUN_ID -> ids of earlier runs with the same target",
    "get-run-ids-matching-target": "main.db: KEYNAMES TARGET RES [RUNNAME TESTPATT STATEPATT STATUSPATT] -> run ids",
    "get-run-name-from-id": "main.db: RUN_ID -> runname or null",
    "get-main-run-stats": "main.db: RUN_ID -> [{state, status, count}] stored by update-run-stats",
    "get-run-stats": "--run-id: -> [{runname, netstate, count}]",
    "get-run-times": "main.db: RUNPATT TARGETPATT -> [{runname, minutes, target}]",
    "get-steps-data": "--run-id: TEST_ID -> the test's steps (no comments)",
    "get-steps-info-by-id": "--run-id: STEP_ID -> the step's row or null",
    "read-test-data*": "--run-id: TEST_ID [CATEGORYPATT VARPATT] -> test data rows",
    "get-data-info-by-id": "--run-id: TEST_DATA_ID -> the data row or null",
    "get-latest-host-load": "any db: HOSTNAME -> {cpuload, update_time} or null",
    "have-incompletes?": "--run-id: [DEADTIME] -> whether mark-incomplete would mark a test",
    "login": "any db: [AREA_PATH VERSION SIGNATURE] -> [true, message] (the connection is authenticated)",
    "general-call": "--run-id: STATEMENT [PARAMS...]: one of Megatest's named statements",
    "sdb-qry": "unsupported (Megatest's string table is not kept)",
    "get-changed-record-ids": "any db: SINCE -> ids changed since, per table",
    "testmeta-get-record": "main.db: TESTNAME -> its test_meta row or null",
    "find-task-queue-records": "main.db: TARGET RUNNAME TESTPATT STATEPATT ACTIONPATT -> task rows",
    "get-tests-tags": "main.db: -> {tag: [test names]}",
    "tasks-get-last": "main.db: TARGET RUNNAME -> the newest task or null",
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
