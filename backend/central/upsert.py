"""Batched upserts into the central tables, with bad rows quarantined, not fatal.

A batch runs as one ``executemany`` (psycopg pipelines it) inside a savepoint.
If PostgreSQL refuses a row (a data or constraint error), the batch is undone
and re-run row by row, each in its own savepoint: the good rows go in, each
refused row is returned with its error so the caller records it in
``mt_sync_rejects`` and retries it next pass. Megatest instead exited on the
first bad data row, so the same row stopped every later pass (P5). Any other
error (connection lost, a bug in our SQL) fails the whole pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.central.driver import one_line, psycopg_module

Params = dict[str, Any]


@dataclass
class Outcome:
    """What happened to the rows of one batch, by position."""

    returned: list[tuple[Any, ...] | None]  # RETURNING row, or None (no row: unchanged or refused)
    refused: dict[int, str]  # position -> error


def upsert(conn: Any, sql: str, rows: Sequence[Params]) -> Outcome:
    pg = psycopg_module()
    if not rows:
        return Outcome([], {})
    refusable = (pg.errors.DataError, pg.errors.IntegrityError)
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, rows, returning=True)
            returned = _results(cur, len(rows))
        return Outcome(returned, {})
    except refusable:
        pass
    returned = []
    refused: dict[int, str] = {}
    for i, params in enumerate(rows):
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(sql, params)
                returned.append(cur.fetchone())
        except refusable as exc:
            returned.append(None)
            refused[i] = one_line(exc)
    return Outcome(returned, refused)


def _results(cur: Any, n: int) -> list[tuple[Any, ...] | None]:
    out: list[tuple[Any, ...] | None] = []
    while True:
        out.append(cur.fetchone() if cur.pgresult is not None and cur.pgresult.ntuples else None)
        if not cur.nextset():
            break
    if len(out) != n:  # pragma: no cover - a driver contract, checked loudly
        raise RuntimeError(f"executemany returned {len(out)} results for {n} rows")
    return out
