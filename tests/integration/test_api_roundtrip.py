"""The database API through real servers (issue 3 acceptance, docs/api.md).

Every command goes once through ``backend call --json`` (a subprocess, params
spelled as in docs/api.md) and otherwise through the client library; each
result is checked against what a direct read-only sqlite query of the db file
shows. Expected filter/sort results are computed here, independently of
``backend/db/commands``, from the rows in the file and the rules of docs/api.md.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.client.client import Client
from backend.errors import RemoteError
from tests.faults.util import authed
from tests.helpers import backend, entries

KEYS = {"SYSTEM": "ubuntu", "RELEASE": "v1.2"}
RUNNING = ("RUNNING", "LAUNCHED", "REMOTEHOSTSTART")


# -- helpers ---------------------------------------------------------------------------


@contextlib.contextmanager
def ro(area: Path, dbfname: str = "main.db") -> Iterator[sqlite3.Connection]:
    """A read-only sqlite connection to a db file of the area, closed afterwards."""
    path = area / ".mtdb" / dbfname
    assert path.exists(), path
    conn = sqlite3.connect(
        "file:" + urllib.parse.quote(str(path)) + "?mode=ro", uri=True, isolation_level=None
    )
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def q(area: Path, dbfname: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    with ro(area, dbfname) as conn:
        return [dict(r) for r in conn.execute(sql, args)]


def q1(area: Path, dbfname: str, sql: str, *args: Any) -> Any:
    with ro(area, dbfname) as conn:
        row = conn.execute(sql, args).fetchone()
    return None if row is None else row[0]


def cli(area: Path, cmd: str, *params: str, run_id: int | None = None) -> Any:
    """``backend call --json`` in a subprocess; returns the decoded result."""
    args = ["call", "--area", str(area), "--json"]
    if run_id is not None:
        args += ["--run-id", str(run_id)]
    r = backend(*args, cmd, *params)
    assert r.returncode == 0, f"backend call {cmd} {params}: {r.stderr}"
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout)


def like(pattern: str, value: str) -> bool:
    """docs/api.md Patterns: ``%``/``*`` any run, everything else literal, case
    matters, comma-separated alternatives (written here independently)."""
    for alt in (a.strip() for a in pattern.split(",")):
        if not alt:
            continue
        rx = "".join(".*" if ch in "%*" else re.escape(ch) for ch in alt)
        if re.fullmatch(rx, value, flags=re.DOTALL):
            return True
    return False


def matches_testpatt(pattern: str, row: dict[str, Any]) -> bool:
    for alt in (a.strip() for a in pattern.split(",")):
        if not alt:
            continue
        if "/" in alt:
            # TEST/ITEM: items whose item_path matches ITEM; TEST/: the parent row only.
            test, item = alt.split("/", 1)
            is_item = row["item_path"] != ""
            if like(test, row["testname"]) and (
                (item and is_item and like(item, row["item_path"])) or (not item and not is_item)
            ):
                return True
        elif like(alt, row["testname"]):
            return True
    return False


def expected_tests(
    rows: list[dict[str, Any]], testpatt: str = "%", states: list[str] | None = None,
    statuses: list[str] | None = None, offset: int = 0, limit: int = -1, not_in: bool = False,
    sort_by: list[str] | None = None, desc: bool = False, qryvals: list[str] | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    out = [r for r in rows if matches_testpatt(testpatt, r)]
    for col, values in (("state", states), ("status", statuses)):
        if values:
            out = [r for r in out if (r[col] in values) != not_in]
    if since is not None:
        out = [r for r in out if r["last_update"] > since]
    cols = [*(sort_by or ["testname", "item_path"]), "id"]
    out.sort(key=lambda r: tuple(r[c] for c in cols), reverse=desc)
    out = out[offset:] if limit == -1 else out[offset:offset + limit]
    if qryvals:
        out = [{c: r[c] for c in qryvals} for r in out]
    return out


def register_runs(c: Client, n: int) -> list[int]:
    return [c.call("register-run", KEYS, f"run{i}") for i in range(1, n + 1)]


# -- main.db: keys and runs -----------------------------------------------------------


def test_keys_and_runs_round_trip(area: Path) -> None:
    a = str(area)
    # get-keys before the first run: [] (the CLI call also starts the server).
    assert cli(area, "get-keys") == []
    assert q(area, "main.db", 'SELECT * FROM "keys"') == []

    rid = cli(area, "register-run", '{"SYSTEM":"ubuntu","RELEASE":"v1.2"}', "nightly", "new",
              "n/a", "bob")
    row = q(area, "main.db", "SELECT * FROM runs WHERE id = ?", rid)[0]
    assert (row["runname"], row["SYSTEM"], row["RELEASE"], row["state"], row["status"],
            row["owner"], row["contour"]) == ("nightly", "ubuntu", "v1.2", "new", "n/a", "bob", "")

    with Client(a) as c:
        keys = c.call("get-keys")
        assert keys == ["SYSTEM", "RELEASE"]
        assert keys == [r["fieldname"] for r in q(area, "main.db", 'SELECT * FROM "keys" ORDER BY id')]
        # Same keys + runname (alist form, other order) -> the same id, nothing changed.
        before = q(area, "main.db", "SELECT * FROM runs")
        assert c.call("register-run", [["RELEASE", "v1.2"], ["SYSTEM", "ubuntu"]], "nightly",
                      "other", "PASS", "eve") == rid
        assert q(area, "main.db", "SELECT * FROM runs") == before
        more = [
            ({"SYSTEM": "centos", "RELEASE": "v1.2"}, "nightly"),
            ({"SYSTEM": "ubuntu", "RELEASE": "v2.0"}, "weekly"),
            ({"SYSTEM": "ubuntu", "RELEASE": "v1.3"}, "night_1"),
            ({"SYSTEM": "ubuntu", "RELEASE": "v1.3"}, "nightX1"),
            ({"SYSTEM": "ubuntu", "RELEASE": "v1.[3]"}, "Nightly"),
        ]
        ids = [c.call("register-run", kv, name, None, None, "ann", "cont") for kv, name in more]
        assert len(set(ids + [rid])) == 6
        assert q1(area, "main.db", "SELECT count(*) FROM runs") == 6
        for kv, name in more:
            got = q(area, "main.db", "SELECT * FROM runs WHERE runname = ? AND SYSTEM = ? AND "
                    "RELEASE = ?", name, kv["SYSTEM"], kv["RELEASE"])
            assert len(got) == 1 and (got[0]["owner"], got[0]["contour"], got[0]["state"]) == (
                "ann", "cont", "new")

        # get-run-info: the whole row, key columns included.
        row = q(area, "main.db", "SELECT * FROM runs WHERE id = ?", rid)[0]
        assert cli(area, "get-run-info", str(rid)) == row
        for r in q(area, "main.db", "SELECT * FROM runs"):
            assert c.call("get-run-info", r["id"]) == r

        # get-runs-by-patt against the file, newest first.
        runs = q(area, "main.db", "SELECT * FROM runs ORDER BY event_time DESC, id DESC")

        def expect(runpatt: str = "%", targ: Any = None, offset: int = 0, limit: int = -1,
                   since: float | None = None) -> list[dict[str, Any]]:
            out = [r for r in runs if like(runpatt, r["runname"])]
            if isinstance(targ, str):
                pats = dict(zip(keys, targ.split("/"), strict=False))
            else:
                pats = targ or {}
            out = [r for r in out if all(like(p, r[k]) for k, p in pats.items())]
            if since is not None:
                out = [r for r in out if r["last_update"] > since]
            return out[offset:] if limit == -1 else out[offset:offset + limit]

        got = cli(area, "get-runs-by-patt", "night%", "ubuntu/v1.%", "0", "10")
        assert got == expect("night%", "ubuntu/v1.%", 0, 10)
        assert {r["runname"] for r in got} == {"nightly", "night_1", "nightX1"}
        cases: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = [
            ((), ()), (("%",), ()), (("night%",), ("night%",)),
            (("nightly,weekly",), ("nightly,weekly",)), (("night_1",), ("night_1",)),
            (("NIGHTLY",), ("NIGHTLY",)), (("*ly",), ("*ly",)),
            (("%", "ubuntu"), ("%", "ubuntu")), (("%", "ubuntu/v1.%"), ("%", "ubuntu/v1.%")),
            (("%", "%/v1.2"), ("%", "%/v1.2")), (("%", "ubuntu/v1.[3]"), ("%", "ubuntu/v1.[3]")),
            (("%", {"RELEASE": "v2.*"}), ("%", {"RELEASE": "v2.*"})),
            (("%", {"SYSTEM": "centos", "RELEASE": "v1.2"}),
             ("%", {"SYSTEM": "centos", "RELEASE": "v1.2"})),
            (("%", None, 1, 2), ("%", None, 1, 2)), (("%", None, 4), ("%", None, 4)),
            (("%", None, 0, 0), ("%", None, 0, 0)), ((None, None, None, None), ()),
        ]
        for params, exp_args in cases:
            assert c.call("get-runs-by-patt", *params) == expect(*exp_args), params
        assert [r["runname"] for r in c.call("get-runs-by-patt", "night_1")] == ["night_1"]
        assert c.call("get-runs-by-patt", "NIGHTLY") == []

        # Incremental: only runs changed after the largest last_update seen.
        seen = max(r["last_update"] for r in c.call("get-runs-by-patt"))
        assert c.call("get-runs-by-patt", "%", None, 0, -1, seen) == []
        new = c.call("register-run", KEYS, "late")
        got = c.call("get-runs-by-patt", "%", None, 0, -1, seen)
        assert [r["id"] for r in got] == [new]
        runs = q(area, "main.db", "SELECT * FROM runs ORDER BY event_time DESC, id DESC")
        assert got == expect(since=seen)
        # last_update is strictly increasing in insertion order (docs: monotonic stamps).
        stamps = [r["last_update"] for r in q(area, "main.db", "SELECT * FROM runs ORDER BY id")]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


# -- run databases: tests ---------------------------------------------------------------


def test_tests_round_trip(area: Path) -> None:
    a = str(area)
    with Client(a) as c:
        runs = register_runs(c, 11)
        assert runs == list(range(1, 12))
        # Runs 1 and 11 share 1.db (num-run-dbs 10).
        item1 = cli(area, "register-test", "sim", "item/1", run_id=1)
        rows = q(area, "1.db", "SELECT * FROM tests WHERE run_id = 1 ORDER BY id")
        assert [(r["testname"], r["item_path"], r["state"], r["status"]) for r in rows] == [
            ("sim", "", "NOT_STARTED", "n/a"), ("sim", "item/1", "NOT_STARTED", "n/a")]
        assert rows[1]["id"] == item1
        ids = {("sim", "item/1"): item1}
        for name, item in [("sim", "item/2"), ("sim", "item/3"), ("build", ""), ("lint", None),
                           ("test_1", ""), ("testX1", ""), ("Sim", "")]:
            args = (name,) if item is None else (name, item)
            ids[(name, item or "")] = c.call("register-test", *args, run_id=1)
        ids[("sim", "")] = rows[0]["id"]
        # Same name + item -> same id, no new row.
        assert c.call("register-test", "sim", "item/2", run_id=1) == ids[("sim", "item/2")]
        other = {
            ("sim", "item/1"): c.call("register-test", "sim", "item/1", run_id=11),
            ("other", ""): c.call("register-test", "other", run_id=11),
        }
        rows = q(area, "1.db", "SELECT * FROM tests WHERE run_id = 1")
        assert {(r["testname"], r["item_path"]): r["id"] for r in rows} == ids
        assert q1(area, "1.db", "SELECT count(*) FROM tests WHERE run_id = 11") == 3
        assert other[("sim", "item/1")] not in ids.values()
        # Nothing of run 1 landed in another file.
        assert q1(area, "main.db", "SELECT count(*) FROM tests") == 0

        # get-test-id
        assert cli(area, "get-test-id", "sim", "item/1", run_id=1) == item1
        for (name, item), tid in ids.items():
            assert c.call("get-test-id", name, item, run_id=1) == tid
        assert c.call("get-test-id", "build", run_id=1) == ids[("build", "")]
        assert c.call("get-test-id", "nosuch", run_id=1) is None
        assert c.call("get-test-id", "other", run_id=1) is None  # run 11's test
        assert c.call("get-test-id", "sim", "item/1", run_id=11) == other[("sim", "item/1")]

        # get-test-info-by-id: the row as in the file.
        row = q(area, "1.db", "SELECT * FROM tests WHERE id = ?", item1)[0]
        assert cli(area, "get-test-info-by-id", str(item1), run_id=1) == row
        for r in rows:
            assert c.call("get-test-info-by-id", r["id"], run_id=1) == r

        # test-set-state-status-by-id
        build = ids[("build", "")]
        assert cli(area, "test-set-state-status-by-id", str(build), "COMPLETED", "PASS",
                   "all good", run_id=1) is True
        r = q(area, "1.db", "SELECT * FROM tests WHERE id = ?", build)[0]
        assert (r["state"], r["status"], r["comment"]) == ("COMPLETED", "PASS", "all good")
        lint = ids[("lint", "")]
        assert c.call("test-set-state-status-by-id", lint, "LAUNCHED", "n/a", run_id=1) is True
        assert c.call("test-set-state-status-by-id", lint, "RUNNING", None, run_id=1) is True
        assert c.call("test-set-state-status-by-id", lint, None, "WARN", "c1", run_id=1) is True
        r = q(area, "1.db", "SELECT * FROM tests WHERE id = ?", lint)[0]
        assert (r["state"], r["status"], r["comment"]) == ("RUNNING", "WARN", "c1")
        assert c.call("test-set-state-status-by-id", lint, "COMPLETED", "FAIL", None,
                      run_id=1) is True
        r = q(area, "1.db", "SELECT * FROM tests WHERE id = ?", lint)[0]
        assert (r["state"], r["status"], r["comment"]) == ("COMPLETED", "FAIL", "c1")
        assert r["run_duration"] >= 0
        for key, state in [(("sim", "item/1"), "RUNNING"), (("sim", "item/2"), "LAUNCHED"),
                           (("test_1", ""), "REMOTEHOSTSTART"), (("Sim", ""), "KILLED")]:
            c.call("test-set-state-status-by-id", ids[key], state, None, run_id=1)
        c.call("test-set-state-status-by-id", other[("sim", "item/1")], "RUNNING", None, run_id=11)
        c.call("test-set-state-status-by-id", other[("other", "")], "RUNNING", None, run_id=11)

        # Running counts, computed here from the whole 1.db file.
        every = q(area, "1.db", "SELECT * FROM tests")

        def is_leaf(t: dict[str, Any]) -> bool:
            return t["item_path"] != "" or not any(
                u["run_id"] == t["run_id"] and u["testname"] == t["testname"]
                and u["item_path"] != "" for u in every)

        file_wide = sum(1 for t in every if t["state"] in RUNNING and is_leaf(t))
        run1 = sum(1 for t in every if t["state"] in RUNNING and t["run_id"] == 1)
        sim_jobs = sum(1 for t in every if t["state"] in RUNNING and t["run_id"] == 1
                       and t["testname"] == "sim" and is_leaf(t))
        assert (file_wide, run1, sim_jobs) == (5, 4, 2)  # the parent sim is RUNNING by roll-up
        assert cli(area, "get-count-tests-running", run_id=1) == file_wide
        assert c.call("get-count-tests-running", run_id=11) == file_wide
        assert cli(area, "get-count-tests-running-for-run-id", run_id=1) == run1
        assert c.call("get-count-tests-running-for-run-id", run_id=11) == 3
        assert cli(area, "get-count-tests-running-for-testname", "sim", run_id=1) == sim_jobs
        assert c.call("get-count-tests-running-for-testname", "sim", run_id=11) == 1
        assert c.call("get-count-tests-running-for-testname", "build", run_id=1) == 0

        # get-prereqs-not-met (Megatest's params and rules, docs/api.md): build
        # COMPLETED/PASS, lint COMPLETED/FAIL, sim RUNNING with item/1 COMPLETED/PASS.
        c.call("test-set-state-status-by-id", item1, "COMPLETED", "PASS", run_id=1)

        def blocking(*params: Any) -> list[str]:
            """The blocking waitons' names (records by their testname), in order."""
            got = c.call("get-prereqs-not-met", *params, run_id=1)
            return list(dict.fromkeys(g if isinstance(g, str) else g["testname"] for g in got))

        got = cli(area, "get-prereqs-not-met", '["build","lint"]', "ref", run_id=1)
        lint = q(area, "1.db", "SELECT id, run_id, testname, item_path, state, status FROM tests "
                 "WHERE run_id = 1 AND testname = 'lint'")
        assert got == lint  # the blocking records, as the file has them
        assert blocking(["build", "lint", "sim", "nosuch", "lint"]) == ["lint", "sim", "nosuch"]
        assert blocking("lint") == ["lint"]
        assert blocking(["build", "lint", "sim"], "ref", "", "toplevel") == ["sim"]
        assert blocking(["sim", "build"], "ref", "item/1", "itemmatch") == []
        assert blocking(["sim"], "ref", "item/2", "itemwait") == ["sim"]
        # rule 0: with a top-level ref, an ended item of the waiton is enough.
        assert blocking(["sim", "build"], "ref", "", "itemmatch") == []
        assert blocking([]) == []

        # get-tests-for-run against the file.
        rows = q(area, "1.db", "SELECT * FROM tests WHERE run_id = 1")
        got = cli(area, "get-tests-for-run", "sim/%", '["RUNNING","LAUNCHED"]', "[]", "0", "50",
                  run_id=1)
        assert got == expected_tests(rows, "sim/%", ["RUNNING", "LAUNCHED"], [], 0, 50)
        assert [r["item_path"] for r in got] == ["item/2"]  # item/1 is COMPLETED now
        cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            ((), {}),
            (("%",), {}),
            (("sim",), {"testpatt": "sim"}),
            (("sim/",), {"testpatt": "sim/"}),
            (("sim/%",), {"testpatt": "sim/%"}),
            (("sim/item/1,build",), {"testpatt": "sim/item/1,build"}),
            (("test_1",), {"testpatt": "test_1"}),
            (("Sim",), {"testpatt": "Sim"}),
            (("*/*",), {"testpatt": "*/*"}),
            (("%", ["RUNNING", "LAUNCHED"]), {"states": ["RUNNING", "LAUNCHED"]}),
            (("%", "KILLED"), {"states": ["KILLED"]}),
            (("%", [], ["PASS", "FAIL"]), {"statuses": ["PASS", "FAIL"]}),
            (("%", ["NOT_STARTED"], [], 0, -1, True), {"states": ["NOT_STARTED"], "not_in": True}),
            (("%", [], ["n/a"], 0, -1, True), {"statuses": ["n/a"], "not_in": True}),
            (("%", None, None, 2, 3), {"offset": 2, "limit": 3}),
            (("%", None, None, 8), {"offset": 8}),
            (("%", None, None, 0, 0), {"limit": 0}),
            (("%", None, None, None, None, None, "state"), {"sort_by": ["state"]}),
            (("%", None, None, 0, -1, False, ["status", "testname"], "desc"),
             {"sort_by": ["status", "testname"], "desc": True}),
            (("%", None, None, 1, 4, False, "id", "DESC"),
             {"sort_by": ["id"], "desc": True, "offset": 1, "limit": 4}),
            (("%", None, None, 0, -1, False, None, None, ["id", "testname"]),
             {"qryvals": ["id", "testname"]}),
            (("sim", None, None, None, None, None, None, None, "state"),
             {"testpatt": "sim", "qryvals": ["state"]}),
        ]
        for params, kw in cases:
            assert c.call("get-tests-for-run", *params, run_id=1) == expected_tests(rows, **kw), params
        assert {r["testname"] for r in c.call("get-tests-for-run", "test_1", run_id=1)} == {"test_1"}
        # Run 11's rows never show up in run 1 (same file).
        assert {r["run_id"] for r in c.call("get-tests-for-run", run_id=1)} == {1}

        # Incremental reads: rows changed after the largest last_update seen.
        seen = max(r["last_update"] for r in c.call("get-tests-for-run", run_id=1))
        assert c.call("get-tests-for-run", "%", None, None, 0, None, False, None, None,
                      ["id", "state", "last_update"], seen, run_id=1) == []
        c.call("test-set-state-status-by-id", ids[("sim", "item/3")], "RUNNING", None, run_id=1)
        c.call("test-set-state-status-by-id", other[("other", "")], "COMPLETED", "PASS", run_id=11)
        got = cli(area, "get-tests-for-run", "%", "null", "null", "0", "null", "false", "null",
                  "null", '["id","state","last_update"]', repr(seen), run_id=1)
        rows = q(area, "1.db", "SELECT * FROM tests WHERE run_id = 1")
        assert got == expected_tests(rows, qryvals=["id", "state", "last_update"], since=seen)
        # The item and its rolled-up parent; nothing of run 11.
        assert {r["id"] for r in got} == {ids[("sim", "item/3")], ids[("sim", "")]}
        seen2 = max(r["last_update"] for r in got)
        assert seen2 > seen
        assert c.call("get-tests-for-run", "%", None, None, 0, -1, False, None, None, None, seen2,
                      run_id=1) == []


