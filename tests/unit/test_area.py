"""The area (SPEC §1): dbfname rules, paths, and the area key."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.area import Area, dbfname_for_run_id, validate_dbfname
from backend.errors import ConfigError

# -- dbfname --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["main.db", "0.db", "3.db", "123456.db", "000.db"])
def test_validate_dbfname_accepts(name: str) -> None:
    assert validate_dbfname(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "", "main", "db", ".db", "Main.db", "main.DB", "main.db ", " main.db", "main.db\n",
        "1234567.db", "-1.db", "1.5.db", "../main.db", "/etc/main.db", "x/1.db", "main.db\0",
        "main.db/..", "\u0661.db", "megatest.db", "main.sqlite", None, 3, b"main.db",
    ],
)
def test_validate_dbfname_rejects(name: object) -> None:
    with pytest.raises(ConfigError, match="invalid dbfname"):
        validate_dbfname(name)  # type: ignore[arg-type]


@given(st.text(max_size=12))
def test_validate_dbfname_never_allows_a_path(name: str) -> None:
    try:
        validate_dbfname(name)
    except ConfigError:
        return
    assert "/" not in name and ".." not in name and "\0" not in name
    assert name == "main.db" or (name[:-3].isascii() and name[:-3].isdigit())


def test_dbfname_for_run_id() -> None:
    assert dbfname_for_run_id(None, 10) == "main.db"
    assert dbfname_for_run_id(13, 10) == "3.db"
    assert dbfname_for_run_id(0, 10) == "0.db"
    assert dbfname_for_run_id(10, 10) == "0.db"
    assert dbfname_for_run_id(7, 3) == "1.db"
    assert dbfname_for_run_id(12345, 1) == "0.db"
    for bad in (-1, True, 1.0, "3"):
        with pytest.raises(ConfigError, match="invalid run-id"):
            dbfname_for_run_id(bad, 10)  # type: ignore[arg-type]


@given(st.integers(0, 10**12), st.integers(1, 1000))
def test_dbfname_for_run_id_is_always_valid(run_id: int, n: int) -> None:
    name = dbfname_for_run_id(run_id, n)
    assert validate_dbfname(name) == name
    assert int(name[:-3]) == run_id % n


# -- Area.open and paths ---------------------------------------------------------


def test_area_open_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Area.open(tmp_path / "missing")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        Area.open(f)


def test_area_open_resolves_and_paths(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    a = Area.open(str(tmp_path / "link"))
    assert a.root == (tmp_path / "real").resolve()
    assert a.servinfo_dir == a.root / ".servinfo"
    assert a.db_dir == a.root / ".mtdb"
    assert a.key_path == a.root / ".mtkey"
    assert a.config_path == a.root / "megatest.config"
    assert a.db_path("main.db") == a.root / ".mtdb" / "main.db"
    assert a.log_path("3.db", 77) == a.root / "logs" / "server-3.db-77.log"
    with pytest.raises(ConfigError):
        a.db_path("../../etc/passwd")
    with pytest.raises(ConfigError):
        a.log_path("../x", 1)


def test_ensure_dirs(tmp_path: Path) -> None:
    a = Area.open(tmp_path)
    a.ensure_dirs()
    a.ensure_dirs()  # idempotent
    for d in (a.servinfo_dir, a.db_dir, a.logs_dir):
        assert d.is_dir() and not d.is_symlink()


def test_ensure_dirs_refuses_symlinked_dir(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "area").mkdir()
    os.symlink(elsewhere, tmp_path / "area" / ".servinfo")
    with pytest.raises(ConfigError, match="not a directory"):
        Area.open(tmp_path / "area").ensure_dirs()


# -- the key --------------------------------------------------------------------


def test_key_created_0600_on_first_need_and_stable(tmp_path: Path) -> None:
    a = Area.open(tmp_path)
    assert a.read_key() is None
    assert not a.key_path.exists()
    k = a.key()
    st_ = os.lstat(a.key_path)
    assert stat.S_ISREG(st_.st_mode)
    assert stat.S_IMODE(st_.st_mode) == 0o600
    assert len(k) == 64 and all(c in b"0123456789abcdef" for c in k)
    assert a.key_path.read_text() == k.decode() + "\n"
    assert a.key() == k
    assert Area.open(tmp_path).key() == k
    assert a.read_key() == k
    assert sorted(os.listdir(tmp_path)) == [".mtkey"]  # no temp file left


def test_key_whitespace_stripped(tmp_path: Path) -> None:
    a = Area.open(tmp_path)
    a.key_path.write_text("  " + "ab" * 32 + "  \n\n")
    a.key_path.chmod(0o600)
    assert a.key() == b"ab" * 32


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666, 0o660])
def test_key_refused_when_group_or_other_writable(tmp_path: Path, mode: int) -> None:
    a = Area.open(tmp_path)
    a.key()
    a.key_path.chmod(mode)
    with pytest.raises(ConfigError, match="group/other-writable: refused"):
        a.key()
    with pytest.raises(ConfigError, match="group/other-writable"):
        a.read_key()


def test_key_group_readable_is_allowed(tmp_path: Path) -> None:
    a = Area.open(tmp_path)
    k = a.key()
    a.key_path.chmod(0o640)
    assert a.key() == k


def test_key_refused_when_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real-key"
    target.write_text("cd" * 32 + "\n")
    target.chmod(0o600)
    (tmp_path / "area").mkdir()
    a = Area.open(tmp_path / "area")
    os.symlink(target, a.key_path)
    with pytest.raises(ConfigError, match="symlink: refused"):
        a.key()
    os.unlink(a.key_path)
    os.symlink(tmp_path / "nowhere", a.key_path)  # dangling: not created through it
    with pytest.raises(ConfigError, match="symlink"):
        a.key()
    assert not (tmp_path / "nowhere").exists()
    assert target.read_text() == "cd" * 32 + "\n"


@pytest.mark.parametrize(
    "content",
    ["", "\n", "ab" * 31, "ab" * 33, "xy" * 32, "ab" * 32 + " extra", "ab" * 16 + "\n" + "ab" * 16,
     "ab" * 32 + "\n" * 200 + "junk"],
)
def test_key_refused_when_not_64_hex(tmp_path: Path, content: str) -> None:
    a = Area.open(tmp_path)
    a.key_path.write_text(content)
    a.key_path.chmod(0o600)
    with pytest.raises(ConfigError, match="does not hold 64 hex characters"):
        a.key()
    assert a.key_path.read_text() == content  # never overwritten


def test_key_refused_when_directory(tmp_path: Path) -> None:
    a = Area.open(tmp_path)
    a.key_path.mkdir()
    with pytest.raises(ConfigError, match="key file"):
        a.key()


def test_key_concurrent_first_use_agrees(tmp_path: Path) -> None:
    """Many first callers at once all get the one key; none sees a half-written file."""
    for i in range(40):
        root = tmp_path / f"a{i}"
        root.mkdir()
        a = Area.open(root)
        barrier = threading.Barrier(6)
        got: list[object] = []

        def worker(
            a: Area = a, barrier: threading.Barrier = barrier, got: list[object] = got
        ) -> None:
            barrier.wait()
            try:
                got.append(a.key())
            except Exception as exc:  # noqa: BLE001 - reported below
                got.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert all(isinstance(g, bytes) for g in got), got
        assert len(set(got)) == 1 and len(got) == 6  # type: ignore[arg-type]
        assert got[0] == a.key_path.read_text().strip().encode()
        assert os.listdir(root) == [".mtkey"]
