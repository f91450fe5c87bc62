"""The sqlite store of one dbfname: opening, schema, transactions, group commit.

``Store.run`` executes a batch of command calls in ONE transaction (group
commit): each call inside its own SAVEPOINT so one failing call does not undo
the others, then a single COMMIT. An outcome is only reported after COMMIT
returned, so an acknowledgement still means "durable in the file".

Writes take ``BEGIN IMMEDIATE`` (the write lock up front, so a busy database
fails fast at BEGIN with ``db_busy`` instead of deadlocking mid-transaction).
Idempotency keys (``meta["idem"]``) are recorded in the same transaction as
the write they protect, so a retried write returns the first result instead
of applying twice.

No code here (or anywhere) opens, renames or deletes a db file, its
``-journal``, ``-wal`` or ``-shm`` outside sqlite.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from backend.db.api import CallContext, Command
from backend.db.schema import migrate
from backend.errors import CommandError, StoreError
from backend.fs import is_network_fs

Outcome = tuple[bool, Any]
"""(True, result) or (False, (code, message))."""


@dataclass(slots=True)  # not frozen: one per request, and a frozen __init__ costs a call per field
class Call:
    command: Command
    ctx: CallContext
    params: list[Any]
    idem: str | None = None


def choose_journal_mode(path: Path, setting: str) -> str:
    """WAL on local filesystems; a rollback journal where WAL's shared memory
    cannot work (network filesystems). ``setting`` 'wal'/'delete' overrides."""
    if setting in ("wal", "delete"):
        return setting
    return "delete" if is_network_fs(path.parent) else "wal"


def connect(
    path: Path, *, journal_mode: str = "auto", busy_timeout: float = 10.0
) -> sqlite3.Connection:
    """Open (creating if needed) the db at ``path`` with our pragmas and schema."""
    mode = choose_journal_mode(path, journal_mode)
    # A new db is created 0600 (issue 12 item 13: the data is as secret as the key).
    # sqlite gives -wal/-shm/-journal the db file's mode, so they follow. Not
    # open()+chmod: no code of ours opens a db file outside sqlite.
    old_umask = os.umask(0o077)
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    finally:
        os.umask(old_umask)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        got = conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
        if got.lower() != mode:
            raise StoreError(f"cannot set journal_mode={mode} on {path} (got {got})")
        # synchronous is never OFF: FULL makes a COMMIT durable before we answer.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot open {path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def sqlite_error(exc: sqlite3.Error) -> tuple[str, str]:
    """Map a sqlite error to a protocol (code, message)."""
    msg = str(exc)
    low = msg.lower()
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in low or "busy" in low):
        return ("db_busy", msg)
    return ("db_error", msg)


IDEM_KEEP_SECONDS = 7 * 86400.0
"""Idempotency records older than this are pruned: a client retries within
seconds, so a week is far beyond any retry (and bounds the table)."""
IDEM_PRUNE_EVERY = 1000


class Store:
    """One open database, used from one thread at a time (the server's db thread)."""

    def __init__(self, path: Path, *, journal_mode: str = "auto", busy_timeout: float = 10.0):
        self.path = path
        self.conn = connect(path, journal_mode=journal_mode, busy_timeout=busy_timeout)
        self._busy_ms = int(busy_timeout * 1000)
        self._waits = True  # connect() set the busy timeout
        self.journal_mode: str = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        self._write_batches = 0

    def close(self) -> None:
        self.conn.close()

    def _waiting(self, wait: bool) -> None:
        """Set sqlite's busy timeout for what runs next: the configured one, or
        none. A statement only when it changes: a server's loop thread runs call
        after call without waiting, its db thread batch after batch with it."""
        if wait != self._waits:
            self.conn.execute(f"PRAGMA busy_timeout = {self._busy_ms if wait else 0}")
            self._waits = wait

    def run(self, calls: list[Call]) -> list[Outcome]:
        """Run ``calls`` in one transaction; one outcome per call, in order."""
        self._waiting(True)
        out = self._run(calls, busy_undo=False)
        assert out is not None
        return out

    def run_nowait(self, calls: list[Call]) -> list[Outcome] | None:
        """``run``, or None when the database is locked by someone else (nothing
        done then): for the server's loop thread, which must never wait for a
        lock (see ``server/dbworker.py``)."""
        self._waiting(False)
        return self._run(calls, busy_undo=True)

    def _run(self, calls: list[Call], *, busy_undo: bool) -> list[Outcome] | None:
        if len(calls) > 1:
            # Optimistic: no savepoint per call (two statements each). Calls
            # rarely fail; when one does, the transaction is rolled back and the
            # batch run again with a savepoint per call, so the failure undoes
            # only its own call. Nothing was committed or answered in between.
            # (Undone for a lock instead, the second pass meets it too.)
            outcomes = self._transaction(calls, savepoints=False, stop_on_error=True,
                                         busy_undo=busy_undo)
            if outcomes is not None:
                return outcomes
        return self._transaction(calls, savepoints=len(calls) > 1, busy_undo=busy_undo)

    def _transaction(
        self, calls: list[Call], *, savepoints: bool, stop_on_error: bool = False,
        busy_undo: bool = False,
    ) -> list[Outcome] | None:
        """One transaction over ``calls``. None (rolled back, nothing done) when
        ``stop_on_error`` and a call failed, or ``busy_undo`` and the outcome
        would be ``db_busy``."""
        conn = self.conn
        any_write = any(c.command.write for c in calls)
        try:
            conn.execute("BEGIN IMMEDIATE" if any_write else "BEGIN")
        except sqlite3.Error as exc:
            err = sqlite_error(exc)
            if busy_undo and err[0] == "db_busy":
                return None
            return [(False, err)] * len(calls)
        outcomes: list[Outcome] = []
        for call in calls:
            outcome = self._run_one(conn, call, savepoints)
            if not outcome[0] and (stop_on_error or (busy_undo and outcome[1][0] == "db_busy")):
                self._rollback(conn)
                return None
            outcomes.append(outcome)
            if not conn.in_transaction:
                # sqlite rolled the whole transaction back (it may on SQLITE_FULL,
                # IOERR, NOMEM): earlier writes of this batch are gone too.
                return self._aborted(calls, outcomes)
        if any_write:
            self._maybe_prune(conn)
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            err = sqlite_error(exc)
            self._rollback(conn)
            if busy_undo and err[0] == "db_busy":
                return None
            # Nothing of this transaction is durable: every write fails; reads
            # computed inside it are still valid answers.
            return [
                (False, err) if call.command.write else out
                for call, out in zip(calls, outcomes, strict=True)
            ]
        return outcomes

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @staticmethod
    def _aborted(calls: list[Call], outcomes: list[Outcome]) -> list[Outcome]:
        last = outcomes[-1]
        err = last[1] if not last[0] else ("db_error", "transaction rolled back by sqlite")
        done = [
            (False, err) if call.command.write else out
            for call, out in zip(calls, outcomes, strict=False)
        ]
        return done + [(False, err)] * (len(calls) - len(outcomes))

    def _maybe_prune(self, conn: sqlite3.Connection) -> None:
        self._write_batches += 1
        if self._write_batches % IDEM_PRUNE_EVERY == 1:
            try:
                conn.execute("SAVEPOINT prune")
                conn.execute(
                    "DELETE FROM mt_idempotency WHERE created < ?",
                    (time.time() - IDEM_KEEP_SECONDS,),
                )
                conn.execute("RELEASE prune")
            except sqlite3.Error:
                # Pruning is housekeeping: never fail the batch for it.
                self._undo(conn, "prune")

    def _run_one(self, conn: sqlite3.Connection, call: Call, savepoint: bool) -> Outcome:
        # One name for every call's savepoint: each is released before the next
        # is made, and one statement text stays in sqlite3's statement cache.
        sp = "c" if savepoint else ""
        if sp:
            try:
                conn.execute(f"SAVEPOINT {sp}")
            except sqlite3.Error as exc:
                return (False, sqlite_error(exc))
        try:
            if call.idem is not None and call.command.write:
                row = conn.execute(
                    "SELECT result FROM mt_idempotency WHERE key = ?", (call.idem,)
                ).fetchone()
                if row is not None:
                    if sp:
                        conn.execute(f"RELEASE {sp}")
                    return (True, msgpack.unpackb(row[0], raw=False))
            result = call.command.handler(conn, call.ctx, call.params)
            if call.idem is not None and call.command.write:
                conn.execute(
                    "INSERT INTO mt_idempotency(key, result, created) VALUES (?, ?, ?)",
                    (call.idem, msgpack.packb(result, use_bin_type=True), time.time()),
                )
            if sp:
                conn.execute(f"RELEASE {sp}")
            return (True, result)
        except CommandError as exc:
            self._undo(conn, sp)
            return (False, (exc.code, exc.message))
        except sqlite3.Error as exc:
            self._undo(conn, sp)
            return (False, sqlite_error(exc))
        except OverflowError:
            # An integer parameter beyond sqlite's 64 bits (msgpack carries up to
            # 2**64-1): bad input, not a db failure (issue 12 item 11).
            self._undo(conn, sp)
            return (False, ("bad_request", "an integer parameter is outside the 64-bit range"))
        except Exception as exc:
            # A handler bug must not leave the savepoint open or kill the db
            # thread; the client gets one line, never a traceback.
            self._undo(conn, sp)
            return (False, ("db_error", f"internal error in {call.command.name}: "
                            f"{type(exc).__name__}: {exc}"[:500]))

    @staticmethod
    def _undo(conn: sqlite3.Connection, sp: str) -> None:
        """Undo one call: to its savepoint, or (no savepoint: a batch of one) the
        whole transaction, which ``run`` then reports through ``_aborted``."""
        try:
            if not sp:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                return
            conn.execute(f"ROLLBACK TO {sp}")
            conn.execute(f"RELEASE {sp}")
        except sqlite3.Error:
            pass
