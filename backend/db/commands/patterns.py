"""Megatest-style name patterns turned into SQL.

Megatest matches with ``LIKE`` (``%`` wildcard, and ``_`` matching any one
character, which bites test names such as ``test_1``, and case-insensitive).
We keep its spelling but match exactly: ``%`` and ``*`` stand for any run of
characters, every other character is literal and case matters. A comma
separates alternatives. Implemented with sqlite ``GLOB`` after escaping the
characters GLOB treats specially (``?``, ``[``).
"""

from __future__ import annotations

from typing import Any

from backend.db.commands.base import bad

MAX_ALTERNATIVES = 200
"""sqlite parses ``a OR b OR ...`` into a tree at most 1000 deep ("Expression tree
is too large"); 200 alternatives (up to 3 levels each) stay well inside that."""


def to_glob(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch in "%*":
            out.append("*")
        elif ch == "?":
            out.append("[?]")
        elif ch == "[":
            out.append("[[]")
        else:
            out.append(ch)
    return "".join(out)


def alternatives(pattern: str) -> list[str]:
    """The comma-separated alternatives of ``pattern``, blanks dropped;
    ``bad_request`` beyond ``MAX_ALTERNATIVES`` (issue 12 item 11)."""
    alts = [p.strip() for p in pattern.split(",") if p.strip()]
    if len(alts) > MAX_ALTERNATIVES:
        raise bad(f"pattern has {len(alts)} alternatives, at most {MAX_ALTERNATIVES} are allowed")
    return alts


def name_clause(column: str, pattern: str) -> tuple[str, list[Any]]:
    """SQL matching ``column`` against ``pattern`` (with alternatives)."""
    alts = alternatives(pattern)
    if not alts:
        return "0", []
    return "(" + " OR ".join(f"{column} GLOB ?" for _ in alts) + ")", [to_glob(a) for a in alts]


def test_clause(testpatt: str) -> tuple[str, list[Any]]:
    """SQL for a Megatest test pattern: ``TEST`` (all its rows, parent and
    items), ``TEST/ITEM`` (items matching ITEM), ``TEST/`` (the parent only)."""
    alts = alternatives(testpatt)
    if not alts:
        return "0", []
    parts: list[str] = []
    args: list[Any] = []
    for alt in alts:
        if "/" in alt:
            test, item = alt.split("/", 1)
            if item:
                # Fix (API acceptance tests): ``TEST/%`` must match the items only,
                # as documented; ``'' GLOB '*'`` used to let the parent row in too.
                parts.append("(testname GLOB ? AND item_path != '' AND item_path GLOB ?)")
            else:
                parts.append("(testname GLOB ? AND item_path GLOB ?)")
            args += [to_glob(test), to_glob(item)]
        else:
            parts.append("testname GLOB ?")
            args.append(to_glob(alt))
    return "(" + " OR ".join(parts) + ")", args
