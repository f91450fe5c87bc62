"""The ``cli`` scenario: what a test script pays per step it records through
the command line. ``backend call --area A get-var k`` against a warm server,
run the way a user runs it (the installed ``backend`` entry point next to this
interpreter), against ``python -c pass`` with the same interpreter and the same
environment; interleaved, alternating who goes first. Plus the
``python -X importtime`` top entries of one such call, so a change to the
import path can show its before and after.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

Result = dict[str, Any]


def backend_command() -> list[str]:
    """The ``backend`` console script of this environment; ``-m backend`` only
    when no script is installed (then the figure includes runpy, and says so)."""
    script = Path(sys.executable).with_name("backend")
    if script.is_file():
        return [str(script)]
    found = shutil.which("backend")
    if found:
        return [found]
    return [sys.executable, "-m", "backend"]


def _timed_ms(argv: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    ms = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {done.returncode}: {err[-1:] or ''}")
    return ms


def parse_importtime(stderr: str, top: int = 15) -> list[dict[str, Any]]:
    """The ``top`` imports by cumulative time from ``-X importtime`` output.

    Lines look like ``import time:       123 |       4567 |   package.module``
    (self µs, cumulative µs, the name indented by nesting depth).
    """
    rows: list[dict[str, Any]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        rows.append({"module": parts[2].strip(), "self_us": int(parts[0]),
                     "cumulative_us": int(parts[1])})
    rows.sort(key=lambda r: r["cumulative_us"], reverse=True)
    return rows[:top]


def importtime(call: list[str]) -> dict[str, Any]:
    """One ``backend call`` under ``-X importtime``: its top imports and module count."""
    argv = call if call[0] == sys.executable else [sys.executable, *call]
    argv = [argv[0], "-X", "importtime", *argv[1:]]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    text = done.stderr.decode(errors="replace")
    modules = sum(1 for line in text.splitlines() if line.startswith("import time:")) - 1
    return {"command": argv, "exit": done.returncode,
            "modules": max(modules, 0), "top": parse_importtime(text)}


def bench_cli(work: Path, reps: int) -> tuple[list[Result], dict[str, Any]]:
    from backend.area import Area
    from backend.client.client import Client
    from backend.client.control import stop_servers
    from backend.client.standby import stop_standby
    from backend.config import load_settings

    root = work / "cli-area"
    root.mkdir()
    area = Area.open(root)
    backend = backend_command()
    call = [*backend, "call", "--area", str(root), "get-var", "k"]
    bare = [sys.executable, "-c", "pass"]
    rows: list[Result] = []
    try:
        with Client(area) as client:  # starts the server: every timed call finds it warm
            client.call("set-var", "k", "v")
        _timed_ms(call)  # the first call after a start also fills the OS page cache
        for rep in range(reps):
            order = [("baseline", bare), ("mtserve", call)]
            if rep % 2:
                order.reverse()
            for target, argv in order:
                rows.append({"scenario": "backend call", "target": target, "rep": rep,
                             "ms": _timed_ms(argv)})
        imports = importtime(call)
    finally:
        stop_servers(area, load_settings(root), timeout=10)
        stop_standby(area)
    return rows, imports