# -- steps, test data, vars ---------------------------------------------------------------


def test_steps_data_and_vars_round_trip(area: Path) -> None:
    a = str(area)
    with Client(a) as c:
        register_runs(c, 2)
        tid = c.call("register-test", "sim", "item/1", run_id=2)
        t2 = c.call("register-test", "build", run_id=2)

        # teststep-set-status! / get-steps-for-test
        assert c.call("teststep-set-status!", tid, "build", "start", "n/a", run_id=2) is True
        assert cli(area, "teststep-set-status!", str(tid), "build", "end", "PASS", "", "build.log",
                   run_id=2) is True
        assert c.call("teststep-set-status!", tid, "sim", "start", "n/a", "first", None,
                      run_id=2) is True
        # The same (step, state) again updates that row in place.
        assert c.call("teststep-set-status!", tid, "sim", "start", "RUNNING", "again", "sim.log",
                      run_id=2) is True
        assert c.call("teststep-set-status!", t2, "compile", "start", "n/a", run_id=2) is True
        steps = q(area, "2.db", "SELECT * FROM test_steps WHERE test_id = ? ORDER BY id", tid)
        assert [(s["stepname"], s["state"], s["status"], s["comment"], s["logfile"])
                for s in steps] == [
            ("build", "start", "n/a", "", ""), ("build", "end", "PASS", "", "build.log"),
            ("sim", "start", "RUNNING", "again", "sim.log")]
        assert cli(area, "get-steps-for-test", str(tid), run_id=2) == steps
        assert c.call("get-steps-for-test", tid, run_id=2) == steps
        assert c.call("get-steps-for-test", t2, run_id=2) == q(
            area, "2.db", "SELECT * FROM test_steps WHERE test_id = ? ORDER BY id", t2)

        # csv->test-data / read-test-data
        assert cli(area, "csv->test-data", str(tid),
                   "perf,runtime,10.5,10,1,s\nperf,mem,600,512,<=,MB", run_id=2) == 2
        csv = "\n".join([
            "exact, eq, 5, 5",                       # tol empty: value == expected
            "exact, ne, 5, 6",
            "cmp,gt,7,5,>",
            "cmp,lt,7,5,<",
            "bad,tol,1,1,~",                        # Megatest's error text
            "txt,name,abc,abc,,,a comment,,string",  # not numbers: status as given (empty)
            "given,st,1,99,0,,,skip",               # an explicit status is kept
            "",
            '"q,uoted",var,"1,5",2',                 # CSV quoting
        ])
        assert c.call("csv->test-data", tid, csv, run_id=2) == 8
        data = {(d["category"], d["variable"]): d for d in q(
            area, "2.db", "SELECT * FROM test_data WHERE test_id = ?", tid)}
        assert {k: (d["value"], d["expected"], d["tol"], d["units"], d["status"])
                for k, d in data.items()} == {
            ("perf", "runtime"): (10.5, 10, 1, "s", "pass"),
            ("perf", "mem"): (600, 512, "<=", "MB", "fail"),
            ("exact", "eq"): (5, 5, None, "", "pass"),
            ("exact", "ne"): (5, 6, None, "", "fail"),
            ("cmp", "gt"): (7, 5, ">", "", "pass"),
            ("cmp", "lt"): (7, 5, "<", "", "fail"),
            ("bad", "tol"): (1, 1, "~", "", "ERROR: bad tol comparator ~"),
            ("txt", "name"): ("abc", "abc", None, "", ""),
            ("given", "st"): (1, 99, 0, "", "skip"),
            ("q,uoted", "var"): ("1,5", 2, None, "", ""),
        }
        assert (data[("txt", "name")]["comment"], data[("txt", "name")]["type"]) == (
            "a comment", "string")
        # A row replaces the row with the same (test, category, variable).
        assert c.call("csv->test-data", tid, "perf,runtime,12,10,1,s", run_id=2) == 1
        assert q1(area, "2.db", "SELECT count(*) FROM test_data WHERE test_id = ?", tid) == 10
        assert q1(area, "2.db", "SELECT status FROM test_data WHERE variable = 'runtime'") == "fail"

        all_rows = q(area, "2.db",
                     "SELECT * FROM test_data WHERE test_id = ? ORDER BY category, variable", tid)
        assert cli(area, "read-test-data", str(tid), "perf", run_id=2) == [
            d for d in all_rows if d["category"] == "perf"]
        assert c.call("read-test-data", tid, run_id=2) == all_rows
        assert c.call("read-test-data", tid, "%", run_id=2) == all_rows
        assert c.call("read-test-data", tid, "c%,exact", run_id=2) == [
            d for d in all_rows if like("c%,exact", d["category"])]
        assert c.call("read-test-data", tid, "PERF", run_id=2) == []
        assert c.call("read-test-data", t2, run_id=2) == []
        # Test status is not changed by the data.
        assert q1(area, "2.db", "SELECT status FROM tests WHERE id = ?", tid) == "n/a"

        # get-var / set-var / del-var, per database.
        assert cli(area, "set-var", "color", "blue") is True
        assert q1(area, "main.db", "SELECT val FROM metadat WHERE var = 'color'") == "blue"
        assert cli(area, "get-var", "color") == "blue"
        r = backend("call", "--area", a, "get-var", "color")  # without --json: the bare string
        assert (r.returncode, r.stdout) == (0, "blue\n"), r.stderr
        assert c.call("get-var", "color") == "blue"
        assert c.call("set-var", "n", 3) is True and c.call("set-var", "f", 2.5) is True
        assert c.call("set-var", "none", None) is True
        stored = {r["var"]: r["val"] for r in q(area, "main.db", "SELECT * FROM metadat")}
        assert stored.items() >= {"color": "blue", "n": "3", "f": "2.5", "none": None}.items()
        assert (c.call("get-var", "n"), c.call("get-var", "none"), c.call("get-var", "x")) == (
            "3", None, None)
        assert c.call("set-var", "color", "red", run_id=2) is True
        assert q1(area, "2.db", "SELECT val FROM metadat WHERE var = 'color'") == "red"
        assert c.call("get-var", "color", run_id=2) == "red"
        assert c.call("get-var", "color") == "blue"
        assert c.call("get-var", "SCHEMA_VERSION") == q1(
            area, "main.db", "SELECT val FROM metadat WHERE var = 'SCHEMA_VERSION'")
        assert cli(area, "del-var", "color") is True
        assert q1(area, "main.db", "SELECT count(*) FROM metadat WHERE var = 'color'") == 0
        assert c.call("del-var", "color") is False
        assert c.call("get-var", "color") is None
        assert c.call("get-var", "color", run_id=2) == "red"
        assert c.call("del-var", "color", run_id=2) is True
        assert q1(area, "2.db", "SELECT count(*) FROM metadat WHERE var = 'color'") == 0


