"""The sqlite schema of every db file, after Megatest's, and its migrations.

Every db file (main.db and each <k>.db) gets the same schema: main.db uses
keys/runs, run dbs use tests/test_steps/test_data. The version lives in
metadat (var SCHEMA_VERSION). MIGRATIONS[i] upgrades version i to i+1; they
run in order inside one BEGIN IMMEDIATE transaction, so concurrent openers
(several servers of one db) apply each step once. A file with a newer
version than this code knows is refused, never touched.
"""

from __future__ import annotations

import sqlite3

from backend.errors import StoreError

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

# Version 3: the rest of Megatest's megatest.db tables (db.scm L1186-1353) and
# its no-sync store (no-sync.db, db.scm L1878-1889), with Megatest's column
# names and defaults except where docs/api.md "Schema and migrations" says why
# not. Every db file gets them all, as before; main.db uses the run-level ones
# (run_stats, test_meta, tasks_queue, archive_*, extradat, access_log,
# no_sync_metadat), run databases the test-level ones (test_rundat, archives).
MIGRATION_3 = [
    """CREATE TABLE IF NOT EXISTS run_stats (
        id INTEGER PRIMARY KEY,
        run_id INTEGER,
        state TEXT,
        status TEXT,
        count INTEGER,
        last_update REAL NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS run_stats_run ON run_stats(run_id, state, status)",
    *_touch_triggers("run_stats", monotonic=False),
    """CREATE TABLE IF NOT EXISTS test_meta (
        id INTEGER PRIMARY KEY,
        testname TEXT NOT NULL DEFAULT '' UNIQUE,
        author TEXT DEFAULT '',
        owner TEXT DEFAULT '',
        description TEXT DEFAULT '',
        reviewed TIMESTAMP,
        iterated TEXT DEFAULT '',
        avg_runtime REAL,
        avg_disk REAL,
        tags TEXT DEFAULT '',
        jobgroup TEXT DEFAULT 'default')""",
    """CREATE TABLE IF NOT EXISTS tasks_queue (
        id INTEGER PRIMARY KEY,
        action TEXT DEFAULT '',
        owner TEXT,
        state TEXT DEFAULT 'new',
        target TEXT DEFAULT '',
        name TEXT DEFAULT '',
        testpatt TEXT DEFAULT '',
        keylock TEXT,
        params TEXT,
        creation_time TIMESTAMP DEFAULT (strftime('%s','now')),
        execution_time TIMESTAMP)""",
    "CREATE INDEX IF NOT EXISTS tasks_queue_target ON tasks_queue(target, name, creation_time)",
    # Megatest's creation_time defaults here use a broken format and store NULL
    # (reference bug B19); ours store now.
    """CREATE TABLE IF NOT EXISTS archive_disks (
        id INTEGER PRIMARY KEY,
        archive_area_name TEXT,
        disk_path TEXT,
        last_df INTEGER DEFAULT -1,
        last_df_time TIMESTAMP DEFAULT (strftime('%s','now')),
        creation_time TIMESTAMP DEFAULT (strftime('%s','now')))""",
    "CREATE INDEX IF NOT EXISTS archive_disks_name ON archive_disks(archive_area_name, disk_path)",
    """CREATE TABLE IF NOT EXISTS archive_blocks (
        id INTEGER PRIMARY KEY,
        archive_disk_id INTEGER,
        disk_path TEXT,
        last_du INTEGER DEFAULT -1,
        last_du_time TIMESTAMP DEFAULT (strftime('%s','now')),
        creation_time TIMESTAMP DEFAULT (strftime('%s','now')))""",
    "CREATE INDEX IF NOT EXISTS archive_blocks_disk ON archive_blocks(archive_disk_id, disk_path)",
    """CREATE TABLE IF NOT EXISTS archive_allocations (
        id INTEGER PRIMARY KEY,
        archive_block_id INTEGER,
        testname TEXT,
        item_path TEXT,
        creation_time TIMESTAMP DEFAULT (strftime('%s','now')))""",
    "CREATE TABLE IF NOT EXISTS extradat (id INTEGER PRIMARY KEY, run_id INTEGER, key TEXT, val TEXT)",
    "CREATE TABLE IF NOT EXISTS access_log (id INTEGER PRIMARY KEY, user TEXT, accessed TIMESTAMP, args TEXT)",
    # Megatest spells diskusage's type "INTGER" (NUMERIC affinity); INTEGER here.
    """CREATE TABLE IF NOT EXISTS test_rundat (
        id INTEGER PRIMARY KEY,
        test_id INTEGER,
        update_time TIMESTAMP,
        cpuload INTEGER DEFAULT -1,
        diskfree INTEGER DEFAULT -1,
        diskusage INTEGER DEFAULT -1,
        run_duration INTEGER DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS test_rundat_test ON test_rundat(test_id)",
    """CREATE TABLE IF NOT EXISTS archives (
        id INTEGER PRIMARY KEY,
        test_id INTEGER,
        state TEXT DEFAULT 'new',
        status TEXT DEFAULT 'n/a',
        archive_type TEXT DEFAULT 'bup',
        du INTEGER,
        archive_path TEXT)""",
    # Megatest keeps this in its own file (no-sync.db); a dbfname is main or a
    # number here (SPEC section 1), so it is a table of main.db.
    "CREATE TABLE IF NOT EXISTS no_sync_metadat (var TEXT NOT NULL UNIQUE, val TEXT)",
]

MIGRATIONS: list[list[str]] = [MIGRATION_1, MIGRATION_2, MIGRATION_3]
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


