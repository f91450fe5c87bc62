"""A monitor whose shutdown hangs (its terminal is gone) still ends on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

# An app whose exit() does nothing stands in for Textual blocking on a dead pty.
CHILD = """
import asyncio, sys
from pathlib import Path
import mttui.__main__ as m
m.FORCED_EXIT_AFTER_S = 0.5
class StuckApp:
    def exit(self):
        pass
marker = Path(sys.argv[1])
m._exit_on_signals(StuckApp(), cleanup=lambda: marker.write_text("cleaned"))
async def main():
    print("ready", flush=True)  # from inside the loop, as a signal to a running app comes
    await asyncio.sleep(60)
asyncio.run(main())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stuck_shutdown_ends_the_process_after_cleanup(tmp_path: Path, sig: signal.Signals) -> None:
    marker = tmp_path / "cleanup-ran"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(marker)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(20) == 128 + sig
        assert time.monotonic() - t0 < 15
        assert marker.read_text() == "cleaned"  # the demo's processes are still stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()