# -- item roll-up ---------------------------------------------------------------------------

STD_STATES = ["ARCHIVED", "STUCK", "KILLREQ", "KILLED", "NOT_STARTED", "COMPLETED", "LAUNCHED",
              "REMOTEHOSTSTART", "RUNNING"]
STD_STATUSES = ["", "n/a", "PASS", "SKIP", "WARN", "WAIVED", "CHECK", "STUCK/DEAD", "DEAD", "FAIL",
                "PREQ_FAIL", "PREQ_DISCARDED", "ABORT"]
NO_SAY = ("DELETED", "REMOVING", "CLEANING", "ARCHIVE_REMOVING")


def rollup_reference(items: list[tuple[str, str]]) -> tuple[str, str, int, int]:
    """docs/api.md "Item roll-up" (Megatest's set-state-status-and-roll-up-items with the
    reference's B29 fixes), written out independently of backend/db/commands/rollup.py, in
    Megatest's own terms: groups of (state, status), ranked lists, special sort."""
    counted = [(st, ss) for st, ss in items if st not in NO_SAY]
    passes = sum(1 for _, ss in counted if ss in ("PASS", "WARN", "WAIVED"))
    fails = sum(1 for _, ss in counted if ss in ("FAIL", "CHECK", "ABORT"))
    groups = sorted(set(counted or items))
    if groups == [("NOT_STARTED", "n/a")]:
        return "NOT_STARTED", "n/a", passes, fails

    def special_sort(values: set[str], ranked: list[str]) -> list[str]:
        return sorted(sorted(values), key=lambda v: ranked.index(v) if v in ranked else 0,
                      reverse=True)

    states = special_sort({g[0] for g in groups}, STD_STATES)
    statuses = special_sort({g[1] for g in groups}, STD_STATUSES)
    running = len([g for g in groups if g[0] in ("RUNNING", "REMOTEHOSTSTART", "LAUNCHED", "STARTED")])
    ok_not_started = ("n/a", "na", "PASS", "FAIL", "WARN", "CHECK", "WAIVED", "DEAD", "SKIP")
    bad_not_started = len([g for g in groups if g[0] == "NOT_STARTED" and g[1] not in ok_not_started])
    non_completes = [s for s in states if s not in ("COMPLETED", *NO_SAY)]
    preq_fail = "PREQ_FAIL" in statuses
    if running > 0:
        state = "RUNNING"
    elif preq_fail:
        state = "NOT_STARTED"
    elif bad_not_started > 0:
        state = "COMPLETED"
    else:
        state = (non_completes or states)[0]
    if preq_fail:
        status = "PREQ_FAIL"
    elif bad_not_started > 0 or (state == "NOT_STARTED" and non_completes):
        status = "STARTED"
    else:
        status = statuses[0]
    return state, status, passes, fails


