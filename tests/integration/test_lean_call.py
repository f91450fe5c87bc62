"""A ``backend call`` to a running server imports only what a call needs
(issue 16 item 1): checked on the imports themselves, not on time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import backend, clean_env

HEAVY = ("asyncio", "psutil", "sqlite3", "logging", "prometheus_client", "textual", "mttui",
         "backend.db", "backend.server", "backend.client.launcher", "backend.ops", "backend.stats")


def _imported(area: Path, *call: str) -> tuple[str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "backend", "call", "--area", str(area), *call],
        capture_output=True, text=True, timeout=60, env=clean_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    return proc.stdout.strip(), modules


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}


def test_call_to_a_running_server_imports_no_heavy_module(area: Path) -> None:
    # The first call starts the server (the launcher's imports are fine there).
    backend("call", "--area", str(area), "set-var", "color", "blue", check=True)
    out, modules = _imported(area, "get-var", "color")
    assert out == "blue"
    assert "backend.client.client" in modules and "msgpack" in modules  # really a wire call
    assert not _heavy(modules), sorted(_heavy(modules))
    out, modules = _imported(area, "set-var", "color", "red")
    assert not _heavy(modules), sorted(_heavy(modules))
    assert _imported(area, "get-var", "color")[0] == "red"


def test_direct_call_still_reads_the_db(area: Path) -> None:
    backend("call", "--area", str(area), "set-var", "n", "7", check=True)
    out, modules = _imported(area, "--direct", "get-var", "n")
    assert out == "7"
    assert "sqlite3" in modules  # --direct is the path that may pay for the db
