"""Sync settings and value cleaning: no PostgreSQL needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.central import clean
from backend.central.loop import SyncLoop, backoff
from backend.central.settings import SyncSettings, load_sync_settings, redact, spec_to_dsn
from backend.errors import ConfigError


def _cfg(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "megatest.config").write_text(text)
    return root


def test_precedence_flag_over_env_over_config(tmp_path: Path) -> None:
    root = _cfg(tmp_path / "a", "[sync]\nto postgresql://cfg/db\nevery 30\narea-tag nightly\n")
    assert load_sync_settings(root, environ={}) == SyncSettings("postgresql://cfg/db", 30.0, "nightly")
    env = {"MTSERVE_SYNC_TO": "postgresql://env/db", "MTSERVE_SYNC_EVERY": "20"}
    assert load_sync_settings(root, environ=env) == SyncSettings("postgresql://env/db", 20.0, "nightly")
    got = load_sync_settings(root, to="postgresql://flag/db", every="5", environ=env)
    assert (got.to, got.every) == ("postgresql://flag/db", 5.0)
    assert load_sync_settings(None, environ={}) == SyncSettings("", 60.0, "")


def test_ext_sync_name_reads_megatests_spec(tmp_path: Path) -> None:
    root = _cfg(tmp_path / "a", "[sync]\nto pgdb\n[ext-sync]\n"
                "pgdb  dbtype:pg dbname:megatest_db host:dbhost user:mtuser password:a:b'c\n")
    got = load_sync_settings(root, environ={})
    # Split at the FIRST colon: Megatest cut "a:b" to "a" (P13).
    assert got.to == "dbname='megatest_db' host='dbhost' user='mtuser' password='a:b\\'c'"
    assert "a:b" not in repr(got) and "password=***" in repr(got)


@pytest.mark.parametrize("spec, needle", [
    ("dbtype:sqlite3 dbname:x", "only pg"),
    ("dbname:x junk", "expected key:value"),
    ("dbname:x colour:red", "unknown key"),
])
def test_bad_ext_sync_specs(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        spec_to_dsn(spec, "[ext-sync] pgdb")


def test_dbtype_is_optional() -> None:
    assert spec_to_dsn("dbname:x host:h", "w") == "dbname='x' host='h'"


@pytest.mark.parametrize("dest, shown", [
    ("postgresql://mt:hunter2@db:5432/central", "postgresql://mt:***@db:5432/central"),
    ("postgresql://db/central?password=hunter2&sslmode=require",
     "postgresql://db/central?password=***&sslmode=require"),
    ("host=db password='hun ter2' user=mt", "host=db password=*** user=mt"),
    ("postgresql://db/central", "postgresql://db/central"),
])
def test_redact_hides_passwords(dest: str, shown: str) -> None:
    assert redact(dest) == shown


@pytest.mark.parametrize("value, want", [
    (None, None), (3, 3.0), ("2.5", 2.5), (" 7 ", 7.0), (">=", None), ("n/a", None), (True, None),
])
def test_real(value: object, want: float | None) -> None:
    assert clean.real(value) == want


def test_text_and_integer_rules() -> None:
    assert clean.text(None) == "" and clean.text("a\x00b") == "ab" and clean.text(5) == "5"
    assert clean.integer("12.7", -1) == 12 and clean.integer("x", -1) == -1
    assert clean.integer(float("inf"), 0) == 0 and clean.int32(2**40, 0) == 2**31 - 1
    assert clean.tol(">=") == (None, ">=") and clean.tol("0.5") == (0.5, None) and clean.tol("") == (None, None)
    assert clean.target(["linux", None, 3]) == "linux//3"


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff(n, 60) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30, 60) == 300 and backoff(30, 900) == 900


def test_loop_state_after_failures(tmp_path: Path) -> None:
    from backend.area import Area

    root = _cfg(tmp_path / "a", "")
    events: list[dict[str, object]] = []
    loop = SyncLoop(Area.open(root), SyncSettings("postgresql://u:pw@127.0.0.1:1/x", 10.0), on_event=events.append)
    assert loop.pass_once() == 1.0 and loop.pass_once() == 2.0
    state = loop.state()
    assert state["state"] == "backoff" and state["errors"] == 2 and state["passes"] == 0
    assert state["dest"] == "postgresql://u:***@127.0.0.1:1/x"
    assert "pw@" not in str(state) and "cannot connect" in str(state["last_error"])
    assert [e["retry_in"] for e in events] == [1.0, 2.0]


def test_sync_metric_families() -> None:
    from backend.central.loop import SyncState
    from backend.ops.metrics import sync_families

    assert sync_families("/a", None) == []

    state = dict(SyncState("postgresql://x/y", 60.0).__dict__, errors=2, consecutive_errors=2)
    got = {m.name: m.samples[0].value for m in sync_families("/a", state)}
    assert got == {"mtserve_sync_up": 0.0, "mtserve_sync_passes": 0.0, "mtserve_sync_errors": 2.0,
                   "mtserve_sync_rows": 0.0}  # no success yet: no last-success gauges
