"""Issue 12, hardening: one regression test per defect (docs/reliability.md,
"Hardening"). Real server processes on loopback; root-only parts skip cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil

from backend import procs, protocol, registry
from backend.area import Area
from backend.client import Client, Connection
from tests.faults.util import authed, start_server, stop_proc
from tests.helpers import backend, entries, make_area, wait_for

# -- item 4: never signal a process that is not a server of the area given ------------------


def test_stop_all_never_signals_another_areas_server(tmp_path: Path) -> None:
    """A live registration of area B copied into area C: `stop --area C --all` is
    refused (unauthorized) and nothing falls back to SIGTERM; B's server lives."""
    b, c = make_area(tmp_path / "b"), make_area(tmp_path / "c")
    proc, entry = start_server(b)
    try:
        (c / ".servinfo").mkdir()
        shutil.copy2(entry.path, c / ".servinfo" / entry.name)
        backend("key", "--area", str(c), check=True)  # C has a key of its own
        r = backend("stop", "--area", str(c), "--all", "--timeout", "2")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "not stopped" in r.stdout + r.stderr
        time.sleep(0.5)
        assert proc.poll() is None, "B's server was signalled by a stop of area C"
        assert entry.path.exists()
        # The proof itself: B's server is a server of B, not of C.
        reg = entry.registration
        assert procs.prove_local_server(b, reg) is not None
        assert procs.prove_local_server(c, reg) is None
        assert not procs.terminate_if_ours(c, reg, True)
        other_db = registry.Registration(reg.host, reg.port, reg.start, reg.server_id,
                                         reg.pid, "1.db", dict(reg.extras))
        assert procs.prove_local_server(b, other_db) is None
        wrong_start = registry.Registration(
            reg.host, reg.port, reg.start, reg.server_id, reg.pid, reg.dbfname,
            {**reg.extras, "proc-start": f"{(reg.proc_start or 0) - 50:.3f}"},
        )
        assert procs.prove_local_server(b, wrong_start) is None
    finally:
        assert stop_proc(proc) == 0


def test_copied_area_never_writes_into_the_source_area(tmp_path: Path) -> None:
    """`cp -a` of a live area: same key, same registration; the copy's clients skip
    the source's server (another area identity) and start their own."""
    b = make_area(tmp_path / "b")
    proc, entry = start_server(b)
    copy = tmp_path / "copy"
    try:
        subprocess.run(["cp", "-a", str(b), str(copy)], check=True)
        with Client(copy) as cl:
            cl.call("set-var", "where", "copy", deadline=20)
            assert cl.last_server != f"{entry.registration.host}:{entry.registration.port}"
        with Client(b, launch=None) as cl:
            assert cl.call("get-var", "where") is None, "the copy wrote into the source area"
        # The copied registration is left alone (it names a live server).
        assert (copy / ".servinfo" / entry.name).exists()
        assert proc.poll() is None
        r = backend("stop", "--area", str(copy), "--server-id", entry.registration.server_id,
                    "--timeout", "1")
        assert r.returncode == 1 and "another area" in r.stdout, r.stdout
        assert proc.poll() is None
    finally:
        backend("stop", "--area", str(copy), "--all", "--timeout", "5")
        assert stop_proc(proc) == 0


def test_a_request_naming_another_area_is_refused_wrong_area(area: Path) -> None:
    proc, entry = start_server(area)
    try:
        conn, meta = authed(area, entry)
        other = Connection(entry.registration.host, entry.registration.port, 5)
        pong = other.ping(5)
        other.close()
        assert pong.meta["area"] == Area.open(area).identity((area / ".mtkey").read_text().strip().encode())
        resp = conn.request(["get-var", None, ["x"], {**meta, "area": "1-0000"}], 5)
        assert resp.error_code == "wrong_area", resp
        resp = conn.request(["get-var", None, ["x"], {**meta, "area": pong.meta["area"]}], 5)
        assert resp.status == protocol.OK, resp
        conn.close()
    finally:
        assert stop_proc(proc) == 0


def test_stop_of_a_real_server_still_falls_back_to_sigterm_when_proven(area: Path) -> None:
    """The proof admits a real server of the area (launched form and forked title)."""
    proc, entry = start_server(area)
    try:
        os.kill(proc.pid, signal.SIGSTOP)  # it cannot answer `stop`
        found = procs.prove_local_server(area, entry.registration)
        assert found is not None and found.pid == proc.pid
        assert isinstance(found, psutil.Process)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        assert stop_proc(proc) == 0
    wait_for(lambda: not entries(area), 10, what="file removed")
