"""One sync pass: an area's sqlite files into the central database, all or nothing.

The pass (docs/central.md "Sync rules"):

1. Migrate the central schema if needed (its own transaction).
2. In ONE transaction: take an advisory lock on the area's path (two passes
   of one area never overlap: P18), find or register the area, add its tags.
3. Read each run db file (``<k>.db``) in one read snapshot: tests, steps and
   data with ``last_update`` at or after that file's watermark, the rows
   quarantined last time, and the tests of every changed step and data row
   (so a step is sent even when its test did not change: P2).
4. Then read main.db (after the run dbs, so every run a test names is there):
   all runs; the changed ones are upserted on their own (a run changed alone
   is sent: P1). A run ``deleted`` in the area is updated, never created.
5. Upsert tests, steps and data on Megatest's natural keys, mapping local ids
   to central ids through those keys; store the new watermarks (the largest
   ``last_update`` read, per file and table: the writer's clock, not ours, P3),
   the refused rows, and ``areas.last_sync``; COMMIT.

A failure anywhere rolls the whole transaction back: the central database
and the watermarks are as before, and the next pass sends the same rows.
Rows are never deleted centrally (Megatest's rule, see docs/central.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from backend.area import Area
from backend.central import areas, clean, mapping, source, sql
from backend.central.driver import connect, is_driver_error, one_line
from backend.central.schema import migrate
from backend.central.settings import redact
from backend.central.upsert import upsert
from backend.errors import CentralError

MAIN_DB = "main.db"
# Steps and data are stamped with the plain clock (backend/db/schema.py), so a
# clock stepped back on the writer could stamp a row below the watermark: those
# tables are re-read this far back (an unchanged re-send writes nothing, but
# a burst of writes in the last second before the mark is read again each pass).
# Runs and tests have strictly increasing stamps and need no margin.
PLAIN_STAMP_MARGIN = 1.0
DELETED_RUN = "deleted"


@dataclass
class TableCounts:
    read: int = 0
    inserted: int = 0
    changed: int = 0
    refused: int = 0
    skipped: int = 0


@dataclass
class SyncResult:
    area: str
    area_id: int
    area_name: str
    started: float
    seconds: float = 0.0
    tables: dict[str, TableCounts] = field(default_factory=dict)

    def counts(self, table: str) -> TableCounts:
        return self.tables.setdefault(table, TableCounts())

    @property
    def rows(self) -> int:
        return sum(c.read for c in self.tables.values())

    @property
    def written(self) -> int:
        """Rows inserted or changed centrally (``rows`` also counts unchanged re-reads)."""
        return sum(c.inserted + c.changed for c in self.tables.values())

    @property
    def refused(self) -> int:
        return sum(c.refused for c in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        return {"area": self.area, "area_id": self.area_id, "area_name": self.area_name,
                "started": self.started, "seconds": round(self.seconds, 3), "rows": self.rows, "written": self.written,
                "refused": self.refused, "tables": {k: asdict(v) for k, v in self.tables.items()}}


def sync_area(
    area: Area, dest: str, *, area_tag: str = "", conn: Any = None,
    clock: Callable[[], float] = time.time,
) -> SyncResult:
    """One pass; CentralError (one line, no password) if it could not commit."""
    own = conn is None
    if own:
        conn = connect(dest)
    try:
        migrate(conn)
        return _Pass(conn, area, area_tag, clock).run()
    except CentralError:
        raise
    except Exception as exc:
        if is_driver_error(exc):
            raise CentralError(f"sync of {area.root} to {redact(dest)} failed: {one_line(exc)}") from None
        raise
    finally:
        if own:
            conn.close()


@dataclass
class _FileRead:
    """What one run db file contributed to this pass."""

    dbfile: str
    tests: dict[int, source.Row]
    steps: list[source.Row]
    data: list[source.Row]
    mark_rows: dict[str, list[source.Row]]  # the rows read by watermark, per table


class _Pass:
    def __init__(self, conn: Any, area: Area, area_tag: str, clock: Callable[[], float]) -> None:
        self.conn = conn
        self.area = area
        self.area_tag = area_tag
        self.clock = clock
        self.now = int(clock())
        self.area_id = 0
        self.marks: dict[tuple[str, str], float] = {}
        self.rejects: dict[tuple[str, str], set[int]] = {}
        self.new_rejects: list[tuple[str, str, int, str]] = []

    def run(self) -> SyncResult:
        path = str(self.area.root)
        t0 = time.monotonic()
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("mtserve-sync:" + path,))
            self.area_id, name = areas.register(self.conn, self.area)
            self.result = SyncResult(path, self.area_id, name, float(self.now))
            areas.add_tags(self.conn, self.area_id, self.area_tag)
            self._load_marks()
            files = [self._read_run_db(f) for f in source.run_db_files(self.area)]
            run_ids = self._sync_runs()
            for f in files:
                self._sync_file(f, run_ids)
            self._save_rejects()
            self.conn.execute("UPDATE areas SET last_sync = %s WHERE id = %s", (self.now, self.area_id))
        self.result.seconds = time.monotonic() - t0
        return self.result

    # -- area, tags, bookkeeping -------------------------------------------------

    def _load_marks(self) -> None:
        for dbfile, tbl, mark in self.conn.execute(
                "SELECT dbfile, tbl, mark FROM mt_sync_marks WHERE area_id = %s", (self.area_id,)):
            self.marks[(dbfile, tbl)] = float(mark)
        for dbfile, tbl, local_id in self.conn.execute(
                "SELECT dbfile, tbl, local_id FROM mt_sync_rejects WHERE area_id = %s", (self.area_id,)):
            self.rejects.setdefault((dbfile, tbl), set()).add(int(local_id))

    def _mark(self, dbfile: str, tbl: str, margin: float = 0.0) -> float | None:
        m = self.marks.get((dbfile, tbl))
        return None if m is None else m - margin

    def _advance(self, dbfile: str, tbl: str, rows: list[source.Row]) -> None:
        stamps = [clean.real(r.get("last_update")) for r in rows]
        best = max((s for s in stamps if s is not None), default=None)
        old = self.marks.get((dbfile, tbl))
        if best is None or (old is not None and best <= old):
            return
        self.marks[(dbfile, tbl)] = best
        self.conn.execute(
            "INSERT INTO mt_sync_marks (area_id, dbfile, tbl, mark) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (area_id, dbfile, tbl) DO UPDATE SET mark = excluded.mark",
            (self.area_id, dbfile, tbl, best))

    def _refuse(self, dbfile: str, tbl: str, local_id: int, error: str) -> None:
        self.new_rejects.append((dbfile, tbl, local_id, error))
        self.result.counts(tbl).refused += 1

    def _save_rejects(self) -> None:
        # Quarantined rows not refused again went in, or no longer exist locally.
        refused_now = {(d, t, i) for d, t, i, _ in self.new_rejects}
        for (dbfile, tbl), ids in self.rejects.items():
            done = sorted(i for i in ids if (dbfile, tbl, i) not in refused_now)
            if done:
                self.conn.execute(
                    "DELETE FROM mt_sync_rejects WHERE area_id = %s AND dbfile = %s AND tbl = %s "
                    "AND local_id = ANY(%s)", (self.area_id, dbfile, tbl, done))
        for dbfile, tbl, local_id, error in self.new_rejects:
            self.conn.execute(
                "INSERT INTO mt_sync_rejects (area_id, dbfile, tbl, local_id, error, last_tried) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (area_id, dbfile, tbl, local_id) "
                "DO UPDATE SET error = excluded.error, last_tried = excluded.last_tried",
                (self.area_id, dbfile, tbl, local_id, error[:2000], self.now))

    # -- reading -----------------------------------------------------------------

    def _read_run_db(self, dbfile: str) -> _FileRead:
        with source.snapshot(self.area.db_path(dbfile)) as db:
            tests = source.read_changed(db, "tests", self._mark(dbfile, "tests"))
            steps = source.read_changed(db, "test_steps", self._mark(dbfile, "test_steps", PLAIN_STAMP_MARGIN))
            data = source.read_changed(db, "test_data", self._mark(dbfile, "test_data", PLAIN_STAMP_MARGIN))
            marks_rows = {"tests": list(tests), "test_steps": list(steps), "test_data": list(data)}
            for tbl, rows in (("test_steps", steps), ("test_data", data), ("tests", tests)):
                ids = self.rejects.get((dbfile, tbl), set()) - {r["id"] for r in rows}
                extra = source.read_by_ids(db, tbl, ids)
                rows.extend(extra)
            by_id = {r["id"]: r for r in tests}
            # P2: the test of every changed step and data row, changed or not.
            needed = {r["test_id"] for r in steps + data} - set(by_id)
            for r in source.read_by_ids(db, "tests", needed):
                by_id[r["id"]] = r
        return _FileRead(dbfile, by_id, steps, data, marks_rows)

    # -- runs --------------------------------------------------------------------

    def _sync_runs(self) -> dict[int, int]:
        """Upsert the changed runs; local run id -> central run id for every run."""
        main = self.area.db_path(MAIN_DB)
        if not main.exists():
            return {}
        with source.snapshot(main) as db:
            keys = source.key_names(db)
            runs = source.read_runs(db)
            stats = source.read_changed(db, "run_stats", self._mark(MAIN_DB, "run_stats", PLAIN_STAMP_MARGIN))
        spec = "/".join(clean.text(k) for k in keys)
        ttype_id = int(self.conn.execute(
            "INSERT INTO ttype (target_spec) VALUES (%s) ON CONFLICT (target_spec) "
            "DO UPDATE SET target_spec = excluded.target_spec RETURNING id", (spec,)).fetchone()[0])
        mark = self._mark(MAIN_DB, "runs")
        retry = self.rejects.get((MAIN_DB, "runs"), set())
        changed = [r for r in runs
                   if mark is None or (clean.real(r["last_update"]) or 0) >= mark or r["id"] in retry]
        counts = self.result.counts("runs")
        live = [r for r in changed if clean.text(r["state"]).lower() != DELETED_RUN]
        gone = [r for r in changed if clean.text(r["state"]).lower() == DELETED_RUN]
        for rows, stmt in ((live, sql.RUNS), (gone, sql.RUNS_DELETED)):
            out = upsert(self.conn, stmt, [mapping.run_params(r, ttype_id, self.area_id, self.now) for r in rows])
            self._count(counts, out, rows, MAIN_DB, "runs")
        self._advance(MAIN_DB, "runs", [r for r in runs if mark is None or (clean.real(r["last_update"]) or 0) >= mark])
        central = {(t, n): int(i) for i, t, n in self.conn.execute(
            "SELECT id, target, run_name FROM runs WHERE area_id = %s AND ttype_id = %s",
            (self.area_id, ttype_id))}
        # Deleted before it ever reached us: never created (Megatest's rule).
        counts.skipped += sum(1 for r in gone if (clean.target(r["keyvals"]), clean.text(r["runname"])) not in central)
        ids = {}
        for r in runs:
            cid = central.get((clean.target(r["keyvals"]), clean.text(r["runname"])))
            if cid is not None:
                ids[int(r["id"])] = cid
        self._sync_run_stats(stats, ids)
        return ids

    def _sync_run_stats(self, stats: list[source.Row], run_ids: dict[int, int]) -> None:
        rows = [r for r in stats if r.get("run_id") in run_ids]
        params = [mapping.run_stats_params(r, run_ids[r["run_id"]], self.now) for r in rows]
        counts = self.result.counts("run_stats") if stats else TableCounts()
        counts.skipped += len(stats) - len(rows)
        self._count(counts, upsert(self.conn, sql.RUN_STATS, params), rows, MAIN_DB, "run_stats")
        self._advance(MAIN_DB, "run_stats", stats)

    # -- tests, steps, data --------------------------------------------------------

    def _refused_ids(self, dbfile: str, tbl: str) -> set[int]:
        return {i for d, t, i, _ in self.new_rejects if (d, t) == (dbfile, tbl)}

    def _orphans(self, dbfile: str, tbl: str, rows: list[source.Row], parent: str, parents: set[int],
                 refused: set[int], what: str) -> None:
        """Rows whose parent is not central: quarantined with it when the parent
        was refused (so both go in together later), else skipped for good (a
        run deleted before it ever reached us, or a row without its parent)."""
        counts = self.result.counts(tbl)
        for r in rows:
            if r.get(parent) in parents:
                continue
            if r.get(parent) in refused:
                self._refuse(dbfile, tbl, int(r["id"]), f"its {what} was refused")
            else:
                counts.skipped += 1

    def _sync_file(self, f: _FileRead, run_ids: dict[int, int]) -> None:
        tests = [t for t in f.tests.values() if t.get("run_id") in run_ids]
        tcounts = self.result.counts("tests")
        self._orphans(f.dbfile, "tests", list(f.tests.values()), "run_id", set(run_ids),
                      self._refused_ids(MAIN_DB, "runs"), "run")
        params = [mapping.test_params(t, run_ids[t["run_id"]], self.now) for t in tests]
        out = upsert(self.conn, sql.TESTS, params)
        self._count(tcounts, out, tests, f.dbfile, "tests")
        test_ids = {int(t["id"]): int(row[0]) for t, row in zip(tests, out.returned, strict=True) if row is not None}
        unchanged = [(t, p) for i, (t, p) in enumerate(zip(tests, params, strict=True))
                     if out.returned[i] is None and i not in out.refused]
        if unchanged:
            by_key = {(p["run_id"], p["test_name"], p["item_path"]): int(t["id"]) for t, p in unchanged}
            keys = list(by_key)
            for cid, *key in self.conn.execute(
                    sql.TEST_IDS, ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])):
                test_ids[by_key[tuple(key)]] = int(cid)
        for tbl, rows, stmt, build in (
            ("test_steps", f.steps, sql.STEPS, mapping.step_params),
            ("test_data", f.data, sql.DATA, mapping.data_params),
        ):
            mapped = [r for r in rows if r.get("test_id") in test_ids]
            counts = self.result.counts(tbl)
            self._orphans(f.dbfile, tbl, rows, "test_id", set(test_ids),
                          self._refused_ids(f.dbfile, "tests"), "test")
            out = upsert(self.conn, stmt, [build(r, test_ids[r["test_id"]], self.now) for r in mapped])
            self._count(counts, out, mapped, f.dbfile, tbl)
        for tbl in ("tests", "test_steps", "test_data"):
            self._advance(f.dbfile, tbl, f.mark_rows[tbl])

    def _count(self, counts: TableCounts, out: Any, rows: list[source.Row], dbfile: str, tbl: str) -> None:
        counts.read += len(rows)
        for i, row in enumerate(out.returned):
            if i in out.refused:
                self._refuse(dbfile, tbl, int(rows[i]["id"]), out.refused[i])
            elif row is not None:
                if row[1]:
                    counts.inserted += 1
                else:
                    counts.changed += 1
