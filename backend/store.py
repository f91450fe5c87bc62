"""The sqlite store of one dbfname: opening, schema, transactions, group commit.

``Store.run`` executes a batch of command calls in ONE transaction (group
commit): each call inside its own SAVEPOINT so one failing call does not undo
the others, then a single COMMIT. An outcome is only reported after COMMIT
returned, so an acknowledgement still means "durable in the file".

Writes take ``BEGIN IMMEDIATE`` (the write lock up front, so a busy database
fails fast at BEGIN with ``db_busy`` instead of deadlocking mid-transaction).
Idempotency keys (``meta["idem"]``) are recorded in the same transaction as
the write they protect, so a retried write returns the first result instead
of applying twice.

No code here (or anywhere) opens, renames or deletes a db file, its
``-journal``, ``-wal`` or ``-shm`` outside sqlite.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from backend.api import CallContext, Command
from backend.errors import CommandError, StoreError

NETWORK_FS = {
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "fuse.sshfs", "sshfs", "9p", "afs",
    "lustre", "gpfs", "ceph", "glusterfs", "fuse.glusterfs", "beegfs", "davfs",
}

Outcome = tuple[bool, Any]
"""(True, result) or (False, (code, message))."""


@dataclass(frozen=True, slots=True)
class Call:
    command: Command
    ctx: CallContext
    params: list[Any]
    idem: str | None = None


def filesystem_type(path: Path) -> str:
    """The fstype of the mount holding ``path`` ('' if unknown)."""
    import psutil

    target = os.path.realpath(path)
    best, fstype = "", ""
    try:
        parts = psutil.disk_partitions(all=True)
    except OSError:
        return ""
    for part in parts:
        mp = part.mountpoint
        if (target == mp or target.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
            best, fstype = mp, part.fstype
    return fstype


def is_network_fs(path: Path) -> bool:
    return filesystem_type(path).lower() in NETWORK_FS


def choose_journal_mode(path: Path, setting: str) -> str:
    """WAL on local filesystems; a rollback journal where WAL's shared memory
    cannot work (network filesystems). ``setting`` 'wal'/'delete' overrides."""
    if setting in ("wal", "delete"):
        return setting
    return "delete" if is_network_fs(path.parent) else "wal"


def connect(
    path: Path, *, journal_mode: str = "auto", busy_timeout: float = 10.0
) -> sqlite3.Connection:
    """Open (creating if needed) the db at ``path`` with our pragmas and schema."""
    mode = choose_journal_mode(path, journal_mode)
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        got = conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
        if got.lower() != mode:
            raise StoreError(f"cannot set journal_mode={mode} on {path} (got {got})")
        # synchronous is never OFF: FULL makes a COMMIT durable before we answer.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot open {path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


# -- schema and migrations ---------------------------------------------------------
#
# Every db file (main.db and each <k>.db) gets the same schema, after
# Megatest's: main.db uses keys/runs, run dbs use tests/test_steps/test_data.
# The version lives in metadat (var SCHEMA_VERSION). MIGRATIONS[i] upgrades
# version i to i+1; they run in order inside one BEGIN IMMEDIATE transaction,
# so concurrent openers (several servers of one db) apply each step once.

# Epoch seconds with millisecond precision (sqlite 3.40 lacks unixepoch('subsec')).
NOW = "((julianday('now') - 2440587.5) * 86400.0)"


def _touch_triggers(table: str, monotonic: bool) -> list[str]:
    """Megatest's last_update triggers. For tables read incrementally
    (``last_update > x``) the stamp is also made strictly greater than every
    stamp already in the table, so two changes in the same millisecond (or a
    clock step back) can never hide a row from an incremental reader."""
    if monotonic:
        stamp = f"max({NOW}, (SELECT ifnull(max(last_update), 0) FROM {table}) + 0.000001)"
    else:
        stamp = NOW
    # Plain stamps: an INSERT that already carries its stamp (a bulk load stamps
    # the whole batch once) skips the per-row UPDATE, which halves its cost.
    when = "" if monotonic else "WHEN new.last_update = 0 "
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_touch_insert AFTER INSERT ON {table} {when}"
        f"BEGIN UPDATE {table} SET last_update = {stamp} WHERE id = new.id; END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_touch_update AFTER UPDATE ON {table} "
        f"BEGIN UPDATE {table} SET last_update = {stamp} WHERE id = new.id; END",
    ]


MIGRATION_1 = [
    """CREATE TABLE IF NOT EXISTS metadat (
        id INTEGER PRIMARY KEY,
        var TEXT UNIQUE NOT NULL,
        val TEXT,
        last_update INTEGER DEFAULT (strftime('%s','now')))""",
    """CREATE TABLE IF NOT EXISTS mt_idempotency (
        key TEXT PRIMARY KEY,
        result BLOB,
        created REAL NOT NULL)""",
]

MIGRATION_2 = [
    """CREATE TABLE IF NOT EXISTS "keys" (
        id INTEGER PRIMARY KEY,
        fieldname TEXT UNIQUE NOT NULL,
        fieldtype TEXT NOT NULL DEFAULT 'TEXT')""",
    # Key columns are added by the first register-run (commands/runs.py).
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        runname TEXT NOT NULL,
        contour TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'new',
        status TEXT NOT NULL DEFAULT 'n/a',
        owner TEXT NOT NULL DEFAULT '',
        event_time INTEGER NOT NULL DEFAULT (strftime('%s','now')),
        comment TEXT NOT NULL DEFAULT '',
        fail_count INTEGER NOT NULL DEFAULT 0,
        pass_count INTEGER NOT NULL DEFAULT 0,
        last_update REAL NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS runs_last_update ON runs(last_update)",
    """CREATE TABLE IF NOT EXISTS tests (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL,
        testname TEXT NOT NULL,
        host TEXT NOT NULL DEFAULT 'n/a',
        cpuload REAL NOT NULL DEFAULT -1,
        diskfree INTEGER NOT NULL DEFAULT -1,
        uname TEXT NOT NULL DEFAULT 'n/a',
        rundir TEXT NOT NULL DEFAULT '/tmp/badname',
        shortdir TEXT NOT NULL DEFAULT '',
        item_path TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'NOT_STARTED',
        status TEXT NOT NULL DEFAULT 'FAIL',
        attemptnum INTEGER NOT NULL DEFAULT 0,
        final_logf TEXT NOT NULL DEFAULT 'logs/final.log',
        logdat TEXT NOT NULL DEFAULT '',
        run_duration INTEGER NOT NULL DEFAULT 0,
        comment TEXT NOT NULL DEFAULT '',
        event_time INTEGER NOT NULL DEFAULT (strftime('%s','now')),
        fail_count INTEGER NOT NULL DEFAULT 0,
        pass_count INTEGER NOT NULL DEFAULT 0,
        archived INTEGER NOT NULL DEFAULT 0,
        last_update REAL NOT NULL DEFAULT 0,
        UNIQUE (run_id, testname, item_path))""",
    "CREATE INDEX IF NOT EXISTS tests_last_update ON tests(last_update)",
    "CREATE INDEX IF NOT EXISTS tests_run_state ON tests(run_id, state)",
    """CREATE TABLE IF NOT EXISTS test_steps (
        id INTEGER PRIMARY KEY,
        test_id INTEGER NOT NULL,
        stepname TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'NOT_STARTED',
        status TEXT NOT NULL DEFAULT 'n/a',
        event_time INTEGER NOT NULL DEFAULT (strftime('%s','now')),
        comment TEXT NOT NULL DEFAULT '',
        logfile TEXT NOT NULL DEFAULT '',
        last_update REAL NOT NULL DEFAULT 0,
        UNIQUE (test_id, stepname, state))""",
    """CREATE TABLE IF NOT EXISTS test_data (
        id INTEGER PRIMARY KEY,
        test_id INTEGER NOT NULL,
        category TEXT NOT NULL DEFAULT '',
        variable TEXT NOT NULL,
        value REAL,
        expected REAL,
        tol REAL,
        units TEXT NOT NULL DEFAULT '',
        comment TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'n/a',
        type TEXT NOT NULL DEFAULT '',
        last_update REAL NOT NULL DEFAULT 0,
        UNIQUE (test_id, category, variable))""",
    "CREATE INDEX IF NOT EXISTS mt_idempotency_created ON mt_idempotency(created)",
    *_touch_triggers("runs", monotonic=True),
    *_touch_triggers("tests", monotonic=True),
    *_touch_triggers("test_steps", monotonic=False),
    *_touch_triggers("test_data", monotonic=False),
]

MIGRATIONS: list[list[str]] = [MIGRATION_1, MIGRATION_2]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in the file; 0 for a new (empty) database."""
    has_metadat = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metadat'"
    ).fetchone()
    if has_metadat is None:
        return 0
    row = conn.execute("SELECT val FROM metadat WHERE var = 'SCHEMA_VERSION'").fetchone()
    try:
        return int(row[0]) if row is not None else 0
    except (TypeError, ValueError):
        raise StoreError(f"metadat SCHEMA_VERSION is not a number: {row[0]!r}") from None


