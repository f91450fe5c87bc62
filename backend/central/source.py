"""Reading an area's sqlite files for a sync: read-only, in bulk, one snapshot per file.

Each file is opened like ``--direct`` does (backend/db/direct.py): wait on the
rollback journal first (SPEC §5's busy rule), then a ``mode=ro`` URI, so
sqlite's locks apply and nothing of the area is ever written; one read
transaction per file gives a consistent snapshot while servers keep writing.
Text that is not UTF-8 is read with replacement characters instead of failing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from backend.area import Area
from backend.db.commands.scope import ro_uri
from backend.db.journal import wait_on_journal
from backend.errors import StoreError

RUN_DB_RE = re.compile(r"^([0-9]{1,6})\.db$")
Row = dict[str, Any]


@contextmanager
def snapshot(path: Path, busy_timeout: float = 10.0) -> Iterator[sqlite3.Connection]:
    """A read-only connection to ``path`` inside one read transaction."""
    wait_on_journal(path)
    try:
        conn = sqlite3.connect(ro_uri(path), uri=True, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("BEGIN")
        yield conn
    except sqlite3.Error as exc:
        raise StoreError(f"reading {path}: {exc}") from exc
    finally:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            conn.close()


def run_db_files(area: Area) -> list[str]:
    """The run db files present (``<k>.db``), in numeric order."""
    try:
        names = [p.name for p in area.db_dir.iterdir() if RUN_DB_RE.fullmatch(p.name)]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda n: int(n.split(".")[0]))


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone() is not None


def key_names(conn: sqlite3.Connection) -> list[str]:
    if not has_table(conn, "keys"):
        return []
    return [r[0] for r in conn.execute('SELECT fieldname FROM "keys" ORDER BY id')]


def _since(mark: float | None) -> tuple[str, tuple[Any, ...]]:
    """Rows at or after ``mark`` (``>=``: a row stamped the same instant as the
    last one sent is sent again rather than lost); every row when no mark."""
    if mark is None:
        return "", ()
    return " WHERE last_update >= ?", (mark,)


def read_runs(conn: sqlite3.Connection) -> list[Row]:
    """Every run of main.db with its key values (runs are few; all of them are
    needed to map a changed test to its run)."""
    if not has_table(conn, "runs"):
        return []
    keys = key_names(conn)
    cols = "".join(', "' + k.replace('"', '""') + '"' for k in keys)
    rows = conn.execute(
        "SELECT id, runname, contour, state, status, owner, event_time, comment, "
        f"fail_count, pass_count, last_update{cols} FROM runs"
    ).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["keyvals"] = [d.pop(k) for k in keys]
        out.append(d)
    return out


def read_changed(conn: sqlite3.Connection, table: str, mark: float | None) -> list[Row]:
    """Rows of ``table`` changed at or after ``mark`` (every row if None)."""
    if not has_table(conn, table):
        return []
    where, args = _since(mark)
    return [dict(r) for r in conn.execute(f"SELECT * FROM {table}{where}", args)]


def read_by_ids(conn: sqlite3.Connection, table: str, ids: set[int]) -> list[Row]:
    """Rows of ``table`` with these ids (missing ids are simply absent)."""
    if not ids or not has_table(conn, table):
        return []
    out: list[Row] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i:i + 500]
        marks = ",".join("?" * len(chunk))
        out.extend(dict(r) for r in conn.execute(f"SELECT * FROM {table} WHERE id IN ({marks})", chunk))
    return out
