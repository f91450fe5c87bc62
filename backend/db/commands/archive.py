"""api.scm's ARCHIVES group (read/write part): archive disks, blocks and
allocations in main.db. A disk is an archive area on some path; a block a
directory on a disk holding archived test runs; an allocation records that a
test suite (area) uses a block. tests.archived (a run database) holds a test's
block id: test-set-archive-block-id (teststate.py).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import CallContext, arity, bad, command, want_int, want_str
from backend.db.commands.scope import require_main

MAX_PATH = 4096


def want_path(value: Any, what: str) -> str:
    path = want_str(value, what)
    if not path or len(path) > MAX_PATH:
        raise bad(f"{what} must be non-empty, at most {MAX_PATH} characters")
    return path


@command("archive-register-disk", write=True)
def archive_register_disk(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[bdisk-name, bdisk-path, df] -> the disk's id. A known (name, path)
    gets last_df = df and last_df_time = now; a new one is added."""
    require_main(ctx, "archive-register-disk")
    arity(params, 3)
    name = want_path(params[0], "bdisk-name")
    path = want_path(params[1], "bdisk-path")
    df = want_int(params[2], "df", minimum=-1)
    row = conn.execute(
        "SELECT id FROM archive_disks WHERE archive_area_name = ? AND disk_path = ?", (name, path)
    ).fetchone()
    if row is not None:
        conn.execute(
            "UPDATE archive_disks SET last_df = ?, last_df_time = strftime('%s','now') WHERE id = ?",
            (df, row[0]),
        )
        return row[0]
    cur = conn.execute(
        "INSERT INTO archive_disks(archive_area_name, disk_path, last_df) VALUES (?, ?, ?)",
        (name, path, df),
    )
    return cur.lastrowid


@command("archive-register-block-name", write=True)
def archive_register_block_name(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[bdisk-id, archive-path] -> the block's id, also on the call that creates
    it (Megatest returned #f then, bug B9). The disk must exist."""
    require_main(ctx, "archive-register-block-name")
    arity(params, 2)
    disk = want_int(params[0], "bdisk-id")
    path = want_path(params[1], "archive-path")
    if conn.execute("SELECT 1 FROM archive_disks WHERE id = ?", (disk,)).fetchone() is None:
        raise bad(f"unknown archive disk id {disk}")
    row = conn.execute(
        "SELECT id FROM archive_blocks WHERE archive_disk_id = ? AND disk_path = ?", (disk, path)
    ).fetchone()
    if row is not None:
        return row[0]
    cur = conn.execute(
        "INSERT INTO archive_blocks(archive_disk_id, disk_path, last_du) VALUES (?, ?, 0)",
        (disk, path),
    )
    return cur.lastrowid


@command("archive-allocate-testsuite/area-to-block", write=True)
def archive_allocate_testsuite_area_to_block(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[block-id, testsuite-name, areakey] -> the allocation's id. Megatest's
    dispatch calls a function that exists only as a comment; ours records the
    allocation: an archive_allocations row (archive_block_id, testname =
    testsuite-name, item_path = areakey), once per triple."""
    require_main(ctx, "archive-allocate-testsuite/area-to-block")
    arity(params, 3)
    block = want_int(params[0], "block-id")
    suite = want_path(params[1], "testsuite-name")
    areakey = want_path(params[2], "areakey")
    if conn.execute("SELECT 1 FROM archive_blocks WHERE id = ?", (block,)).fetchone() is None:
        raise bad(f"unknown archive block id {block}")
    row = conn.execute(
        "SELECT id FROM archive_allocations WHERE archive_block_id = ? AND testname = ? "
        "AND item_path = ?",
        (block, suite, areakey),
    ).fetchone()
    if row is not None:
        return row[0]
    cur = conn.execute(
        "INSERT INTO archive_allocations(archive_block_id, testname, item_path) VALUES (?, ?, ?)",
        (block, suite, areakey),
    )
    return cur.lastrowid
