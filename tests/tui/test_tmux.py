"""Drive ``mttui`` in a real terminal (tmux) as a person would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import clean_env, kill_area_processes

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed"),
]
MTTUI = str(Path(sys.executable).with_name("mttui"))


class Tmux:
    def __init__(self, tmp: Path) -> None:
        self.socket = str(tmp / "tmux.sock")

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True,
                              text=True, timeout=10).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time: a lone Escape followed at once by a key
            self("send-keys", "-t", "mt", key)  # would read as Alt+key
            time.sleep(0.3)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "mt")

    def wait(self, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} not on screen:\n{screen}")
            time.sleep(0.1)


def test_demo_in_tmux(tmp_path: Path) -> None:
    """--demo: rows show, keys work, q exits cleanly and the demo area is removed."""
    tmux = Tmux(tmp_path)
    demo_tmp = tmp_path / "tmp"
    demo_tmp.mkdir()
    env = {**clean_env(), "TMPDIR": str(demo_tmp)}
    # Textual draws on stderr, so nothing is redirected: the pane itself must show
    # no traceback once the app has left the alternate screen.
    cmd = f"{MTTUI} --demo; echo EXIT=$?; sleep 60"
    try:
        subprocess.run(["tmux", "-S", tmux.socket, "new-session", "-d", "-s", "mt", "-x", "160",
                        "-y", "45", cmd], env=env, check=True, timeout=10)
        screen = tmux.wait("RUNNING")
        assert "main.db" in screen and "1.db" in screen and "inotify" in screen
        tmux.keys("?")
        tmux.wait("this help")
        tmux.keys("Escape", "Enter")
        tmux.wait("Log tail")
        tmux.keys("Escape", "s")
        tmux.wait("Stop server")
        tmux.keys("Escape", "q")
        text = tmux.wait("EXIT=", timeout=30)
        assert "EXIT=0" in text and "Traceback" not in text, text
        assert list(demo_tmp.iterdir()) == [], "demo area not removed"
    finally:
        tmux("kill-server")
        kill_area_processes(demo_tmp)


def test_nonexistent_area_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([MTTUI, "--area", str(tmp_path / "nope")], capture_output=True,
                          text=True, timeout=20, env=clean_env())
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr
    assert os.path.basename(MTTUI) == "mttui"
