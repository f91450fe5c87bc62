"""get-prereqs-not-met (api.scm TESTS group, db L4241-4385): which waitons of a
test are not met yet, answered with Megatest's rules and its result shape.

Params ``[waitons, ref_test_name?, ref_item_path?, mode?, itemmaps?]`` (run-id
in the request). ``mode`` is one name or a list of ``normal``, ``toplevel``,
``itemmatch``, ``itemwait``, ``exclusive``. Result: a list of short test
records ``{id, run_id, testname, item_path, state, status}`` that block, or
the waiton's name (a string) when it has no record at all; ``[]`` = all met.

Per waiton W, each of its rows R in this run (any item, deleted included) is
judged by the first rule that applies (ref = the test asking; "itemized" =
itemmatch or itemwait; same item = R's item_path equals ref's item path
after the item map):

0. R an item, ref top level, itemized, R ended -> parent met;
1. R top level, ended, ok (or toplevel mode) -> parent met;
2. R top level, badly ended, toplevel mode -> parent met;
3. itemized, ref an item, same item -> item met if ended and ok (or toplevel
   mode), else R is an unmet item; and parent met if R is top level and
   ended or running;
4. ended, ok, itemized -> item met;
5. ended, ok, same item -> item met.

Then: itemized with ref an item and unmet items -> those block; else unless
parent or item met, all of W's rows block. Fixes (bug B31): the unmet items are
reset per waiton; itemmatch and itemwait are synonyms (Megatest's source says
so); itemmaps None means none. ``exclusive``: rows of ref's test (ref's item
when ref is an item) that are running in any run block too.
"""

from __future__ import annotations

import fnmatch
import re
import sqlite3
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    param,
    rows_as_dicts,
    want_str,
    want_str_list,
)
from backend.db.commands.crossdb import select_main, select_run_tests
from backend.db.commands.patterns import test_clause, to_glob
from backend.db.commands.scope import require_run
from backend.db.commands.tests import SHORTLIST, want_item_path

MODES = ("normal", "toplevel", "itemmatch", "itemwait", "exclusive")
ENDED = ("COMPLETED", "ARCHIVED", "KILLED", "KILLREQ", "STUCK", "INCOMPLETE")
RUNNING = ("RUNNING", "REMOTEHOSTSTART", "LAUNCHED", "STARTED")
BADLY_ENDED = ("KILLED", "KILLREQ", "STUCK", "INCOMPLETE", "DEAD")
OK = ("PASS", "WARN", "CHECK", "WAIVED", "SKIP")
COLS = ", ".join(SHORTLIST)


def item_map(itemmaps: Any, ref_test: str, ref_item: str) -> str:
    """ref_item rewritten by the first itemmaps entry whose test pattern matches
    ref_test: each line ``regex replacement`` replaces the first match, in turn."""
    if itemmaps is None:
        return ref_item
    if not isinstance(itemmaps, list):
        raise bad("itemmaps must be a list of [test pattern, map text]")
    for entry in itemmaps:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise bad("itemmaps must be a list of [test pattern, map text]")
        patt, text = want_str(entry[0], "itemmap pattern"), want_str(entry[1], "itemmap text")
        if fnmatch.fnmatchcase(ref_test, to_glob(patt)):
            for line in text.splitlines():
                parts = line.split(None, 1)
                if parts:
                    try:
                        ref_item = re.sub(parts[0], parts[1] if len(parts) > 1 else "",
                                          ref_item, count=1)
                    except (re.error, IndexError) as exc:
                        raise bad(f"bad itemmap regex {parts[0][:64]!r}: {exc}") from None
            return ref_item
    return ref_item


def judge_waiton(rows: list[dict[str, Any]], mode: set[str], ref_item: str,
                 mapped: str) -> tuple[bool, list[dict[str, Any]]]:
    """(met, unmet items) of one waiton's rows, by the rules of the module doc."""
    itemized = bool(mode & {"itemmatch", "itemwait"})
    toplevel = "toplevel" in mode
    parent_met = item_met = False
    unmet_items: list[dict[str, Any]] = []
    for r in rows:
        top = r["item_path"] == ""
        ended, running = r["state"] in ENDED, r["state"] in RUNNING
        ok = r["status"] in OK
        same = r["item_path"] == mapped
        if not top and not ref_item and itemized and ended:
            parent_met = True
        elif top and ended and (ok or toplevel):
            parent_met = True
        elif top and r["state"] in BADLY_ENDED and toplevel:
            parent_met = True
        elif itemized and ref_item and same:
            if ended and (ok or toplevel):
                item_met = True
            else:
                unmet_items.append(r)
            if top and (ended or running):
                parent_met = True
        elif ended and ok and (itemized or same):
            item_met = True
    if itemized and ref_item and unmet_items:
        return False, unmet_items
    return parent_met or item_met, []


def _exclusive(conn: sqlite3.Connection, ctx: CallContext, ref_test: str,
               ref_item: str) -> list[dict[str, Any]]:
    where, args = test_clause(f"{ref_test}/{ref_item}" if ref_item else ref_test)
    run_ids = [r["id"] for r in select_main(conn, ctx, "SELECT id FROM runs", [])]
    marks = ", ".join("?" for _ in RUNNING)
    return select_run_tests(
        conn, ctx, run_ids,
        f"SELECT {COLS} FROM tests WHERE run_id IN ({{ids}}) AND {where} "
        f"AND state IN ({marks}) ORDER BY id", [*args, *RUNNING])


@command("get-prereqs-not-met", write=False)
def get_prereqs_not_met(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[waitons, ref_test_name?, ref_item_path?, mode?, itemmaps?] -> blocking
    test records and names (see the module docstring)."""
    run_id = require_run(ctx, "get-prereqs-not-met")
    arity(params, 1, 5)
    waitons = want_str_list(param(params, 0, []), "waitons")
    ref_test = want_str(param(params, 1, ""), "ref_test_name")
    ref_item = want_item_path(param(params, 2, ""))
    mode = set(want_str_list(param(params, 3, ["normal"]), "mode"))
    if not mode <= set(MODES):
        raise bad(f"mode must be among {', '.join(MODES)}")
    mapped = item_map(param(params, 4), ref_test, ref_item)
    out: list[Any] = []
    if "exclusive" in mode and ref_test:
        out += _exclusive(conn, ctx, ref_test, ref_item)
    for name in dict.fromkeys(waitons):
        where, args = test_clause(name)
        rows = rows_as_dicts(conn.execute(
            f"SELECT {COLS} FROM tests WHERE run_id = ? AND {where} ORDER BY id",
            [run_id, *args]))
        met, unmet_items = judge_waiton(rows, mode, ref_item, mapped)
        if unmet_items:
            out += unmet_items
        elif not met:
            out += rows if rows else [name]
    seen: set[Any] = set()
    unique = []
    for entry in out:
        key = entry if isinstance(entry, str) else ("id", entry["run_id"], entry["id"])
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique
