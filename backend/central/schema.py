"""The central schema: Megatest's ``mt-pg.sql`` tables and column names, created
and migrated in place (never Megatest's DROP-everything install script).

Differences from ``mt-pg.sql`` v1.65, each for a bug in megatest-pgsync.md:
epoch and ``diskfree`` columns are BIGINT and REAL columns DOUBLE PRECISION
(P20); ``ttype.target_spec`` and ``areas.area_path`` are UNIQUE (P9, P10);
``run_stats`` has a natural key so it can be synced; ``test_data.tol_text``
keeps a comparator such as ``>=`` that cannot go in the numeric ``tol`` (P6);
indexes for the sync's and the readers' lookups. Our bookkeeping tables are
prefixed ``mt_``: the schema version, the per-area watermarks and the rows
the central database refused (quarantined, retried every pass).

``MIGRATIONS[i]`` upgrades version i to i+1; ``migrate`` applies the missing
ones in one transaction under an advisory lock, so two first syncs racing on
an empty database create everything once. A newer version is refused.
"""

from __future__ import annotations

from typing import Any

from backend.errors import CentralError

MIGRATION_LOCK = 0x6D74_7367  # "mtsg": pg_advisory_xact_lock key for migrations
NOW = "(extract(epoch from now())::bigint)"

