"""Port of Megatest's tests/unittests/all-rmt.scm (one check per client
function), v1.65; expectations from the reference, section 5.2.

Run through ``backend.client.Client`` against real server processes of a tmp
area. Rows 1-5 of all-rmt.scm (server:start-and-wait, launch:setup,
client:setup, connection info) are the client's own discovery and auto-start
here: the first call starts the servers. Where we deliberately differ the
comment says why; the decisions are in docs/api.md.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from backend.client.client import Client
from backend.errors import RemoteError

KEYVALS = [["SYSTEM", "ubuntu"], ["RELEASE", "v1.234"]]


def test_all_rmt(area: Path) -> None:
    host = socket.gethostname()
    with Client(area) as c:
        # all-rmt.scm L30: login -> (#t "successful login")
        assert c.call("login", str(area), 1.6506, "all-rmt") == [True, "successful login"]
        # all-rmt.scm L32, L36-40: get-latest-host-load -> a pair (-1 . 0) on a fresh db;
        # ours is the map {cpuload, update_time}, asked of the db a run-id picks.
        for h in (host, "localhost", "not-a-host"):
            assert c.call("get-latest-host-load", h, run_id=1) == {"cpuload": -1,
                                                                    "update_time": 0}
        # all-rmt.scm L42: get-changed-record-ids 0 -> a list (an alist of five tables)
        changed = c.call("get-changed-record-ids", 0)
        assert list(changed) == ["runs", "tests", "test_steps", "test_data", "run_stats"]
        # all-rmt.scm L44: runs:update-all-test_meta (testmeta-get/add/update-field)
        for name, tags in (("test1", "tagone,tagtwo"), ("test2", "tagone,tagtwo,quick")):
            assert c.call("testmeta-get-record", name) is None
            assert c.call("testmeta-add-record", name) is True
            assert c.call("testmeta-update-field", name, "tags", tags) is True
        # all-rmt.scm L46: the tests tagged "tagtwo", sorted -> ("test1" "test2")
        assert sorted(c.call("get-tests-tags")["tagtwo"]) == ["test1", "test2"]
        # all-rmt.scm L48: get-key-val-pairs 0 -> () (ours: {})
        assert c.call("get-key-val-pairs", 0) == {}
        # all-rmt.scm L49-50: get-keys, get-keys-write -> ("SYSTEM" "RELEASE").
        # Differs: Megatest reads the keys from megatest.config; ours are defined by
        # the area's first register-run (docs/api.md, Key fields), none yet.
        assert c.call("get-keys") == c.call("get-keys-write") == []
        # all-rmt.scm L51: get-key-vals 1 -> ()
        assert c.call("get-key-vals", 1) == []
        # all-rmt.scm L52: get-targets -> #(() ()) here (no keys yet, see L49)
        assert c.call("get-targets") == {"keys": [], "targets": []}
        # all-rmt.scm L53: get-target 1 -> ""
        assert c.call("get-target", 1) == ""
        # all-rmt.scm L54: register-test 1 "foo" "" -> #t. Differs: Megatest registers
        # tests of a run that does not exist yet; we refuse (bad_request) so a test
        # can never be orphaned, and register run 1 ("bar", all-rmt.scm L87) first.
        with pytest.raises(RemoteError) as refused:
            c.call("general-call", "register-test", 1, "foo", "", run_id=1)
        assert refused.value.code == "bad_request" and "unknown run-id 1" in str(refused.value)
        assert c.call("register-run", KEYVALS, "bar", "NEW", "JUSTFINE", "bobafett",
                      "quick") == 1
        assert c.call("get-keys") == ["SYSTEM", "RELEASE"]  # all-rmt.scm L49, now
        assert c.call("general-call", "register-test", 1, "foo", "", run_id=1) is True
        # all-rmt.scm L55: get-test-id 1 "foo" "" -> 1
        assert c.call("get-test-id", "foo", "", run_id=1) == 1
        # all-rmt.scm L56: get-test-info-by-id 1 1, field 2 -> "foo"
        assert c.call("get-test-info-by-id", 1, run_id=1)["testname"] == "foo"
        # all-rmt.scm L57: test-get-rundir-from-test-id 1 1 -> "/tmp/badname"
        assert c.call("test-get-rundir-from-test-id", 1, run_id=1) == "/tmp/badname"
        # all-rmt.scm L58-59: set-tests-state-status ... -> (1)
        assert c.call("set-tests-state-status", ["foo"], "COMPLETED", "PASS", "NOT_STARTED",
                      "PASS", run_id=1) == [1]
        # all-rmt.scm L60: test-set-state-status-by-id 1 1 COMPLETED PASS -> #t
        assert c.call("test-set-state-status-by-id", 1, "COMPLETED", "PASS", "Just testing!",
                      run_id=1) is True
        # all-rmt.scm L61: get-tests-for-run 1 "%" () () #f #f #f #f #f #f 0 #f -> a list
        got = c.call("get-tests-for-run", "%", [], [], None, None, None, None, None, None, 0,
                     None, run_id=1)
        assert [t["testname"] for t in got] == ["foo"]
        # all-rmt.scm L62: get-tests-for-runs-mindata (1) "%" () () #f -> a list
        assert [t["id"] for t in c.call("get-tests-for-runs-mindata", [1], "%", [], [],
                                        None)] == [1]
        # all-rmt.scm L63: delete-test-records 1 2 (no such test): no check
        assert c.call("delete-test-records", 2, run_id=1) is False
        # all-rmt.scm L64: test-set-state-status 1 1 COMPLETED FAIL "Another message"
        c.call("test-set-state-status", 1, "COMPLETED", "FAIL", "Another message", run_id=1)
        # all-rmt.scm L65: test-toplevel-num-items 1 "foo" -> 0
        assert c.call("test-toplevel-num-items", "foo", run_id=1) == 0
        # all-rmt.scm L66: get-matching-previous-test-run-records 1 "foo" "" -> ()
        assert c.call("get-matching-previous-test-run-records", "foo", "", run_id=1) == []
        # all-rmt.scm L67: test-get-logfile-info 1 "foo" -> ("/tmp/badname" "logs/final.log")
        assert c.call("test-get-logfile-info", "foo", run_id=1) == {
            "rundir": "/tmp/badname", "final_logf": "logs/final.log"}
        # all-rmt.scm L68: test-get-records-for-index-file 1 "foo" -> ()
        assert c.call("test-get-records-for-index-file", "foo", run_id=1) == []
        # all-rmt.scm L69: get-testinfo-state-status 1 1 -> a vector (ours: a map)
        assert c.call("get-testinfo-state-status", 1, run_id=1)["status"] == "FAIL"
        # all-rmt.scm L70: test-set-log! -> #t (general-call test-set-log)
        assert c.call("general-call", "test-set-log", "/tmp/another/logfile/eh", 1,
                      run_id=1) is True
        # all-rmt.scm L71-72: test-set-top-process-pid 1 1 123; -> 123
        c.call("test-set-top-process-pid", 1, 123, run_id=1)
        assert c.call("test-get-top-process-pid", 1, run_id=1) == 123
        # all-rmt.scm L74: get-run-ids-matching-target ... -> () in Megatest, which had
        # no run yet (see L54); ours has run 1, which matches.
        assert c.call("get-run-ids-matching-target", ["SYSTEM", "RELEASE"], "%/%", None,
                      "%", "%", "%", "%") == [1]
        # all-rmt.scm L75: the paths composite -> () likewise; run 1's one test matches.
        assert c.call("test-get-paths-matching-keynames-target-new", ["SYSTEM", "RELEASE"],
                      "%/%", None, "%", "%", "%", "%", run_id=1) == ["/tmp/badname"]
        # all-rmt.scm L76: get-prereqs-not-met 1 () "foo" "" -> ()
        assert c.call("get-prereqs-not-met", [], "foo", "", run_id=1) == []
        # all-rmt.scm L77-80: the running counts -> 0
        assert c.call("get-count-tests-running-for-run-id", run_id=1) == 0
        assert c.call("get-count-tests-running", run_id=1) == 0
        assert c.call("get-count-tests-running-for-testname", "foo", run_id=1) == 0
        assert c.call("get-count-tests-running-in-jobgroup", "nada", run_id=1) == 0
        # all-rmt.scm L81: set-state-status-and-roll-up-items 1 "foo" "" ...: no check
        c.call("set-state-status-and-roll-up-items", "foo", "", "COMPLETED", "FAIL",
               "Just yet another message", run_id=1)
        # all-rmt.scm L82: top-test-set-per-pf-counts 1 "foo" -> #t
        assert c.call("top-test-set-per-pf-counts", "foo", run_id=1) is True
        # all-rmt.scm L83: get-raw-run-stats 1 -> (). Differs: Megatest leaves out
        # top-level rows that never ran on a host (uname n/a), foo here; ours leaves
        # out parents that have items (summaries), so foo, a job, is counted
        # (docs/api.md, Running counts: a LAUNCHED test has no uname yet either).
        assert c.call("get-raw-run-stats", run_id=1) == [
            {"state": "COMPLETED", "status": "FAIL", "count": 1}]
        # all-rmt.scm L84: get-run-info 1 -> a vector (ours: the row as a map)
        assert c.call("get-run-info", 1)["runname"] == "bar"
        # all-rmt.scm L85: get-num-runs "%" -> 0 (no run yet in Megatest, see L54)
        assert c.call("get-num-runs", "%") == 1
        # all-rmt.scm L87: register-run ... "bar" ... -> 1 (the same run again)
        assert c.call("register-run", KEYVALS, "bar", "NEW", "JUSTFINE", "bobafett",
                      "quick") == 1
        # all-rmt.scm L88: get-run-name-from-id 1 -> "bar"
        assert c.call("get-run-name-from-id", 1) == "bar"
        # all-rmt.scm L89: delete-run 2 (no such run) must not fail
        assert c.call("delete-run", 2) is False
        # all-rmt.scm L90-91: update-run-stats 1 (); delete-old-deleted-test-records
        assert c.call("update-run-stats", 1, []) == 0
        assert c.call("delete-old-deleted-test-records", run_id=1) == 0
        # all-rmt.scm L92: get-runs "%" 10 0 (("SYSTEM" "ubuntu") ("RELEASE" "v1.234"))
        runs = c.call("get-runs", "%", 10, 0, [["SYSTEM", "ubuntu"], ["RELEASE", "v1.234"]])
        assert [r["runname"] for r in runs["rows"]] == ["bar"]
        # all-rmt.scm L93: get-all-run-ids -> (1)
        assert c.call("get-all-run-ids") == [1]
        # all-rmt.scm L94: get-prev-run-ids 1 -> ()
        assert c.call("get-prev-run-ids", 1) == []
        # all-rmt.scm L95: lock/unlock-run 1 #t #f "mikey": no check
        c.call("lock/unlock-run", 1, True, False, "mikey")
        # all-rmt.scm L96: get-run-status 1 -> "JUSTFINE"
        assert c.call("get-run-status", 1) == "JUSTFINE"
        # all-rmt.scm L97-98: set-run-status 1 "NOTFINE" msg; update-run-event_time 1
        assert c.call("set-run-status", 1, "NOTFINE", "A message") is True
        assert c.call("update-run-event_time", 1) is True
        # all-rmt.scm L105-114: get-runs-by-patt ("SYSTEM" "RELEASE") "%" "%/%" #f #f #f
        # last-update: with 0 a vector with at least one row; with now + 100 none.
        got = c.call("get-runs-by-patt", ["SYSTEM", "RELEASE"], "%", "%/%", None, None, None, 0)
        assert len(got["rows"]) >= 1
        got = c.call("get-runs-by-patt", ["SYSTEM", "RELEASE"], "%", "%/%", None, None, None,
                     time.time() + 100)
        assert got["rows"] == []
