"""Which database commands only read: a static copy of the db layer's table.

The client adds an idempotency key to every write (so a retry after a lost
answer cannot apply it twice), so it must know reads from writes; but the
client side may not import the db layer (the monitor uses the client and must
never load sqlite or the command handlers). This table is that knowledge;
``tests/unit/test_commandinfo.py`` checks it equals ``backend.db.api.COMMANDS``.
"""

from __future__ import annotations

WRITES: dict[str, bool] = {
    "csv->test-data": True,
    "del-var": True,
    "get-count-tests-running": False,
    "get-count-tests-running-for-run-id": False,
    "get-count-tests-running-for-testname": False,
    "get-keys": False,
    "get-prereqs-not-met": False,
    "get-run-info": False,
    "get-runs-by-patt": False,
    "get-steps-for-test": False,
    "get-test-id": False,
    "get-test-info-by-id": False,
    "get-tests-for-run": False,
    "get-var": False,
    "insert-test-data": True,
    "read-test-data": False,
    "register-run": True,
    "register-test": True,
    "set-var": True,
    "test-set-state-status-by-id": True,
    "teststep-set-status!": True,
}
"""Command name -> does it write?"""


def is_write(name: str) -> bool:
    """Unknown commands count as writes (the safe side for retries)."""
    return WRITES.get(name, True)
