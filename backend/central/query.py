"""The read side: questions only the central database can answer (across areas).

``runs``: runs of every area whose target matches a pattern (Megatest's ``%``
wildcard, as in ``get-runs-by-patt``), newest first, with their area.
``tests``: one test's history across areas and runs, newest first.
Both are plain reads in a READ ONLY transaction; nothing here writes.
"""

from __future__ import annotations

from typing import Any

from backend.central.driver import connect, is_driver_error, one_line
from backend.central.settings import redact
from backend.errors import CentralError

DEFAULT_LIMIT = 200

RUNS = """
SELECT a.area_name, a.area_path, r.id, r.target, r.run_name, r.state, r.status, r.owner,
       r.event_time, r.pass_count, r.fail_count, r.comment, tt.target_spec
FROM runs r JOIN areas a ON a.id = r.area_id JOIN ttype tt ON tt.id = r.ttype_id
WHERE r.target LIKE %s AND (%s OR r.state <> 'deleted')
ORDER BY r.event_time DESC, r.id DESC LIMIT %s
"""

TESTS = """
SELECT a.area_name, r.target, r.run_name, t.id, t.test_name, t.item_path, t.state, t.status,
       t.host, t.run_duration, t.event_time, t.comment
FROM tests t JOIN runs r ON r.id = t.run_id JOIN areas a ON a.id = r.area_id
WHERE t.test_name = %s AND t.item_path LIKE %s AND r.target LIKE %s
ORDER BY t.event_time DESC, t.id DESC LIMIT %s
"""


def _rows(dest: str, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    conn = connect(dest)
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            cur = conn.execute(query, params)
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    except Exception as exc:
        if is_driver_error(exc):
            # An empty database (no sync yet) is the common case worth naming.
            if getattr(exc, "sqlstate", None) == "42P01":
                raise CentralError(f"{redact(dest)} has no central schema yet: run `backend sync` first") from None
            raise CentralError(f"query on {redact(dest)} failed: {one_line(exc)}") from None
        raise
    finally:
        conn.close()


def runs_by_target(dest: str, pattern: str = "%", *, include_deleted: bool = False,
                   limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    return _rows(dest, RUNS, (pattern, include_deleted, limit))


def test_history(dest: str, test_name: str, *, item_path: str = "%", target: str = "%",
                 limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    return _rows(dest, TESTS, (test_name, item_path, target, limit))
