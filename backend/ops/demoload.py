"""A realistic client: drives the database API the way a Megatest run does.

``run_demo_load`` registers a run, registers tests with items, and walks each
item NOT_STARTED -> LAUNCHED -> RUNNING -> COMPLETED (PASS or FAIL), recording
steps and CSV data and asking for running counts and prerequisites along the
way, as a harness's launcher would. It only talks through ``call``, so the
same code loads a real server (``backend.client.client.Client(area).call``) or, with
``LocalCaller``, sqlite files in this process (tests, serverless baselines).
"""

from __future__ import annotations

import getpass
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from backend.area import dbfname_for_run_id
from backend.db.api import CallContext, lookup
from backend.db.store import Call, Outcome, Store
from backend.errors import RemoteError

DEMO_KEYS = {"SYSTEM": "linux", "RELEASE": "v1.0"}
PASS_RATE = 0.8
BatchItem = tuple[str, int | None, list[Any], str | None]


class CallFn(Protocol):
    def __call__(self, cmd: str, *params: Any, run_id: int | None = None) -> Any: ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


def run_demo_load(
    call: CallFn,
    *,
    tests: int = 10,
    items: int = 3,
    seed: int | None = None,
    stop_event: StopFlag | None = None,
    log: Callable[[str], None] = print,
    runname: str | None = None,
) -> dict[str, Any]:
    """Run one synthetic test run; returns counts (see ``summary`` keys below)."""
    rng = random.Random(seed)
    calls = 0

    def c(cmd: str, *params: Any, run_id: int | None = None) -> Any:
        nonlocal calls
        calls += 1
        return call(cmd, *params, run_id=run_id)

    summary: dict[str, Any] = {
        "run_id": None, "runname": "", "tests": 0, "items": 0, "passed": 0, "failed": 0,
        "steps": 0, "data_rows": 0, "max_running": 0, "calls": 0, "stopped": False,
    }
    # Use the area's keys if it has some (a register-run must name exactly them).
    keys = c("get-keys")
    keyvals = {k: DEMO_KEYS.get(k, "demo") for k in keys} if keys else dict(DEMO_KEYS)
    # Registering an existing runname returns its run-id (Megatest's rule), so
    # passing the same name again re-runs the same tests in the same run db.
    runname = runname or f"demo_{time.strftime('%Y%m%d_%H%M%S')}_{rng.randrange(16**6):06x}"
    run_id = c("register-run", keyvals, runname, "new", "n/a", _user(), "demo")
    summary.update(run_id=run_id, runname=runname)
    log(f"run {runname} (run-id {run_id}): {tests} tests x {items} items")
    prev: str | None = None
    for t in range(tests):
        if stop_event is not None and stop_event.is_set():
            summary["stopped"] = True
            break
        name = f"test{t:02d}"
        paths = [f"item/{j}" for j in range(items)] or [""]
        ids = [c("register-test", name, p, run_id=run_id) for p in paths]
        if prev is not None:
            # A launcher checks its waitons before launching; prev is done by now.
            c("get-prereqs-not-met", [prev], name, "", "toplevel", run_id=run_id)
        for tid in ids:
            c("test-set-state-status-by-id", tid, "LAUNCHED", "n/a", None, run_id=run_id)
        running = c("get-count-tests-running-for-run-id", run_id=run_id)
        summary["max_running"] = max(summary["max_running"], running)
        c("get-count-tests-running-for-testname", name, run_id=run_id)
        for tid in ids:
            passed = rng.random() < PASS_RATE
            _run_item(c, run_id, tid, passed, rng)
            summary["steps"] += 4
            summary["data_rows"] += 2
            summary["passed" if passed else "failed"] += 1
        summary["items"] += len(ids) if items else 0
        summary["tests"] += 1
        top = c("get-test-info-by-id", c("get-test-id", name, "", run_id=run_id), run_id=run_id)
        log(f"{name}: {top['state']} {top['status']} "
            f"(pass {top['pass_count']}, fail {top['fail_count']})")
        prev = name
    summary["calls"] = calls
    return summary


def _run_item(c: CallFn, run_id: int, tid: int, passed: bool, rng: random.Random) -> None:
    c("test-set-state-status-by-id", tid, "RUNNING", "n/a", None, run_id=run_id)
    for step in ("setup", "run"):
        c("teststep-set-status!", tid, step, "start", "n/a", "", "", run_id=run_id)
        c("teststep-set-status!", tid, step, "end", "PASS" if passed else "FAIL",
          "", f"{step}.log", run_id=run_id)
    runtime = round(rng.uniform(5.0, 15.0), 2)
    memory = rng.randrange(100, 1024)
    c("csv->test-data", tid,
      f"perf,runtime,{runtime},10,5,s,,,\nperf,memory,{memory},512,<=,MB,,,", run_id=run_id)
    c("test-set-state-status-by-id", tid, "COMPLETED", "PASS" if passed else "FAIL",
      "demo", run_id=run_id)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "demo"


class LocalCaller:
    """A ``call`` function over db files in ``db_dir``, in this process, no server.

    Each dbfname gets its own ``Store`` (as each server would); errors are raised
    as ``RemoteError(code, message)``, like the client raises a server's error.
    """

    def __init__(
        self, db_dir: Path, *, num_run_dbs: int = 10, journal_mode: str = "auto",
        busy_timeout: float = 10.0,
    ) -> None:
        self.db_dir = Path(db_dir)
        self.db_dir.mkdir(parents=True, exist_ok=True)
        self.num_run_dbs = num_run_dbs
        self.journal_mode = journal_mode
        self.busy_timeout = busy_timeout
        self.stores: dict[str, Store] = {}

    def store(self, dbfname: str) -> Store:
        if dbfname not in self.stores:
            self.stores[dbfname] = Store(
                self.db_dir / dbfname,
                journal_mode=self.journal_mode,
                busy_timeout=self.busy_timeout,
            )
        return self.stores[dbfname]

    def call(
        self, cmd: str, *params: Any, run_id: int | None = None, idem: str | None = None
    ) -> Any:
        ok, result = self.run([(cmd, run_id, list(params), idem)])[0]
        if not ok:
            raise RemoteError(*result)
        return result

    __call__ = call

    def run(self, batch: list[BatchItem]) -> list[Outcome]:
        """One group-commit batch of (cmd, run_id, params, idem); all calls must
        map to the same dbfname."""
        calls = []
        for cmd, run_id, params, idem in batch:
            dbfname = dbfname_for_run_id(run_id, self.num_run_dbs)
            ctx = CallContext(run_id, dbfname, self.num_run_dbs, self.db_dir)
            calls.append(Call(lookup(cmd), ctx, params, idem))
        dbfnames = {c.ctx.dbfname for c in calls}
        if len(dbfnames) != 1:
            raise ValueError("a batch must go to exactly one dbfname")
        return self.store(dbfnames.pop()).run(calls)

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        self.stores.clear()

    def __enter__(self) -> LocalCaller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
