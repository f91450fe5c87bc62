"""Port of Megatest's tests/unittests/tests.scm (dashboard-mode filtering of
get-tests-for-run), v1.65; expectations from the reference, section 5.1.

Run through ``backend.client.Client`` against real server processes.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from backend.client.client import Client

KEYVALS = [["SYSTEM", "abc"], ["RELEASE", "def"]]  # tests.scm L17-38 set-up


def test_dashboard_mode(area: Path) -> None:
    with Client(area) as c:
        # tests.scm L27: register-run ... "mytestrun" "new" "n/a" user contour #f -> 1
        run = c.call("register-run", KEYVALS, "mytestrun", "new", "n/a", getpass.getuser(), None)
        assert run == 1
        # tests.scm L28-31: general-call register-test (run 1, name, "") -> #t
        for name in ("test-one", "test-two", "test-three", "test-four"):
            assert c.call("general-call", "register-test", run, name, "", run_id=run) is True
        # tests.scm L35-38: fixtures, no check
        for name, state, status in (("test-one", "COMPLETED", "FAIL"),
                                    ("test-two", "COMPLETED", "PASS"),
                                    ("test-three", "RUNNING", "n/a"),
                                    ("test-four", "COMPLETED", "WARN")):
            tid = c.call("get-test-id", name, "", run_id=run)
            c.call("test-set-state-status-by-id", tid, state, status, None, run_id=run)

        def get(states: list[str], statuses: list[str], not_in: bool) -> list[dict[str, Any]]:
            # Megatest's testpatt is "%/%": its LIKE '%' on item_path also matched
            # top-level rows (item_path ''). Ours documents TEST/ITEM as items only
            # (docs/api.md, Patterns), so the same rows are "%"; "%/%" finds none here.
            assert c.call("get-tests-for-run", "%/%", states, statuses, None, None, not_in,
                          "event_time", "DESC", "shortlist", 0, "dashboard", run_id=run) == []
            got: list[dict[str, Any]] = c.call(
                "get-tests-for-run", "%", states, statuses, None, None, not_in,
                "event_time", "DESC", "shortlist", 0, "dashboard", run_id=run)
            return got

        # tests.scm L40-47 "MODE=not in": no FAIL returned
        assert [r["status"] for r in get([], ["FAIL"], True) if r["status"] == "FAIL"] == []
        # tests.scm L49-53 "MODE=in": ("FAIL")
        assert [r["status"] for r in get([], ["FAIL"], False)] == ["FAIL"]
        # tests.scm L57-60 "MODE=in, state in RUNNING": ("RUNNING")
        assert [r["state"] for r in get(["RUNNING"], [], False)] == ["RUNNING"]
        # tests.scm L65-71 "MODE=in, state in RUNNING and status IN WARN":
        # (("COMPLETED" . "WARN") ("RUNNING" . "n/a")). Compared as a multiset: the
        # four event_times tie, and the order of tied rows is sqlite's (reference 5.1).
        pairs = sorted((r["state"], r["status"]) for r in get(["RUNNING"], ["WARN"], False))
        assert pairs == [("COMPLETED", "WARN"), ("RUNNING", "n/a")]
        # tests.scm L75-80 "MODE=not in, state in RUNNING and status IN WARN":
        # (("COMPLETED" . "PASS") ("COMPLETED" . "FAIL"))
        pairs = sorted((r["state"], r["status"]) for r in get(["RUNNING"], ["WARN"], True))
        assert pairs == [("COMPLETED", "FAIL"), ("COMPLETED", "PASS")]

        # Megatest's bug B2 (no parentheses around the dashboard OR) let rows of
        # other runs in; ours must not, also for a run sharing the db file (11).
        for i in range(2, 12):
            c.call("register-run", KEYVALS, f"other{i}")
        t = c.call("general-call", "register-test", 11, "test-five", "", run_id=11)
        assert t is True
        tid = c.call("get-test-id", "test-five", "", run_id=11)
        c.call("test-set-state-status-by-id", tid, "RUNNING", "n/a", None, run_id=11)
        rows = get(["RUNNING"], ["WARN"], False) + get(["RUNNING"], ["WARN"], True)
        assert {r["run_id"] for r in rows} == {run}
