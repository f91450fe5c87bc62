"""api.scm's TESTMETA group (read/write part): test_meta rows of main.db.

One row per test name (Megatest's UNIQUE testname), holding what a test's
``[test_meta]`` section says: author, owner, description, reviewed, tags
(comma-separated), jobgroup, and two averages.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import CallContext, arity, bad, command, want_str
from backend.db.commands.scope import require_main

MAX_FIELD = 64 * 1024
# Megatest interpolated ``field`` into its SQL; here it must be one of these.
FIELDS = frozenset(
    {"author", "owner", "description", "reviewed", "iterated", "avg_runtime", "avg_disk",
     "tags", "jobgroup"}
)


def want_name(value: Any) -> str:
    name = want_str(value, "testname")
    if not name or len(name) > 1024:
        raise bad("testname must be non-empty, at most 1024 characters")
    return name


@command("testmeta-add-record", write=True)
def testmeta_add_record(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testname] -> whether a row was added (an existing row is left alone).
    Text fields start empty, jobgroup ``default``, the averages NULL."""
    require_main(ctx, "testmeta-add-record")
    arity(params, 1)
    cur = conn.execute(
        "INSERT OR IGNORE INTO test_meta(testname, author, owner, description, reviewed, "
        "iterated, tags) VALUES (?, '', '', '', '', '', '')",
        (want_name(params[0]),),
    )
    return cur.rowcount > 0


@command("testmeta-update-field", write=True)
def testmeta_update_field(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testname, field, value] -> whether the test has a row (nothing is added).
    ``field`` is one of FIELDS; value a string, a number or nil."""
    require_main(ctx, "testmeta-update-field")
    arity(params, 3)
    name = want_name(params[0])
    field = want_str(params[1], "field")
    if field not in FIELDS:
        raise bad(f"field must be one of {', '.join(sorted(FIELDS))}")
    value = params[2]
    if isinstance(value, bool) or (value is not None and not isinstance(value, (str, int, float))):
        raise bad("value must be a string, a number or nil")
    if isinstance(value, str) and len(value) > MAX_FIELD:
        raise bad("value is longer than 64 KiB")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise bad("value is too large")
    cur = conn.execute(f"UPDATE test_meta SET {field} = ? WHERE testname = ?", (value, name))
    return cur.rowcount > 0


@command("get-tests-tags", write=False)
def get_tests_tags(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> map tag -> test names having it, most recently added row first
    (Megatest's order). Tags are split on ``,`` and trimmed; empty parts are
    dropped; a NULL tags value is no tags (Megatest raised; bug B32)."""
    require_main(ctx, "get-tests-tags")
    arity(params, 0)
    tags: dict[str, list[str]] = {}
    for testname, text in conn.execute("SELECT testname, tags FROM test_meta ORDER BY id"):
        if not isinstance(text, str):
            continue
        for tag in (t.strip() for t in text.split(",")):
            if not tag:
                continue
            names = tags.setdefault(tag, [])
            if testname in names:
                names.remove(testname)
            names.insert(0, testname)
    return tags