MIGRATION_1 = [
    # -- Megatest's tables (mt-pg.sql), written by the sync ------------------------
    """CREATE TABLE IF NOT EXISTS areas (
        id SERIAL PRIMARY KEY,
        area_name TEXT NOT NULL CONSTRAINT areaconstraint UNIQUE,
        area_path TEXT NOT NULL CONSTRAINT areapathconstraint UNIQUE,
        last_sync BIGINT DEFAULT 0)""",
    "INSERT INTO areas (id, area_name, area_path) VALUES (0, 'local', '.') ON CONFLICT DO NOTHING",
    """CREATE TABLE IF NOT EXISTS tags (
        id SERIAL PRIMARY KEY,
        tag_name TEXT NOT NULL CONSTRAINT tagconstraint UNIQUE)""",
    """CREATE TABLE IF NOT EXISTS area_tags (
        id SERIAL PRIMARY KEY,
        tag_id INTEGER DEFAULT 0,
        area_id INTEGER DEFAULT 0,
        CONSTRAINT areatagconstraint UNIQUE (tag_id, area_id))""",
    """CREATE OR REPLACE VIEW area_tag_view AS
        SELECT areas.id AS aid, tags.id AS tid, area_name, tag_name
        FROM areas INNER JOIN area_tags ON areas.id = area_tags.area_id
        INNER JOIN tags ON tags.id = area_tags.tag_id""",
    """CREATE TABLE IF NOT EXISTS ttype (
        id SERIAL PRIMARY KEY,
        target_spec TEXT NOT NULL DEFAULT '' CONSTRAINT ttypeconstraint UNIQUE)""",
    f"""CREATE TABLE IF NOT EXISTS runs (
        id SERIAL PRIMARY KEY,
        target TEXT DEFAULT '',
        ttype_id INTEGER DEFAULT 0,
        run_name TEXT DEFAULT 'norun',
        state TEXT DEFAULT '',
        status TEXT DEFAULT '',
        owner TEXT DEFAULT '',
        event_time BIGINT DEFAULT {NOW},
        comment TEXT DEFAULT '',
        fail_count INTEGER DEFAULT 0,
        pass_count INTEGER DEFAULT 0,
        last_update BIGINT DEFAULT {NOW},
        area_id INTEGER DEFAULT 0,
        CONSTRAINT runsconstraint UNIQUE (target, ttype_id, run_name, area_id))""",
    "CREATE INDEX IF NOT EXISTS runs_area ON runs (area_id)",
    "CREATE INDEX IF NOT EXISTS runs_target ON runs (target text_pattern_ops)",
    f"""CREATE TABLE IF NOT EXISTS run_stats (
        id SERIAL PRIMARY KEY,
        run_id INTEGER,
        state TEXT,
        status TEXT,
        count INTEGER,
        last_update BIGINT DEFAULT {NOW},
        CONSTRAINT runstatsconstraint UNIQUE (run_id, state, status))""",
    f"""CREATE TABLE IF NOT EXISTS tests (
        id SERIAL PRIMARY KEY,
        run_id INTEGER DEFAULT -1,
        test_name TEXT DEFAULT 'noname',
        item_path TEXT DEFAULT '',
        state TEXT DEFAULT 'NOT_STARTED',
        status TEXT DEFAULT 'FAIL',
        host TEXT DEFAULT 'n/a',
        cpuload DOUBLE PRECISION DEFAULT -1,
        diskfree BIGINT DEFAULT -1,
        uname TEXT DEFAULT 'n/a',
        rundir TEXT DEFAULT '/tmp/badname',
        shortdir TEXT DEFAULT '/tmp/badname',
        attemptnum INTEGER DEFAULT 0,
        final_logf TEXT DEFAULT 'logs/final.log',
        logdat TEXT DEFAULT '',
        run_duration BIGINT DEFAULT 0,
        comment TEXT DEFAULT '',
        event_time BIGINT DEFAULT {NOW},
        fail_count INTEGER DEFAULT 0,
        pass_count INTEGER DEFAULT 0,
        archived INTEGER DEFAULT 0,
        last_update BIGINT DEFAULT {NOW},
        CONSTRAINT testsconstraint UNIQUE (run_id, test_name, item_path))""",
    "CREATE INDEX IF NOT EXISTS tests_name ON tests (test_name)",
    f"""CREATE TABLE IF NOT EXISTS test_steps (
        id SERIAL PRIMARY KEY,
        test_id INTEGER,
        stepname TEXT,
        state TEXT DEFAULT 'NOT_STARTED',
        status TEXT DEFAULT 'n/a',
        event_time BIGINT DEFAULT {NOW},
        comment TEXT DEFAULT '',
        logfile TEXT DEFAULT '',
        last_update BIGINT DEFAULT {NOW},
        CONSTRAINT test_stepsconstraint UNIQUE (test_id, stepname, state))""",
    f"""CREATE TABLE IF NOT EXISTS test_data (
        id SERIAL PRIMARY KEY,
        test_id INTEGER,
        category TEXT DEFAULT '',
        variable TEXT,
        value DOUBLE PRECISION,
        expected DOUBLE PRECISION,
        tol DOUBLE PRECISION,
        units TEXT,
        comment TEXT DEFAULT '',
        status TEXT DEFAULT 'n/a',
        type TEXT DEFAULT '',
        last_update BIGINT DEFAULT {NOW},
        tol_text TEXT,
        CONSTRAINT test_dataconstraint UNIQUE (test_id, category, variable))""",
    # -- Megatest's tables that nothing fills (kept so its readers find them) ------
    """CREATE TABLE IF NOT EXISTS test_meta (
        id SERIAL PRIMARY KEY, test_name TEXT DEFAULT '', author TEXT DEFAULT '',
        owner TEXT DEFAULT '', description TEXT DEFAULT '', reviewed TEXT,
        iterated TEXT DEFAULT '', avg_runtime DOUBLE PRECISION, avg_disk DOUBLE PRECISION,
        tags TEXT DEFAULT '', jobgroup TEXT DEFAULT 'default',
        CONSTRAINT test_meta_constraint UNIQUE (test_name))""",
    f"""CREATE TABLE IF NOT EXISTS tasks_queue (
        id SERIAL PRIMARY KEY, action TEXT DEFAULT '', owner TEXT, state TEXT DEFAULT 'new',
        target TEXT DEFAULT '', name TEXT DEFAULT '', testpatt TEXT DEFAULT '', keylock TEXT,
        params TEXT, creation_time BIGINT DEFAULT {NOW}, execution_time BIGINT)""",
    f"""CREATE TABLE IF NOT EXISTS archive_disks (
        id SERIAL PRIMARY KEY, archive_area_name TEXT, disk_path TEXT, last_df BIGINT DEFAULT -1,
        last_df_time BIGINT DEFAULT {NOW}, creation_time BIGINT DEFAULT {NOW})""",
    f"""CREATE TABLE IF NOT EXISTS archive_blocks (
        id SERIAL PRIMARY KEY, archive_disk_id INTEGER, disk_path TEXT, last_du BIGINT DEFAULT -1,
        last_du_time BIGINT DEFAULT {NOW}, creation_time BIGINT DEFAULT {NOW})""",
    f"""CREATE TABLE IF NOT EXISTS archive_allocations (
        id SERIAL PRIMARY KEY, archive_block_id INTEGER, test_name TEXT, item_path TEXT,
        creation_time BIGINT DEFAULT {NOW})""",
    "CREATE TABLE IF NOT EXISTS extradat (id SERIAL PRIMARY KEY, run_id INTEGER, key TEXT, val TEXT)",
    "CREATE TABLE IF NOT EXISTS metadat (id SERIAL PRIMARY KEY, var TEXT, val TEXT)",
    """CREATE TABLE IF NOT EXISTS access_log (
        id SERIAL PRIMARY KEY, "user" TEXT, accessed TIMESTAMP, args TEXT)""",
    """CREATE TABLE IF NOT EXISTS test_rundat (
        id SERIAL PRIMARY KEY, test_id INTEGER, update_time BIGINT, cpuload INTEGER DEFAULT -1,
        diskfree BIGINT DEFAULT -1, diskusage BIGINT DEFAULT -1, run_duration BIGINT DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS archives (
        id SERIAL PRIMARY KEY, test_id INTEGER, state TEXT DEFAULT 'new', status TEXT DEFAULT 'n/a',
        archive_type TEXT DEFAULT 'bup', du BIGINT, archive_path TEXT)""",
    """CREATE TABLE IF NOT EXISTS sessions (
        id SERIAL PRIMARY KEY, session_key TEXT NOT NULL,
        last_used TIMESTAMP WITHOUT TIME ZONE DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS session_vars (
        id SERIAL PRIMARY KEY, session_id INTEGER, page TEXT, key TEXT, value TEXT)""",
    """CREATE TABLE IF NOT EXISTS users (
        id SERIAL PRIMARY KEY, username TEXT NOT NULL, fullname TEXT NOT NULL, email TEXT NOT NULL,
        default_view TEXT DEFAULT '', deleted INTEGER DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS webviews (
        id SERIAL PRIMARY KEY, owner_id INTEGER NOT NULL, name TEXT NOT NULL, ttype_id INTEGER DEFAULT 0,
        view_specifics TEXT, col TEXT NOT NULL, row TEXT NOT NULL, public INTEGER DEFAULT 0,
        deleted INTEGER DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS users_webviews (
        id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL, webview_id INTEGER NOT NULL,
        deleted INTEGER DEFAULT 0, searchpattern TEXT DEFAULT '')""",
    # -- ours ----------------------------------------------------------------------
    # Watermark per area, per area db file, per table: the largest sqlite
    # last_update already sent (the writer's clock, never the syncer's: P3).
    """CREATE TABLE IF NOT EXISTS mt_sync_marks (
        area_id INTEGER NOT NULL, dbfile TEXT NOT NULL, tbl TEXT NOT NULL,
        mark DOUBLE PRECISION NOT NULL, PRIMARY KEY (area_id, dbfile, tbl))""",
    # Rows the central database refused: kept, named, retried every pass (P5).
    f"""CREATE TABLE IF NOT EXISTS mt_sync_rejects (
        area_id INTEGER NOT NULL, dbfile TEXT NOT NULL, tbl TEXT NOT NULL, local_id BIGINT NOT NULL,
        error TEXT NOT NULL, first_seen BIGINT NOT NULL DEFAULT {NOW}, last_tried BIGINT NOT NULL DEFAULT {NOW},
        PRIMARY KEY (area_id, dbfile, tbl, local_id))""",
]

MIGRATIONS: list[list[str]] = [MIGRATION_1]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: Any, migrations: list[list[str]] | None = None) -> int:
    """Create or upgrade the central schema on ``conn`` (a psycopg connection,
    not in a transaction); returns the version now in the database."""
    steps = MIGRATIONS if migrations is None else migrations
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS mt_schema ("
            "id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
        )
        row = conn.execute("SELECT version FROM mt_schema WHERE id = 1").fetchone()
        current = int(row[0]) if row is not None else 0
        if current > len(steps):
            raise CentralError(
                f"central schema version {current} is newer than this mtserve "
                f"(knows {len(steps)}): refusing to touch it"
            )
        for stmts in steps[current:]:
            for stmt in stmts:
                conn.execute(stmt)
        if current < len(steps):
            conn.execute(
                "INSERT INTO mt_schema (id, version) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                (len(steps),),
            )
    return len(steps)