def migrate(conn: sqlite3.Connection, migrations: list[list[str]] | None = None) -> int:
    """Create or upgrade the schema; returns the version now in the file."""
    steps = MIGRATIONS if migrations is None else migrations
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)
        if current > len(steps):
            raise StoreError(
                f"database schema version {current} is newer than this mtserve "
                f"(knows {len(steps)}): refusing to touch it"
            )
        for stmts in steps[current:]:
            for stmt in stmts:
                conn.execute(stmt)
        if current < len(steps):
            conn.execute(
                "INSERT INTO metadat(var, val) VALUES ('SCHEMA_VERSION', ?) "
                "ON CONFLICT(var) DO UPDATE SET val = excluded.val",
                (str(len(steps)),),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(steps)


def sqlite_error(exc: sqlite3.Error) -> tuple[str, str]:
    """Map a sqlite error to a protocol (code, message)."""
    msg = str(exc)
    low = msg.lower()
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in low or "busy" in low):
        return ("db_busy", msg)
    return ("db_error", msg)


IDEM_KEEP_SECONDS = 7 * 86400.0
"""Idempotency records older than this are pruned: a client retries within
seconds, so a week is far beyond any retry (and bounds the table)."""
IDEM_PRUNE_EVERY = 1000


class Store:
    """One open database, used from one thread at a time (the server's db thread)."""

    def __init__(self, path: Path, *, journal_mode: str = "auto", busy_timeout: float = 10.0):
        self.path = path
        self.conn = connect(path, journal_mode=journal_mode, busy_timeout=busy_timeout)
        self.journal_mode: str = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        self._write_batches = 0

    def close(self) -> None:
        self.conn.close()

    def run(self, calls: list[Call]) -> list[Outcome]:
        """Run ``calls`` in one transaction; one outcome per call, in order."""
        conn = self.conn
        any_write = any(c.command.write for c in calls)
        try:
            conn.execute("BEGIN IMMEDIATE" if any_write else "BEGIN")
        except sqlite3.Error as exc:
            return [(False, sqlite_error(exc))] * len(calls)
        outcomes: list[Outcome] = []
        for i, call in enumerate(calls):
            outcomes.append(self._run_one(conn, call, i))
            if not conn.in_transaction:
                # sqlite rolled the whole transaction back (it may on SQLITE_FULL,
                # IOERR, NOMEM): earlier writes of this batch are gone too.
                return self._aborted(calls, outcomes)
        if any_write:
            self._maybe_prune(conn)
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            err = sqlite_error(exc)
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            # Nothing of this transaction is durable: every write fails; reads
            # computed inside it are still valid answers.
            return [
                (False, err) if call.command.write else out
                for call, out in zip(calls, outcomes, strict=True)
            ]
        return outcomes

    @staticmethod
    def _aborted(calls: list[Call], outcomes: list[Outcome]) -> list[Outcome]:
        last = outcomes[-1]
        err = last[1] if not last[0] else ("db_error", "transaction rolled back by sqlite")
        done = [
            (False, err) if call.command.write else out
            for call, out in zip(calls, outcomes, strict=False)
        ]
        return done + [(False, err)] * (len(calls) - len(outcomes))

    def _maybe_prune(self, conn: sqlite3.Connection) -> None:
        self._write_batches += 1
        if self._write_batches % IDEM_PRUNE_EVERY == 1:
            try:
                conn.execute("SAVEPOINT prune")
                conn.execute(
                    "DELETE FROM mt_idempotency WHERE created < ?",
                    (time.time() - IDEM_KEEP_SECONDS,),
                )
                conn.execute("RELEASE prune")
            except sqlite3.Error:
                # Pruning is housekeeping: never fail the batch for it.
                self._undo(conn, "prune")

    def _run_one(self, conn: sqlite3.Connection, call: Call, i: int) -> Outcome:
        sp = f"c{i}"
        try:
            conn.execute(f"SAVEPOINT {sp}")
        except sqlite3.Error as exc:
            return (False, sqlite_error(exc))
        try:
            if call.idem is not None and call.command.write:
                row = conn.execute(
                    "SELECT result FROM mt_idempotency WHERE key = ?", (call.idem,)
                ).fetchone()
                if row is not None:
                    conn.execute(f"RELEASE {sp}")
                    return (True, msgpack.unpackb(row[0], raw=False))
            result = call.command.handler(conn, call.ctx, call.params)
            if call.idem is not None and call.command.write:
                conn.execute(
                    "INSERT INTO mt_idempotency(key, result, created) VALUES (?, ?, ?)",
                    (call.idem, msgpack.packb(result, use_bin_type=True), time.time()),
                )
            conn.execute(f"RELEASE {sp}")
            return (True, result)
        except CommandError as exc:
            self._undo(conn, sp)
            return (False, (exc.code, exc.message))
        except sqlite3.Error as exc:
            self._undo(conn, sp)
            return (False, sqlite_error(exc))
        except Exception as exc:
            # A handler bug must not leave the savepoint open or kill the db
            # thread; the client gets one line, never a traceback.
            self._undo(conn, sp)
            return (False, ("db_error", f"internal error in {call.command.name}: "
                            f"{type(exc).__name__}: {exc}"[:500]))

    @staticmethod
    def _undo(conn: sqlite3.Connection, sp: str) -> None:
        try:
            conn.execute(f"ROLLBACK TO {sp}")
            conn.execute(f"RELEASE {sp}")
        except sqlite3.Error:
            pass