def test_item_roll_up_updates_the_parent(area: Path) -> None:
    a = str(area)
    with Client(a) as c:
        [run] = register_runs(c, 1)
        items = {f"i{n}": c.call("register-test", "sim", f"i{n}", run_id=run) for n in range(4)}
        parent = c.call("get-test-id", "sim", run_id=run)
        db = f"{run}.db"

        def parent_row() -> tuple[str, str, int, int]:
            r = q(area, db, "SELECT * FROM tests WHERE id = ?", parent)[0]
            info = c.call("get-test-info-by-id", parent, run_id=run)
            assert info == r
            return r["state"], r["status"], r["pass_count"], r["fail_count"]

        def items_now() -> list[tuple[str, str]]:
            return [(r["state"], r["status"]) for r in q(
                area, db, "SELECT * FROM tests WHERE run_id = ? AND testname = 'sim' "
                "AND item_path != ''", run)]

        def setitem(name: str, state: str | None, status: str | None) -> None:
            assert c.call("test-set-state-status-by-id", items[name], state, status,
                          run_id=run) is True

        assert parent_row() == ("NOT_STARTED", "n/a", 0, 0)
        steps: list[tuple[str, str | None, str | None, tuple[str, str, int, int]]] = [
            ("i0", "LAUNCHED", None, ("RUNNING", "n/a", 0, 0)),
            ("i0", "COMPLETED", "PASS", ("NOT_STARTED", "STARTED", 1, 0)),   # others not started
            ("i1", "COMPLETED", "FAIL", ("NOT_STARTED", "STARTED", 1, 1)),
            ("i2", "COMPLETED", "WARN", ("NOT_STARTED", "STARTED", 2, 1)),
            ("i3", "COMPLETED", "SKIP", ("COMPLETED", "FAIL", 2, 1)),
            ("i1", "DELETED", None, ("COMPLETED", "WARN", 2, 0)),     # DELETED has no say
            ("i2", "COMPLETED", "CHECK", ("COMPLETED", "CHECK", 1, 1)),
            ("i2", "COMPLETED", "MYSTERY", ("COMPLETED", "SKIP", 1, 0)),  # unranked: lowest
            ("i3", "KILLED", "ABORT", ("KILLED", "ABORT", 1, 1)),
            ("i2", "INCOMPLETE", None, ("KILLED", "ABORT", 1, 1)),      # KILLED ranks higher
            ("i0", "RUNNING", "n/a", ("RUNNING", "ABORT", 0, 1)),
            ("i3", "COMPLETED", "n/a", ("RUNNING", "n/a", 0, 0)),
            ("i2", "COMPLETED", "WAIVED", ("RUNNING", "WAIVED", 1, 0)),
            ("i0", "COMPLETED", "PASS", ("COMPLETED", "WAIVED", 2, 0)),
            ("i2", "NOT_STARTED", "PREQ_FAIL", ("NOT_STARTED", "PREQ_FAIL", 1, 0)),
            ("i2", "NOT_STARTED", "PREQ_DISCARDED", ("COMPLETED", "STARTED", 1, 0)),
            ("i2", "COMPLETED", "WAIVED", ("COMPLETED", "WAIVED", 2, 0)),
        ]
        for name, state, status, want in steps:
            setitem(name, state, status)
            assert parent_row() == want, (name, state, status)
            assert rollup_reference(items_now()) == want

        # Setting the parent directly is applied as given; the next item change recomputes it.
        assert c.call("test-set-state-status-by-id", parent, "KILLED", "FAIL", run_id=run) is True
        assert parent_row()[:2] == ("KILLED", "FAIL")
        setitem("i1", "NOT_STARTED", "n/a")  # back from DELETED
        assert parent_row() == rollup_reference(items_now()) == ("NOT_STARTED", "STARTED", 2, 0)

        # Registering a new item rolls up too.
        items["i4"] = c.call("register-test", "sim", "i4", run_id=run)
        assert parent_row() == rollup_reference(items_now())

        # A random walk against the reference rule.
        rng = random.Random(3)
        states = ["NOT_STARTED", "LAUNCHED", "REMOTEHOSTSTART", "RUNNING", "COMPLETED",
                  "INCOMPLETE", "KILLED", "DELETED", "STARTED", "ARCHIVED", "CLEANING"]
        statuses = ["PASS", "FAIL", "WARN", "CHECK", "WAIVED", "SKIP", "ABORT", "n/a", "",
                    "OTHER", "PREQ_FAIL", "PREQ_DISCARDED", "DEAD"]
        for _ in range(60):
            setitem(rng.choice(sorted(items)), rng.choice(states), rng.choice(statuses))
            assert parent_row() == rollup_reference(items_now())


