"""Port of Megatest's tests/unittests/basicserver.scm, v1.65; expectations
from the reference, section 5.3. Real server processes of a tmp area, through
``backend.client.Client``."""

from __future__ import annotations

import getpass
from pathlib import Path

from backend.client.client import Client
from tests.helpers import entries, process_gone, wait_for

KEYVALS = [["SYSTEM", "abc"], ["RELEASE", "def"]]


def test_basicserver(area: Path) -> None:
    with Client(area) as c:
        # basicserver.scm L15: server:kind-run -> a server runs (the client starts one)
        # basicserver.scm L32-33: login -> (#t "successful login")
        assert c.call("login", str(area), 1.6506, "basicserver") == [True, "successful login"]
        assert not entries(area, "0.db") and not entries(area, "1.db")
        # basicserver.scm L37: get-keys -> ("SYSTEM" "RELEASE"). Differs: ours come
        # from the area's first register-run (docs/api.md, Key fields): none yet.
        assert c.call("get-keys") == []
        # basicserver.scm L41: get-all-run-ids (empty db) -> ()
        assert c.call("get-all-run-ids") == []
        # basicserver.scm L42: get-run-name-from-id 1 -> #f
        assert c.call("get-run-name-from-id", 1) is None
        # basicserver.scm L43-47: get-run-info 1 (no run) -> a header and a row of #f
        # (stale in v1.65: 12 names, 4 #f). Ours: an empty record, not an error.
        assert c.call("get-run-info", 1) == {}
        # basicserver.scm L51: register-run with five arguments (no contour) -> 1
        assert c.call("register-run", KEYVALS, "mytestrun", "new", "n/a",
                      getpass.getuser()) == 1
        assert c.call("get-keys") == ["SYSTEM", "RELEASE"]  # L37's expectation, now
        # basicserver.scm L53: general-call register-test (1 "test-one" "") -> #t
        assert c.call("general-call", "register-test", 1, "test-one", "", run_id=1) is True
        # basicserver.scm L55-57: get-test-id 1 "test-one" "" -> 1
        tid = c.call("get-test-id", "test-one", "", run_id=1)
        assert tid == 1
        # basicserver.scm L59-61: get-test-info-by-id, field 2 -> "test-one"
        assert c.call("get-test-info-by-id", tid, run_id=1)["testname"] == "test-one"
        # basicserver.scm L66: get-all-run-ids -> (1)
        assert c.call("get-all-run-ids") == [1]
        # basicserver.scm L67: get-run-name-from-id 1 -> "mytestrun"
        assert c.call("get-run-name-from-id", 1) == "mytestrun"
        # basicserver.scm L68-73: get-run-info 1, "runname" -> "mytestrun"
        assert c.call("get-run-info", 1)["runname"] == "mytestrun"
        # basicserver.scm L77-81: for run-ids 0 and 1, kill the server -> #t, then no
        # server is running or starting (v1.65's tasks:* functions are gone; ours
        # is kill-server to the server of the run-id's db, then its registration
        # and process disappear).
        assert {e.registration.dbfname for e in entries(area)} == {"main.db", "1.db"}
        c.call("get-var", "x", run_id=0)  # a server of 0.db, for run-id 0
        servers = {e.registration.dbfname: e.registration.pid for e in entries(area)}
        for run_id, dbfname in ((0, "0.db"), (1, "1.db")):
            assert c.call("kill-server", run_id=run_id) is True
            # On a loaded machine the load policy may have started a second server
            # of the db; each kill-server stops the one that gets it.
            def gone(run_id: int = run_id, dbfname: str = dbfname) -> bool:
                if entries(area, dbfname):
                    with Client(area) as k:
                        if entries(area, dbfname):
                            k.call("kill-server", run_id=run_id)
                    return False
                return True

            wait_for(gone, timeout=60, interval=1, what=f"the servers of {dbfname} to go")
        for dbfname in ("0.db", "1.db"):
            pid = servers[dbfname]
            wait_for(lambda p=pid: process_gone(p), timeout=20,
                     what=f"pid {pid} to exit")
        assert not entries(area, "0.db") and not entries(area, "1.db")
