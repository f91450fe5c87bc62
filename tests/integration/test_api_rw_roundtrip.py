"""The read/write commands of issue 17 through real servers (docs/api.md).

Each group goes through the client library against real server processes, and
at least one command of each group through ``backend call --json`` (a
subprocess, params spelled as in docs/api.md); results are checked against
what a read-only sqlite query of the db file shows. kill-server and
start-server are answered by the server process itself: checked here on real
processes.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from backend.client.client import Client
from backend.errors import RemoteError
from tests.helpers import entries
from tests.integration.test_api_roundtrip import KEYS, cli, q, q1


def test_main_db_groups_round_trip(area: Path) -> None:
    a = str(area)
    with Client(a) as c:
        run = c.call("register-run", KEYS, "nightly", "new", "JUSTFINE", "bob")
        # TESTMETA
        assert cli(area, "testmeta-add-record", "test1") is True
        assert c.call("testmeta-update-field", "test1", "tags", "tagone,tagtwo") is True
        assert cli(area, "get-tests-tags") == {"tagone": ["test1"], "tagtwo": ["test1"]}
        assert q(area, "main.db", "SELECT testname, tags, jobgroup FROM test_meta") == [
            {"testname": "test1", "tags": "tagone,tagtwo", "jobgroup": "default"}
        ]
        # TASKS
        tid = cli(area, "tasks-add", "run", "bob", "ubuntu/v1.2", "nightly", "%", "-k 1")
        assert c.call("tasks-get-last", "ubuntu/v1.2", "nightly") == q(
            area, "main.db", "SELECT * FROM tasks_queue WHERE id = ?", tid
        )[0]
        assert c.call("tasks-set-state-given-param-key", "-k 1", "done") == 1
        # NO SYNC DB
        assert cli(area, "no-sync-set", "count", "7") is True
        assert c.call("no-sync-get/default", "count", 0) == 7
        granted, when = c.call("no-sync-get-lock", "L")
        assert granted is True
        assert cli(area, "no-sync-get-lock", "L") == [False, when]
        assert q1(area, "main.db", "SELECT val FROM no_sync_metadat WHERE var = 'L'") == repr(when)
        # ARCHIVES
        disk = cli(area, "archive-register-disk", "arch", "/arch/d1", "1000")
        block = c.call("archive-register-block-name", disk, "/arch/d1/b1")
        assert isinstance(block, int)
        alloc = c.call("archive-allocate-testsuite/area-to-block", block, "suite", "key")
        assert q(area, "main.db", "SELECT * FROM archive_allocations")[0]["id"] == alloc
        # RUNS (run-level, main.db)
        assert cli(area, "lock/unlock-run", str(run), "true", "false", "bob") == "locked"
        assert q(area, "main.db", "SELECT state, status FROM runs WHERE id = ?", run) == [
            {"state": "locked", "status": "JUSTFINE"}
        ]
        assert q1(area, "main.db", "SELECT args FROM access_log") == f"locked {run}"
        assert c.call("update-run-stats", run, [["COMPLETED", "PASS", 2]]) == 1
        assert q1(area, "main.db", "SELECT count FROM run_stats WHERE run_id = ?", run) == 2
        assert c.call("get-keys-write") == ["SYSTEM", "RELEASE"]
        assert c.call("sync-inmem->db") is True


def test_run_db_groups_round_trip(area: Path) -> None:
    a = str(area)
    with Client(a) as c:
        run = c.call("register-run", KEYS, "nightly")
        db = f"{run}.db"
        ia = c.call("register-test", "sim", "a", run_id=run)
        c.call("register-test", "sim", "b", run_id=run)
        parent = c.call("get-test-id", "sim", run_id=run)
        assert cli(area, "set-state-status-and-roll-up-items", "sim", "a", "COMPLETED", "PASS",
                   "ok", run_id=run) is True
        assert q(area, db, "SELECT state, status FROM tests WHERE id = ?", parent) == [
            {"state": "NOT_STARTED", "status": "STARTED"}  # b not started yet
        ]
        ib = c.call("get-test-id", "sim", "b", run_id=run)
        c.call("set-state-status-and-roll-up-items", ib, "", "COMPLETED", "FAIL", run_id=run)
        assert c.call("get-test-info-by-id", parent, run_id=run)["status"] == "FAIL"
        assert c.call("test-set-top-process-pid", ia, 4321, run_id=run) is True
        assert q1(area, db, "SELECT attemptnum FROM tests WHERE id = ?", ia) == 4321
        assert cli(area, "delete-test-records", str(ib), run_id=run) is True
        assert q1(area, db, "SELECT state FROM tests WHERE id = ?", ib) == "DELETED"
        assert c.call("get-test-info-by-id", parent, run_id=run)["status"] == "PASS"
        assert c.call("mark-incomplete", run_id=run) == []
        # delete-run: the tests half in the run db, the run row in main.db
        assert cli(area, "delete-run", run_id=run) == 3
        assert c.call("delete-run", run) is True
        assert q1(area, "main.db", "SELECT state FROM runs WHERE id = ?", run) == "deleted"
        assert {r["state"] for r in q(area, db, "SELECT state FROM tests")} == {"DELETED"}


def test_start_server_and_kill_server_on_real_processes(area: Path) -> None:
    a = str(area)
    with Client(a) as c:
        assert c.call("get-keys") == []  # starts main.db's server(s)
        got = c.call("start-server")
        # the answer names the running server that got the request: one of the registered
        by_id = {e.registration.server_id: e for e in entries(area, "main.db")}
        assert got["server_id"] in by_id
        entry = by_id[got["server_id"]]
        assert got == {
            "started": False, "server_id": entry.registration.server_id,
            "pid": entry.registration.pid, "dbfname": "main.db",
            "reason": "a server of main.db is running",
        }
        for cmd in ("start-server", "kill-server"):
            with pytest.raises(RemoteError, match="takes no params") as info:
                c.call(cmd, 1)
            assert info.value.code == "bad_request"
        proc = psutil.Process(entry.registration.pid)
        assert proc.is_running()  # a refused kill-server stopped nothing
        assert c.call("kill-server") is True
        proc.wait(timeout=20)  # it exits on its own (no signal from us)
        assert not entry.path.exists()  # and removed its registration
        # the client goes on with another server (or starts one through the launcher)
        assert c.call("get-keys-write") == []
        assert all(e.registration.server_id != got["server_id"] for e in entries(area, "main.db"))
