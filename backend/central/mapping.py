"""sqlite rows to the parameters of the central upserts (sql.py), column by column.

Megatest's column mapping (megatest-pgsync.md section 2.5), plus the test
columns it left out (shortdir, attemptnum, logdat, fail/pass counts); every
value through ``clean``, so insert and update see the same values.
"""

from __future__ import annotations

from typing import Any

from backend.central import clean

Row = dict[str, Any]
Params = dict[str, Any]


def run_params(r: Row, ttype_id: int, area_id: int, now: int) -> Params:
    return {
        "target": clean.target(r["keyvals"]), "ttype_id": ttype_id, "run_name": clean.text(r["runname"]),
        "area_id": area_id, "state": clean.text(r["state"]), "status": clean.text(r["status"]),
        "owner": clean.text(r["owner"]), "event_time": clean.integer(r["event_time"], 0),
        "comment": clean.text(r["comment"]), "fail_count": clean.int32(r["fail_count"], 0),
        "pass_count": clean.int32(r["pass_count"], 0), "now": now,
    }

def test_params(t: Row, run_id: int, now: int) -> Params:
    g = t.get
    return {
        "run_id": run_id, "test_name": clean.text(g("testname")), "item_path": clean.text(g("item_path")),
        "state": clean.text(g("state")), "status": clean.text(g("status")), "host": clean.text(g("host")),
        "cpuload": clean.real(g("cpuload")), "diskfree": clean.integer(g("diskfree"), -1),
        "uname": clean.text(g("uname")), "rundir": clean.text(g("rundir")),
        "shortdir": clean.text(g("shortdir")), "attemptnum": clean.int32(g("attemptnum"), 0),
        "final_logf": clean.text(g("final_logf")), "logdat": clean.text(g("logdat")),
        "run_duration": clean.integer(g("run_duration"), 0), "comment": clean.text(g("comment")),
        "event_time": clean.integer(g("event_time"), 0), "fail_count": clean.int32(g("fail_count"), 0),
        "pass_count": clean.int32(g("pass_count"), 0), "archived": clean.int32(g("archived"), 0),
        "now": now,
    }

def step_params(s: Row, test_id: int, now: int) -> Params:
    g = s.get
    return {"test_id": test_id, "stepname": clean.text(g("stepname")), "state": clean.text(g("state")),
            "status": clean.text(g("status")), "event_time": clean.integer(g("event_time"), 0),
            "comment": clean.text(g("comment")), "logfile": clean.text(g("logfile")), "now": now}

def data_params(d: Row, test_id: int, now: int) -> Params:
    g = d.get
    tol, tol_text = clean.tol(g("tol"))
    return {"test_id": test_id, "category": clean.text(g("category")), "variable": clean.text(g("variable")),
            "value": clean.real(g("value")), "expected": clean.real(g("expected")), "tol": tol,
            "tol_text": tol_text, "units": clean.opt_text(g("units")), "comment": clean.text(g("comment")),
            "status": clean.text(g("status")), "type": clean.text(g("type")), "now": now}


def run_stats_params(r: Row, run_id: int, now: int) -> Params:
    return {"run_id": run_id, "state": clean.text(r.get("state")), "status": clean.text(r.get("status")),
            "count": clean.int32(r.get("count"), 0), "now": now}
