"""Fallback demo load: ``set-var``/``get-var`` every ~0.3 s on main.db and run 1.

Used by ``mttui --demo`` only when ``backend demo-load`` is not available.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import time

from backend.client.client import Client
from backend.errors import BackendError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mttui.loadloop")
    parser.add_argument("--area", required=True)
    parser.add_argument("--period", type=float, default=0.3)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Client(args.area) as client:
        for i in itertools.count():
            for run_id in (None, 1):
                try:
                    client.call("set-var", f"demo-{i % 10}", str(i), run_id=run_id)
                    client.call("get-var", f"demo-{i % 10}", run_id=run_id)
                except BackendError as exc:
                    print(f"load: {exc}", flush=True)
            time.sleep(args.period)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
