"""Which database commands only read: a static copy of the db layer's table.

The client adds an idempotency key to every write (so a retry after a lost
answer cannot apply it twice), so it must know reads from writes; but the
client side may not import the db layer (the monitor uses the client and must
never load sqlite or the command handlers). This table is that knowledge;
``tests/unit/test_commandinfo.py`` checks it equals ``backend.db.api.COMMANDS``.
"""

from __future__ import annotations

WRITES: dict[str, bool] = {
    "archive-allocate-testsuite/area-to-block": True,
    "archive-register-block-name": True,
    "archive-register-disk": True,
    "csv->test-data": True,
    "del-var": True,
    "delete-old-deleted-test-records": True,
    "delete-run": True,
    "delete-test-records": True,
    "get-count-tests-running": False,
    "get-count-tests-running-for-run-id": False,
    "get-count-tests-running-for-testname": False,
    "get-keys": False,
    "get-keys-write": False,
    "get-prereqs-not-met": False,
    "get-run-info": False,
    "get-runs-by-patt": False,
    "get-steps-for-test": False,
    "get-test-id": False,
    "get-test-info-by-id": False,
    "get-tests-for-run": False,
    "get-tests-tags": False,
    "get-var": False,
    "insert-test-data": True,
    "kill-server": False,
    "lock/unlock-run": True,
    "mark-incomplete": True,
    "no-sync-del!": True,
    "no-sync-get-lock": True,
    "no-sync-get/default": False,
    "no-sync-set": True,
    "read-test-data": False,
    "register-run": True,
    "register-test": True,
    "set-state-status-and-roll-up-items": True,
    "set-tests-state-status": True,
    "set-var": True,
    "start-server": False,
    "sync-inmem->db": False,
    "tasks-add": True,
    "tasks-get-last": False,
    "tasks-set-state-given-param-key": True,
    "test-data-rollup": True,
    "test-set-archive-block-id": True,
    "test-set-state-status": True,
    "test-set-state-status-by-id": True,
    "test-set-top-process-pid": True,
    "testmeta-add-record": True,
    "testmeta-update-field": True,
    "teststep-set-status!": True,
    "top-test-set-per-pf-counts": True,
    "update-run-event_time": True,
    "update-run-stats": True,
}
"""Command name -> does it write?"""


def is_write(name: str) -> bool:
    """Unknown commands count as writes (the safe side for retries)."""
    return WRITES.get(name, True)
