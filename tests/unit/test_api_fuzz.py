"""Any params to any command: an outcome with a protocol code, never an exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.db.api import COMMANDS, is_write, lookup
from backend.db.commands.miscread import UNSUPPORTED
from backend.errors import CommandError
from backend.ops.demoload import LocalCaller

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.sampled_from(["%", "t", "item/1", "COMPLETED", "PASS", "a,b,1,2,<", "<=", "SYSTEM"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def test_every_command_rejects_garbage_cleanly(tmp_path: Path) -> None:
    with LocalCaller(tmp_path) as lc:
        run = lc.call("register-run", {"SYSTEM": "u"}, "r")
        lc.call("register-run", {"SYSTEM": "u"}, "r2")  # a previous run of the same target
        tid = lc.call("register-test", "t", "item/1", run_id=run)
        lc.call("teststep-set-status!", tid, "s", "start", "n/a", run_id=run)
        lc.call("csv->test-data", tid, "c,v,1,1,0", run_id=run)
        seed_other_tables(lc)

        @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            cmd=st.sampled_from(sorted(COMMANDS)),
            params=st.lists(st.one_of(values, st.just(tid)), max_size=11),
            run_id=st.sampled_from([None, run, 2, 11, 123456]),
        )
        def check(cmd: str, params: list[Any], run_id: int | None) -> None:
            [(ok, result)] = lc.run([(cmd, run_id, params, None)])
            if not ok:
                code, message = result
                assert code == expected_code(cmd), (cmd, params, result)
                assert isinstance(message, str) and "\n" not in message

        check()


def expected_code(cmd: str) -> str:
    """The names that cannot apply answer their documented code, all others bad_request."""
    return "unsupported" if cmd in UNSUPPORTED else "bad_request"


def seed_other_tables(lc: LocalCaller) -> None:
    """A row in each table of schema version 3, so fuzzed ids can hit real rows."""
    lc.call("testmeta-add-record", "t")
    lc.call("tasks-add", "run", "bob", "u", "r", "%", "k")
    lc.call("no-sync-set", "t", "1")
    disk = lc.call("archive-register-disk", "a", "/d", 1)
    lc.call("archive-register-block-name", disk, "/d/b")


# Params that are wrong for (nearly) every command, in shape or in type.
BAD_PARAMS: list[list[Any]] = [
    [], [None], [1], [-1], [True], ["x"] * 12, [[]], [{}], [2**63], [2**64], [float("nan")],
    [float("inf")], ["%"], ["'; DROP TABLE runs; --"], [b"\xff"], ["\x00"], [1, None, None],
    ["t", "item/1", ["a"], {"b": 1}, 3.5], [1, "x" * 70000], [[["a", "b"]]], [1, [["A", "B", "3"]]],
    [1, True, "x", None], ["t", "id", "v"], [None, None, None, None, None],
]


def test_every_command_with_each_bad_params_answers_bad_request(tmp_path: Path) -> None:
    """Every command x a fixed set of bad params x each kind of run-id: ok or
    bad_request, a one-line message, never db_error (which is what an SQL error
    from unchecked input would give)."""
    with LocalCaller(tmp_path) as lc:
        run = lc.call("register-run", {"SYSTEM": "u"}, "r")
        lc.call("register-test", "t", "item/1", run_id=run)
        seed_other_tables(lc)
        for cmd in sorted(COMMANDS):
            for run_id in (None, run, 11, 123456):
                for params in BAD_PARAMS:
                    [(ok, result)] = lc.run([(cmd, run_id, params, None)])
                    if not ok:
                        code, message = result
                        assert code == expected_code(cmd), (cmd, run_id, params, result)
                        assert isinstance(message, str) and "\n" not in message
        # and the area still works
        assert lc.call("get-keys") == ["SYSTEM"]


def test_unknown_command_and_is_write() -> None:
    try:
        lookup("drop-everything")
    except CommandError as exc:
        assert exc.code == "unknown_command"
    else:
        raise AssertionError("lookup did not raise")
    assert is_write("drop-everything")  # unknown counts as a write (safe for retries)
    reads = {n for n, c in COMMANDS.items() if not c.write}
    assert reads == {
        "get-keys",
        "get-run-info",
        "get-runs-by-patt",
        "get-test-id",
        "get-test-info-by-id",
        "get-tests-for-run",
        "get-count-tests-running",
        "get-count-tests-running-for-run-id",
        "get-count-tests-running-for-testname",
        "get-prereqs-not-met",
        "read-test-data",
        "get-var",
        "get-steps-for-test",
        # issue 17, read/write section of api.scm: reads and process control
        "get-keys-write",
        "start-server",
        "kill-server",
        "sync-inmem->db",
        "get-tests-tags",
        "tasks-get-last",
        "no-sync-get/default",
        # issue 17, read-only section of api.scm
        "get-key-val-pairs",
        "get-key-vals",
        "get-target",
        "get-targets",
        "get-run-status",
        "get-run-name-from-id",
        "get-num-runs",
        "get-all-run-ids",
        "get-prev-run-ids",
        "get-runs",
        "simple-get-runs",
        "get-run-ids-matching-target",
        "get-main-run-stats",
        "get-run-stats",
        "get-run-times",
        "get-test-times",
        "get-raw-run-stats",
        "test-get-rundir-from-test-id",
        "test-get-top-process-pid",
        "get-testinfo-state-status",
        "test-toplevel-num-items",
        "test-get-logfile-info",
        "test-get-records-for-index-file",
        "get-count-tests-running-in-jobgroup",
        "get-previous-test-run-record",
        "get-matching-previous-test-run-records",
        "get-tests-for-run-mindata",
        "get-tests-for-runs-mindata",
        "test-get-paths-matching-keynames-target-new",
        "get-steps-data",
        "get-steps-info-by-id",
        "read-test-data*",
        "get-data-info-by-id",
        "login",
        "get-latest-host-load",
        "have-incompletes?",
        "get-changed-record-ids",
        "testmeta-get-record",
        "test-get-archive-block-info",
        "find-task-queue-records",
        "sdb-qry",
        "synchash-get",
    }