# -- bad input ------------------------------------------------------------------------------


def test_bad_input_gets_bad_request_never_a_traceback(area: Path) -> None:
    a = str(area)
    with Client(a) as c:
        register_runs(c, 2)
        tid = c.call("register-test", "sim", "i1", run_id=1)
        # A test of run 2 lives in 2.db; 12 shares it but is unknown.
        t2 = c.call("register-test", "sim", run_id=2)
        cases: list[tuple[str, int | None, list[Any], str]] = [
            ("get-keys", None, [1], "expected 0 params"),
            ("get-keys", 1, [], "main.db command"),
            ("register-run", None, ["x", "r"], "keyvals"),
            ("register-run", None, [KEYS], "expected 2..6 params"),
            ("register-run", None, [KEYS, ""], "runname"),
            ("register-run", None, [KEYS, 5], "runname must be a string"),
            ("register-run", None, [{"SYSTEM": "u"}, "r"], "missing: RELEASE"),
            ("register-run", None, [KEYS | {"OS": "x"}, "r"], "unknown: OS"),
            ("register-run", None, [{"bad name": "x"}, "r"], "bad key name"),
            ("register-run", None, [KEYS, "r", 1], "state must be a string"),
            ("get-run-info", None, ["1"], "run-id must be an integer"),
            ("get-run-info", None, [], "expected 1 params"),
            ("get-runs-by-patt", None, [5], "pattern must be a string"),
            ("get-runs-by-patt", None, [["%"]], "pattern must be a string"),
            ("get-runs-by-patt", None, ["%", "a/b/c"], "3 parts"),
            ("get-runs-by-patt", None, ["%", {"NOPE": "x"}], "unknown key"),
            ("get-runs-by-patt", None, ["%", 7], "target pattern"),
            ("get-runs-by-patt", None, ["%", None, -1], "offset"),
            ("get-runs-by-patt", None, ["%", None, 0, "10"], "limit"),
            ("get-runs-by-patt", None, ["%", None, 0, -1, "yesterday"], "last_update"),
            ("register-test", 21, ["sim"], "unknown run-id 21"),
            ("register-test", None, ["sim"], "needs a run-id"),
            ("register-test", 1, [""], "testname"),
            ("register-test", 1, ["a/b"], "testname"),
            ("register-test", 1, [5], "testname must be a string"),
            ("register-test", 1, ["x" * 1025], "testname"),
            ("register-test", 1, ["sim", 3], "item_path must be a string"),
            ("register-test", 1, [], "expected 1..2 params"),
            ("get-test-id", 1, [None], "testname must be a string"),
            ("get-test-id", 11, ["sim"], "unknown run-id 11"),
            ("get-test-info-by-id", 1, [99999], "unknown test-id 99999 in run 1"),
            ("get-test-info-by-id", 2, [tid], f"unknown test-id {tid} in run 2"),
            ("get-test-info-by-id", 12, [t2], "unknown run-id 12"),
            ("get-test-info-by-id", 1, [True], "test-id must be an integer"),
            ("get-test-info-by-id", 1, ["1"], "test-id must be an integer"),
            ("get-test-info-by-id", 1, [tid, tid], "expected 1 params"),
            ("get-tests-for-run", 1, [5], "test pattern must be a string"),
            ("get-tests-for-run", 1, [{"a": 1}], "test pattern must be a string"),
            ("get-tests-for-run", 1, ["%", [1]], "states must be a list of strings"),
            ("get-tests-for-run", 1, ["%", [], 7], "statuses"),
            ("get-tests-for-run", 1, ["%", [], [], -1], "offset"),
            ("get-tests-for-run", 1, ["%", [], [], 0, -2], "limit"),
            ("get-tests-for-run", 1, ["%", [], [], 0, -1, "yes"], "not_in"),
            ("get-tests-for-run", 1, ["%", [], [], 0, -1, False, "nope"], "unknown tests column"),
            ("get-tests-for-run", 1, ["%", [], [], 0, -1, False, "id", "sideways"], "sort_order"),
            ("get-tests-for-run", 1, ["%", [], [], 0, -1, False, "id", "asc", ["id;drop"]],
             "unknown tests column"),
            ("get-tests-for-run", 1, ["%", [], [], 0, -1, False, "id", "asc", [], None],
             "qryvals"),
            ("get-tests-for-run", 1, ["%", [], [], 0, -1, False, None, None, None, "x"],
             "last_update"),
            ("get-tests-for-run", 1, ["%"] * 12, "expected 0..11 params"),
            ("test-set-state-status-by-id", 1, [tid, 5, "PASS"], "state must be a string"),
            ("test-set-state-status-by-id", 1, [tid, "RUNNING", ["PASS"]], "status"),
            ("test-set-state-status-by-id", 1, [tid, "RUNNING", "PASS", 3], "comment"),
            ("test-set-state-status-by-id", 1, [99999, "RUNNING", "PASS"], "unknown test-id"),
            ("test-set-state-status-by-id", 1, [tid, "RUNNING"], "expected 3..4 params"),
            ("get-count-tests-running", 1, ["x"], "expected 0 params"),
            ("get-count-tests-running", None, [], "needs a run-id"),
            ("get-count-tests-running-for-run-id", 21, [], "unknown run-id 21"),
            ("get-count-tests-running-for-testname", 1, [5], "testname must be a string"),
            ("get-count-tests-running-for-testname", 1, [], "expected 1 params"),
            ("get-prereqs-not-met", 1, [5], "waitons must be a list of strings"),
            ("get-prereqs-not-met", 1, [["a", 1]], "waitons"),
            ("get-prereqs-not-met", 1, [["a"], "r", "", "bogus"], "mode"),
            ("get-prereqs-not-met", 1, [["a"], "r", 7], "item_path"),
            ("get-prereqs-not-met", 1, [["a"], 7], "ref_test_name"),
            ("teststep-set-status!", 1, [tid, "", "start", "n/a"], "stepname"),
            ("teststep-set-status!", 1, [tid, "s", 1, "n/a"], "state must be a string"),
            ("teststep-set-status!", 1, [tid, "s", "start"], "expected 4..6 params"),
            ("teststep-set-status!", 1, [99999, "s", "start", "n/a"], "unknown test-id"),
            ("get-steps-for-test", 1, ["x"], "test-id must be an integer"),
            ("get-steps-for-test", 1, [99999], "unknown test-id"),
            ("csv->test-data", 1, [tid, 5], "csvdata must be a string"),
            ("csv->test-data", 1, [tid, "a,b,c,d,e,f,g,h,i,j"], "more than 9 fields"),
            ("csv->test-data", 1, [tid, ",v,1"], "category and variable are required"),
            ("csv->test-data", 1, [tid, "x" * (512 * 1024 + 1)], "512 KiB"),
            ("csv->test-data", 1, [99999, "a,b"], "unknown test-id"),
            ("read-test-data", 1, [tid, 5], "category pattern must be a string"),
            ("read-test-data", 1, [99999], "unknown test-id"),
            ("get-var", None, [1], "var must be a string"),
            ("get-var", None, [], "expected 1 params"),
            ("set-var", None, ["SCHEMA_VERSION", "9"], "reserved"),
            ("set-var", None, ["x", {"a": 1}], "val must be a string or a number"),
            ("set-var", None, ["x"], "expected 2 params"),
            ("del-var", None, ["SCHEMA_VERSION"], "reserved"),
            ("del-var", None, [None], "var must be a string"),
        ]
        for cmd, run_id, params, fragment in cases:
            with pytest.raises(RemoteError) as ei:
                c.call(cmd, *params, run_id=run_id)
            err = ei.value
            assert err.code == "bad_request", (cmd, params, str(err))
            assert fragment in err.message, (cmd, params, str(err))
            assert "\n" not in str(err) and "Traceback" not in str(err)
        with pytest.raises(RemoteError) as ei:
            c.call("no-such-command")
        assert ei.value.code == "unknown_command"
        # Nothing was written by the refused writes.
        assert q1(area, "main.db", "SELECT count(*) FROM runs") == 2
        assert q1(area, "main.db", "SELECT val FROM metadat WHERE var = 'SCHEMA_VERSION'") != "9"
        assert q1(area, "1.db", "SELECT count(*) FROM test_data") == 0
        assert q1(area, "1.db", "SELECT count(*) FROM test_steps") == 0
        # The servers are still serving.
        assert c.call("get-test-id", "sim", "i1", run_id=1) == tid

    # Wire-level shapes the library cannot send: a non-integer run-id, params not a list.
    entry = entries(area, "main.db")[0]
    conn, auth = authed(area, entry)
    try:
        assert conn.request(["get-var", None, ["x"], auth], 5).status == "ok"
        for req in (["get-var", "1", ["x"], None], ["get-var", True, ["x"], None],
                    ["get-var", -1, ["x"], None], ["get-var", None, "x", None],
                    ["get-var", None, ["x"], "meta"]):
            resp = conn.request(req, 5)
            assert resp.status == "error" and resp.error_code == "bad_request", (req, resp)
        assert conn.request(["get-var", None, ["x"], None], 5).status == "ok"
    finally:
        conn.close()

    # The CLI: exit 1 and one line on stderr, never a traceback.
    for args in (
        ["--run-id", "1", "get-test-info-by-id", "99999"],
        ["get-runs-by-patt", "5"],
        ["--run-id", "1", "register-test", "a/b"],
    ):
        r = backend("call", "--area", a, "--json", *args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stdout == ""
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("backend: error: bad_request: "), r.stderr

    # Server logs carry no traceback for any of this.
    logs = "".join(p.read_text(errors="replace") for p in (area / "logs").glob("*.log"))
    assert "Traceback" not in logs


def test_a_large_first_request_on_a_fresh_connection(area: Path) -> None:
    with Client(str(area)) as c:
        register_runs(c, 1)
    csv = "\n".join(f"perf,v{i},{i},{i}" for i in range(400))  # ~7 kB, well under 512 KiB
    with Client(str(area)) as c:
        tid = c.call("register-test", "sim", run_id=1)
    with Client(str(area)) as c:  # a new connection whose first request is > 4 KiB
        assert c.call("csv->test-data", tid, csv, run_id=1, deadline=3) == 400
