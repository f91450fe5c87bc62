"""Every name of Megatest v1.65's api.scm dispatch answers through a real server.

The 95 names, in api.scm's order (api.scm L159-316; reference section 3.0),
each sent once with well-formed params through ``backend.client.Client`` to
real server processes of a tmp area. Each must answer ``ok``, or, for the
names that cannot apply, the documented ``unsupported`` (docs/api.md,
"Mapping of api.scm"). ``ping`` is the protocol's ping (answered before
authentication); ``kill-server`` goes last (it stops the server it reaches;
the next call starts another).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from backend.client.client import Client
from backend.db.commands.miscread import UNSUPPORTED
from backend.errors import RemoteError
from tests.helpers import entries

KEYS = {"SYSTEM": "ubuntu", "RELEASE": "v1"}
R = 1  # the run-id of the area's first run; T = its test "foo" (test-id 1)

# (name, run-id of the request, params), api.scm order; kill-server moved last.
DISPATCH: list[tuple[str, int | None, list[Any]]] = [
    ("get-keys-write", None, []),
    ("start-server", None, []),
    ("test-set-state-status-by-id", R, [1, "RUNNING", "n/a", "go"]),
    ("delete-test-records", R, [3]),
    ("delete-old-deleted-test-records", R, []),
    ("test-set-state-status", R, [1, "RUNNING", "n/a", "msg"]),
    ("test-set-top-process-pid", R, [1, 123]),
    ("set-state-status-and-roll-up-items", R, ["bar", "i1", "COMPLETED", "PASS", "c"]),
    ("top-test-set-per-pf-counts", R, ["bar"]),
    ("test-set-archive-block-id", R, [1, 1]),
    ("register-run", None, [KEYS, "r2", "new", "n/a", "me", ""]),
    ("set-tests-state-status", R, [["foo"], "RUNNING", "n/a", "RUNNING", "n/a"]),
    ("delete-run", None, [99]),
    ("lock/unlock-run", None, [R, True, False, "me"]),
    ("update-run-event_time", None, [R]),
    ("update-run-stats", None, [R, [["COMPLETED", "PASS", 1]]]),
    ("set-var", None, ["color", "blue"]),
    ("del-var", None, ["color"]),
    ("teststep-set-status!", R, [1, "build", "start", "n/a", "", "b.log"]),
    ("test-data-rollup", R, [1, "n/a"]),
    ("csv->test-data", R, [1, "perf,lat,10,10,1"]),
    ("sync-inmem->db", R, []),
    ("mark-incomplete", R, []),
    ("testmeta-add-record", None, ["foo"]),
    ("testmeta-update-field", None, ["foo", "tags", "a,b"]),
    ("get-tests-tags", None, []),
    ("tasks-add", None, ["run-tests", "me", "ubuntu/v1", "r1", "%", "host 123"]),
    ("tasks-set-state-given-param-key", None, ["host 123", "running"]),
    ("tasks-get-last", None, ["ubuntu/v1", "r1"]),
    ("no-sync-set", None, ["k", "v"]),
    ("no-sync-get/default", None, ["k", "d"]),
    ("no-sync-del!", None, ["k"]),
    ("no-sync-get-lock", None, ["lock"]),
    ("archive-register-disk", None, ["disks", "/d", 100]),
    ("archive-register-block-name", None, [1, "/d/b"]),
    ("archive-allocate-testsuite/area-to-block", None, [1, "suite", "area"]),
    ("get-key-val-pairs", None, [R]),
    ("get-keys", None, []),
    ("get-key-vals", None, [R]),
    ("get-target", None, [R]),
    ("get-targets", None, []),
    ("test-get-archive-block-info", None, [1]),
    ("test-toplevel-num-items", R, ["bar"]),
    ("get-test-info-by-id", R, [1]),
    ("test-get-rundir-from-test-id", R, [1]),
    ("get-count-tests-running-for-testname", R, ["foo"]),
    ("get-count-tests-running", R, []),
    ("get-count-tests-running-in-jobgroup", R, ["default"]),
    ("get-previous-test-run-record", R, ["foo", ""]),
    ("get-matching-previous-test-run-records", R, ["foo", ""]),
    ("test-get-logfile-info", R, ["foo"]),
    ("test-get-records-for-index-file", R, ["bar"]),
    ("get-testinfo-state-status", R, [1]),
    ("test-get-top-process-pid", R, [1]),
    ("test-get-paths-matching-keynames-target-new", R,
     [["SYSTEM", "RELEASE"], "%/%", None, "%", "%", "%", "%"]),
    ("get-prereqs-not-met", R, [["bar"], "foo", "", "normal", []]),
    ("get-count-tests-running-for-run-id", R, []),
    ("synchash-get", R, []),
    ("get-raw-run-stats", R, []),
    ("get-test-times", None, ["r1", "ubuntu/v1"]),
    ("get-run-info", None, [R]),
    ("get-run-status", None, [R]),
    ("set-run-status", None, [R, "JUSTFINE", "a message"]),
    ("get-tests-for-run", R, ["%", [], [], None, None, False, None, None, None, None, "normal"]),
    ("get-test-id", R, ["foo", ""]),
    ("get-tests-for-run-mindata", R, ["%", [], [], False]),
    ("get-tests-for-runs-mindata", None, [[R], "%", [], [], False]),
    ("get-runs", None, ["%", 10, 0, [["SYSTEM", "ubuntu"]]]),
    ("simple-get-runs", None, ["%", 10, 0, "%"]),
    ("get-num-runs", None, ["%"]),
    ("get-all-run-ids", None, []),
    ("get-prev-run-ids", None, [R]),
    ("get-run-ids-matching-target", None, [["SYSTEM", "RELEASE"], "%/%", None, "%"]),
    ("get-runs-by-patt", None, ["%", "%/%"]),
    ("get-run-name-from-id", None, [R]),
    ("get-main-run-stats", None, [R]),
    ("get-var", None, ["SCHEMA_VERSION"]),
    ("get-run-stats", None, []),
    ("get-run-times", None, ["%", "%"]),
    ("get-steps-data", R, [1]),
    ("get-steps-for-test", R, [1]),
    ("get-steps-info-by-id", R, [1]),
    ("read-test-data", R, [1, "%"]),
    ("read-test-data*", R, [1, "%", "%"]),
    ("get-data-info-by-id", R, [1]),
    ("get-latest-host-load", R, ["localhost"]),
    ("have-incompletes?", R, []),
    ("login", None, []),  # the area path is filled in by the test
    ("general-call", R, ["register-test", R, "baz", ""]),
    ("sdb-qry", None, ["getid", "a string"]),
    ("ping", None, []),
    ("get-changed-record-ids", None, [0]),
    ("testmeta-get-record", None, ["foo"]),
    ("find-task-queue-records", None, ["ubuntu/v1", "r1", "%", "%", "%"]),
    ("kill-server", None, []),
]


def test_the_list_is_api_scm_dispatch() -> None:
    names = [n for n, _, _ in DISPATCH]
    assert len(names) == len(set(names)) == 95
    assert set(UNSUPPORTED) <= set(names)


def test_every_dispatch_name_answers(area: Path) -> None:
    with Client(area) as c:
        run = c.call("register-run", KEYS, "r1")
        assert run == R
        assert c.call("register-test", "foo", run_id=R) == 1
        c.call("register-test", "bar", "i1", run_id=R)
        answers: dict[str, Any] = {}
        for name, run_id, params in DISPATCH:
            if name == "login":
                params = [str(area), 1.6506, f"pid-{os.getpid()}"]
            if name == "kill-server":
                live = {e.registration.server_id for e in entries(area, "main.db")}
            try:
                answers[name] = c.call(name, *params, run_id=run_id)
            except RemoteError as exc:
                assert name in UNSUPPORTED and exc.code == "unsupported", (name, exc)
                answers[name] = exc.code
        # A few answers that show the call did what its name says.
        assert answers["login"] == [True, "successful login"]
        assert answers["get-keys"] == answers["get-keys-write"] == ["SYSTEM", "RELEASE"]
        assert answers["get-run-status"] == "n/a" and answers["set-run-status"] is True
        # Megatest's ping answered the server's pid; ours is the SPEC's ping: the
        # server-id of a live server of the db (the pid is in the answer's meta).
        assert answers["ping"] in live
        assert answers["kill-server"] is True
        assert answers["sdb-qry"] == answers["synchash-get"] == "unsupported"
        # main.db's server reads the tests of run 1 from 1.db, served by another
        # process at the same time (read-only connections, WAL).
        assert {"testname": "foo", "item_path": "", "run_duration": 0} in answers[
            "get-test-times"]
        assert {r["testname"] for r in answers["get-tests-for-runs-mindata"]} >= {"foo", "bar"}
        assert any(r["runname"] == "r1" for r in answers["get-run-stats"])
        assert answers["general-call"] is True
        assert c.call("get-test-id", "baz", "", run_id=R) is not None
        # kill-server stopped main.db's server; the next call starts another.
        assert c.call("get-run-status", R) == "JUSTFINE"
