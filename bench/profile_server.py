"""Profile our server under the bench's load with py-spy (issue 16 item 2).

``python -m bench.profile_server ping1|ping50|write1|write50 [SECONDS]`` starts a
server in a temporary area, records it with ``py-spy record -f raw`` (py-spy
from PyPI, not a dependency: ``pip install py-spy``) while ``bench.loadgen``
drives it, and prints the self-time shares of the busy threads (the db and
executor threads' idle waits dropped; the epoll wait shown as idle).
"""

from __future__ import annotations

import collections
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import loadgen, targets

LOADS = {"ping1": ("ping", 1), "ping50": ("ping", 50), "write1": ("write", 1), "write50": ("write", 50)}


def self_time(raw: Path, top: int = 12) -> list[tuple[float, str]]:
    """(share %, function (file)) of the server's busy samples, largest first."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not any("run_server" in f or "Store.run" in f for f in frames):
            continue  # an idle helper thread
        name, _, loc = frames[-1].partition(" (")
        if name.endswith("DbWorker._main"):
            continue  # the db thread waiting for work
        where = loc.split(":")[0].rsplit("/", 1)[-1]
        label = "(epoll wait: idle)" if where == "selectors.py" else f"{name} ({where})"
        counts[label] += int(n)
        total += int(n)
    return [(100 * n / total, label) for label, n in counts.most_common(top)]


def profile(load: str, seconds: float, out: Path) -> float:
    """Record one server under ``load``; the load's rate (req/s)."""
    kind, conns = LOADS[load]
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    keys = itertools.count()

    def make(_i: int) -> list[Any]:
        if kind == "ping":
            return ["ping", None, [], None]
        return ["set-var", None, [f"k{next(keys)}", "v"], None]

    with tempfile.TemporaryDirectory() as tmp:
        area = Path(tmp) / "area"
        area.mkdir()
        subprocess.run([sys.executable, "-m", "backend", "key", "--area", str(area)],
                       check=True, capture_output=True)
        target = targets.start_ours(area)
        try:
            rec = subprocess.Popen([spy, "record", "-r", "200", "-f", "raw", "-o", str(out),
                                    "--pid", str(target.pid), "-d", str(int(seconds) + 1)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            if conns == 1:
                n, elapsed = loadgen.sequential(target, make, seconds)
            else:
                n, elapsed = loadgen.concurrent(target, make, conns, seconds)
            rec.wait(timeout=120)
        finally:
            target.proc.terminate()
            target.proc.wait(10)
    return n / elapsed


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in LOADS:
        print(f"usage: python -m bench.profile_server {'|'.join(LOADS)} [SECONDS]", file=sys.stderr)
        return 2
    out = Path(tempfile.gettempdir()) / f"mtserve-profile-{argv[0]}.raw"
    rate = profile(argv[0], float(argv[1]) if len(argv) > 1 else 5.0, out)
    print(f"{argv[0]}: {rate:,.0f} req/s; raw stacks in {out}")
    for share, label in self_time(out):
        print(f"{share:5.1f} %  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
