"""get-keys, register-run, get-run-info, get-runs-by-patt (main.db)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backend.errors import RemoteError
from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q

KEYS = {"SYSTEM": "ubuntu", "RELEASE": "v1.2"}


def bad_request(lc: LocalCaller, cmd: str, *params: Any, run_id: int | None = None) -> str:
    with pytest.raises(RemoteError) as info:
        lc.call(cmd, *params, run_id=run_id)
    assert info.value.code == "bad_request", info.value
    return info.value.message


def test_first_register_run_defines_keys(lc: LocalCaller, tmp_path: Path) -> None:
    assert lc.call("get-keys") == []
    run_id = lc.call("register-run", KEYS, "run1", "new", "n/a", "bob", "quick")
    assert run_id == 1
    assert lc.call("get-keys") == ["SYSTEM", "RELEASE"]
    assert q(tmp_path / "main.db", 'SELECT fieldname FROM "keys" ORDER BY id') == [
        ("SYSTEM",),
        ("RELEASE",),
    ]
    cols = [r[1] for r in q(tmp_path / "main.db", "PRAGMA table_info(runs)")]
    assert cols[-2:] == ["SYSTEM", "RELEASE"]
    assert q(tmp_path / "main.db", "SELECT SYSTEM, RELEASE, runname, owner, contour FROM runs") == [
        ("ubuntu", "v1.2", "run1", "bob", "quick")
    ]


def test_register_run_is_idempotent(lc: LocalCaller, tmp_path: Path) -> None:
    a = lc.call("register-run", KEYS, "run1")
    b = lc.call("register-run", {"RELEASE": "v1.2", "SYSTEM": "ubuntu"}, "run1", "other", "x")
    c = lc.call("register-run", [["SYSTEM", "ubuntu"], ["RELEASE", "v1.2"]], "run1")
    assert a == b == c
    assert lc.call("get-run-info", a)["state"] == "new"  # a re-register changes nothing
    assert lc.call("register-run", KEYS, "run2") != a
    assert lc.call("register-run", {"SYSTEM": "sles", "RELEASE": "v1.2"}, "run1") != a
    assert q(tmp_path / "main.db", "SELECT count(*) FROM runs") == [(3,)]


@pytest.mark.parametrize(
    "keyvals, match",
    [
        ({"SYSTEM": "u"}, "missing: RELEASE"),
        ({"SYSTEM": "u", "RELEASE": "1", "ARCH": "x"}, "unknown: ARCH"),
        ({"system": "u", "RELEASE": "1"}, "exactly"),
    ],
)
def test_later_register_run_must_name_the_same_keys(
    lc: LocalCaller, keyvals: dict[str, str], match: str
) -> None:
    lc.call("register-run", KEYS, "run1")
    assert match in bad_request(lc, "register-run", keyvals, "run2")


@pytest.mark.parametrize(
    "params",
    [
        [],
        [KEYS],
        ["SYSTEM=u", "r"],
        [{}, "r"],
        [{"bad name": "x"}, "r"],
        [{"runname": "x"}, "r"],
        [{"SYSTEM": 1}, "r"],
        [KEYS, ""],
        [KEYS, 7],
        [KEYS, "r", 1],
        [KEYS, "r", "s", "t", "u", "c", "extra"],
        [[["A", "1"], ["A", "2"]], "r"],
    ],
)
def test_register_run_bad_input(lc: LocalCaller, params: list[Any]) -> None:
    bad_request(lc, "register-run", *params)


def test_get_run_info_matches_the_file(lc: LocalCaller, tmp_path: Path) -> None:
    run_id = lc.call("register-run", KEYS, "run1", "new", "n/a", "bob")
    info = lc.call("get-run-info", run_id)
    conn = sqlite3.connect(tmp_path / "main.db")
    try:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone())
    finally:
        conn.close()
    assert info == row
    assert info["SYSTEM"] == "ubuntu" and info["owner"] == "bob"
    # Megatest answers an empty record for an unknown run, not an error (issue 17).
    assert lc.call("get-run-info", 42) == {}
    bad_request(lc, "get-run-info", "1")
    bad_request(lc, "get-run-info", True)
    bad_request(lc, "get-run-info")


def test_main_commands_refuse_a_run_id(lc: LocalCaller) -> None:
    run_id = lc.call("register-run", KEYS, "run1")
    assert "main.db command" in bad_request(lc, "get-run-info", run_id, run_id=run_id)
    bad_request(lc, "get-keys", run_id=3)
    bad_request(lc, "register-run", KEYS, "r", run_id=1)


def test_get_runs_by_patt(lc: LocalCaller) -> None:
    for sys_, rel, name in [
        ("ubuntu", "v1.2", "nightly_1"),
        ("ubuntu", "v1.3", "nightly_2"),
        ("sles", "v1.2", "weekly"),
        ("ubuntu", "v2.0", "nightlyX1"),
    ]:
        lc.call("register-run", {"SYSTEM": sys_, "RELEASE": rel}, name)

    def names(*params: Any) -> list[str]:
        return sorted(r["runname"] for r in lc.call("get-runs-by-patt", *params))

    assert len(names()) == 4
    assert names("nightly%") == ["nightlyX1", "nightly_1", "nightly_2"]
    # '_' is literal (Megatest's LIKE would match nightlyX1 too)
    assert names("nightly_*") == ["nightly_1", "nightly_2"]
    assert names("weekly,nightly_1") == ["nightly_1", "weekly"]
    assert names("%", "ubuntu/v1.%") == ["nightly_1", "nightly_2"]
    assert names("%", "sles") == ["weekly"]
    assert names("%", {"RELEASE": "v1.2"}) == ["nightly_1", "weekly"]
    assert names("NIGHTLY%") == []  # case matters
    runs = lc.call("get-runs-by-patt", "%", None, 1, 2)
    assert [r["id"] for r in runs] == [3, 2]  # newest first, offset 1, limit 2
    assert runs[0]["SYSTEM"] == "sles"


def test_get_runs_by_patt_incremental(lc: LocalCaller) -> None:
    lc.call("register-run", KEYS, "a")
    seen = max(r["last_update"] for r in lc.call("get-runs-by-patt"))
    assert lc.call("get-runs-by-patt", "%", None, 0, None, seen) == []
    lc.call("register-run", KEYS, "b")
    assert [r["runname"] for r in lc.call("get-runs-by-patt", "%", None, 0, None, seen)] == ["b"]


@pytest.mark.parametrize(
    "params",
    [
        [1],
        ["%", 5],
        ["%", "a/b/c"],
        ["%", {"NOPE": "x"}],
        ["%", None, -1],
        ["%", None, 0, "x"],
        ["%", None, 0, None, "yesterday"],
        ["%", None, 0, None, 0, 1],
    ],
)
def test_get_runs_by_patt_bad_input(lc: LocalCaller, params: list[Any]) -> None:
    lc.call("register-run", KEYS, "a")
    bad_request(lc, "get-runs-by-patt", *params)


def test_two_servers_of_main_db_agree_on_keys(tmp_path: Path) -> None:
    # Two connections to one file stand in for two server processes of main.db.
    with LocalCaller(tmp_path) as a, LocalCaller(tmp_path) as b:
        assert a.call("get-keys") == b.call("get-keys") == []
        run = a.call("register-run", KEYS, "run1")
        assert b.call("get-keys") == ["SYSTEM", "RELEASE"]
        assert b.call("register-run", KEYS, "run1") == run
        assert b.call("get-run-info", run)["RELEASE"] == "v1.2"
        with pytest.raises(RemoteError, match="exactly"):
            b.call("register-run", {"OTHER": "x"}, "run2")


def test_importing_any_command_module_first_has_no_cycle() -> None:
    import subprocess
    import sys

    code = (
        "import backend.db.commands.tests, backend.db.api as api, backend.db.store; print(len(api.COMMANDS))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    from backend.db.api import COMMANDS

    assert int(out.stdout) == len(COMMANDS)  # every module registered, whatever came first
