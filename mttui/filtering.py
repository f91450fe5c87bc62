"""The row filter typed after ``/`` (or given with ``--filter``): pure, no Textual.

Syntax, like the tools people know (k9s, less): words are a case-insensitive
regular expression searched in every cell, the file name and the full
server-id; a leading ``!`` inverts it (rows that do NOT match); ``state:dead``
keeps rows in that state (``state:dead,stale`` several; ``!state:running``
drops them). States match the start of the state word, case-insensitive, so
``state:unr`` is UNRESPONSIVE and ``state:remote`` every REMOTE row. An invalid
regular expression is searched as plain text and ``error`` says why, so a half
typed ``[`` never hides every row nor raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from backend.client import status
from mttui.model import Row

# Rows the "hide dead" toggle hides: nothing serves there, only prune clears them.
DEAD_STATES = frozenset({status.DEAD, status.STALE})


@dataclass(frozen=True)
class RowFilter:
    text: str = ""
    pattern: re.Pattern[str] | None = None
    invert: bool = False
    states: tuple[str, ...] = ()  # keep rows whose label starts with one of these
    not_states: tuple[str, ...] = ()  # drop rows whose label starts with one of these
    error: str | None = None  # why the regex is searched as plain text

    @property
    def active(self) -> bool:
        return bool(self.pattern or self.states or self.not_states)

    def keeps(self, row: Row) -> bool:
        label = row.label.upper()
        if self.states and not any(label.startswith(s) for s in self.states):
            return False
        if any(label.startswith(s) for s in self.not_states):
            return False
        if self.pattern is None:
            return True
        hay = " ".join((*row.cells, row.key, row.entry.registration.server_id))
        return (self.pattern.search(hay) is not None) != self.invert


def parse(text: str) -> RowFilter:
    words: list[str] = []
    states: list[str] = []
    not_states: list[str] = []
    for word in text.split():
        low = word.lower()
        if low.startswith(("state:", "!state:")):
            target = not_states if low.startswith("!") else states
            target += [s.upper() for s in low.partition(":")[2].split(",") if s]
        else:
            words.append(word)
    expr = " ".join(words)
    invert = expr.startswith("!")
    expr = expr[1:].lstrip() if invert else expr
    pattern, error = None, None
    if expr:
        try:
            pattern = re.compile(expr, re.IGNORECASE)
        except re.error as exc:
            error = f"not a regular expression ({exc}): searching the text as typed"
            pattern = re.compile(re.escape(expr), re.IGNORECASE)
    return RowFilter(text, pattern, invert, tuple(states), tuple(not_states), error)


def toggle_invert(text: str) -> str:
    """The filter text with its regex part inverted (``!`` added or removed)."""
    states = [w for w in text.split() if w.lower().startswith(("state:", "!state:"))]
    rest = " ".join(w for w in text.split() if w not in states)
    if not rest:
        return text  # no regex to invert
    rest = rest[1:].lstrip() if rest.startswith("!") else f"!{rest}"
    return " ".join([*states, rest]) if rest else " ".join(states)


def apply(rows: Iterable[Row], row_filter: RowFilter, hide_dead: bool = False) -> list[Row]:
    return [r for r in rows if row_filter.keeps(r)
            and not (hide_dead and r.state in DEAD_STATES)]


MARK = "● "


def show_marks(rows: Iterable[Row], marked: set[str]) -> list[Row]:
    """Rows with a marked server's first cell prefixed by ``MARK``."""
    return [replace(r, cells=(MARK + r.cells[0], *r.cells[1:])) if r.key in marked else r
            for r in rows]
