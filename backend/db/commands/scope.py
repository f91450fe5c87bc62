"""Which database a command may run on, and the run-id existence check.

Runs live in main.db; the tests of run N live in ``N % num_run_dbs``.db. A
command on a run database must name a run that exists in main.db, which a
server for ``k.db`` does not own: it reads main.db through a separate
read-only sqlite connection (``mode=ro``; sqlite's own locking, never
``open()``). Run-ids are never deleted, so a run found once is cached for the
life of the process; misses are not cached (the run may be registered next).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from pathlib import Path

from backend.area import check_db_files
from backend.db.commands.base import CallContext, bad
from backend.errors import CommandError, ConfigError

MAIN_DB = "main.db"
RO_BUSY_TIMEOUT = 5.0

_known: dict[tuple[str, int, int], set[int]] = {}
_lock = threading.Lock()


def ro_uri(path: Path) -> str:
    """A ``mode=ro`` URI for ``path``, quoted so ``?``/``#``/``%`` stay literal."""
    return "file:" + urllib.parse.quote(str(path)) + "?mode=ro"


def require_main(ctx: CallContext, name: str) -> None:
    """Runs and keys live in main.db: these commands take no run-id."""
    if ctx.run_id is not None or ctx.dbfname != MAIN_DB:
        raise bad(f"{name} is a main.db command: send it with run-id None")


def require_run(ctx: CallContext, name: str) -> int:
    """The request's run-id, checked to exist in main.db."""
    run_id = ctx.run_id
    if run_id is None:
        raise bad(f"{name} needs a run-id")
    if not run_exists(ctx.db_dir / MAIN_DB, run_id):
        raise bad(f"unknown run-id {run_id}")
    return run_id


def run_exists(main_db: Path, run_id: int) -> bool:
    try:
        st = os.stat(main_db)
    except FileNotFoundError:
        return False
    # The inode is part of the key: an area re-created at the same path must
    # not inherit the old area's run-ids.
    key = (str(main_db), st.st_dev, st.st_ino)
    with _lock:
        if run_id in _known.get(key, ()):
            return True
    try:
        check_db_files(main_db)
    except ConfigError as exc:
        raise CommandError("db_error", str(exc)) from None
    conn = sqlite3.connect(ro_uri(main_db), uri=True, timeout=RO_BUSY_TIMEOUT, isolation_level=None)
    try:
        row = conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return False  # a main.db that no server has upgraded yet has no runs
        raise
    finally:
        conn.close()
    if row is None:
        return False
    with _lock:
        _known.setdefault(key, set()).add(run_id)
    return True
