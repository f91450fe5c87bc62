"""api.scm's read-only MISC (miscread.py), TESTMETA, TASKS and ARCHIVES lookups, and the
names that answer ``unsupported``."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.db.commands.miscread import UNSUPPORTED
from backend.ops.demoload import LocalCaller
from tests.unit.api_helpers import KEYS, execute, refused


def test_login_is_the_authenticated_handshake(lc: LocalCaller, tmp_path: Path) -> None:
    area = tmp_path.parent  # LocalCaller's db_dir stands for <area>/.mtdb
    assert lc.call("login") == [True, "successful login"]
    assert lc.call("login", str(area), 1.6506, "client-sig") == [True, "successful login"]
    got = lc.call("login", "/elsewhere", 1.6506, "sig")
    assert got[0] is False and got[1] == "Login failed due to mismatch paths: "
    refused(lc, "login", 5)
    refused(lc, "login", "a", 1, "s", "extra")


def test_latest_host_load(lc: LocalCaller, tmp_path: Path) -> None:
    run = lc.call("register-run", KEYS, "r1")
    t = lc.call("register-test", "foo", run_id=run)
    assert lc.call("get-latest-host-load", "h1", run_id=run) == {"cpuload": -1,
                                                                  "update_time": 0}
    lc.call("general-call", "update-uname-host", "Linux", "h1", t, run_id=run)
    for when, load in ((100, 0.5), (200, 1.5), (300, -1)):
        lc.call("general-call", "update-test-rundat", t, when, load, 10, 20, 30, run_id=run)
    # The short host name is used; a -1 load is not a measurement.
    assert lc.call("get-latest-host-load", "h1.example.com", run_id=run) == {
        "cpuload": 1.5, "update_time": 200}
    refused(lc, "get-latest-host-load", None, run_id=run)


def test_have_incompletes(lc: LocalCaller, tmp_path: Path) -> None:
    run = lc.call("register-run", KEYS, "r1")
    t = lc.call("register-test", "foo", run_id=run)
    assert lc.call("have-incompletes?", run_id=run) is False
    lc.call("test-set-state-status-by-id", t, "RUNNING", "n/a", run_id=run)
    assert lc.call("have-incompletes?", run_id=run) is False
    execute(tmp_path / f"{run}.db", "UPDATE tests SET event_time = event_time - 100")
    assert lc.call("have-incompletes?", 50, run_id=run) is True
    assert lc.call("have-incompletes?", run_id=run) is False  # default dead time 7200 s
    # The same answer as mark-incomplete's search (which then marks it).
    assert lc.call("mark-incomplete", 50, run_id=run) == [t]
    assert lc.call("have-incompletes?", 50, run_id=run) is False
    refused(lc, "have-incompletes?", "soon", run_id=run)


def test_changed_record_ids_per_db(lc: LocalCaller) -> None:
    run = lc.call("register-run", KEYS, "r1")
    t = lc.call("register-test", "foo", run_id=run)
    main = lc.call("get-changed-record-ids", 0)
    assert main["runs"] == [run] and main["tests"] == []
    assert list(main) == ["runs", "tests", "test_steps", "test_data", "run_stats"]
    assert lc.call("get-changed-record-ids", 0, run_id=run)["tests"] == [t]
    assert lc.call("get-changed-record-ids", 2e9, run_id=run)["tests"] == []
    refused(lc, "get-changed-record-ids", "x")


def test_testmeta_tasks_archive_lookups(lc: LocalCaller, tmp_path: Path) -> None:
    main = tmp_path / "main.db"
    lc.call("get-keys")  # opens (creates) main.db
    execute(main, "INSERT INTO test_meta(testname, author, tags) VALUES ('t1', 'me', 'a,b')")
    rec = lc.call("testmeta-get-record", "t1")
    assert list(rec) == ["id", "testname", "author", "owner", "description", "reviewed",
                         "iterated", "avg_runtime", "avg_disk", "tags", "jobgroup"]
    assert (rec["author"], rec["tags"], rec["jobgroup"]) == ("me", "a,b", "default")
    assert lc.call("testmeta-get-record", "nope") is None
    for action, state in (("run-tests", "running"), ("run-tests", "done"), ("sync", "running")):
        execute(main, "INSERT INTO tasks_queue(action, owner, state, target, name, testpatt, "
                "params) VALUES (?, 'me', ?, 'ubuntu/v1', 'r1', '%', 'host 123')", action, state)
    got = lc.call("find-task-queue-records", "ubuntu/v1", "r1", "%", "running", "run-tests")
    assert [(g["action"], g["state"]) for g in got] == [("run-tests", "running")]
    assert list(got[0]) == ["id", "action", "owner", "state", "target", "name", "testpatt",
                            "keylock", "params"]
    assert len(lc.call("find-task-queue-records", "ubuntu/v1", "r1", "%", "%", "%")) == 3
    execute(main, "INSERT INTO archive_blocks(archive_disk_id, disk_path) VALUES (1, '/a/b')")
    blk = lc.call("test-get-archive-block-info", 1)
    assert (blk["archive_disk_id"], blk["disk_path"], blk["last_du"]) == (1, "/a/b", -1)
    assert lc.call("test-get-archive-block-info", 2) is None
    refused(lc, "testmeta-get-record", 1)
    refused(lc, "find-task-queue-records", "t", "r", "%", "%")
    refused(lc, "test-get-archive-block-info", "1")


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_names_say_why(lc: LocalCaller, name: str) -> None:
    message = refused(lc, name, code="unsupported")
    assert message.startswith(f"{name}: ") and len(message) > len(name) + 20
