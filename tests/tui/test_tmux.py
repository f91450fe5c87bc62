"""Drive ``mttui`` in a real terminal (tmux) as a person would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import clean_env, kill_area_processes, make_area

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
        tmux.wait("live view of an area")
        assert "serve restarts a stopped server" in screen  # the demo explains itself
        tmux.keys("Escape", "Enter")
        tmux.wait("Log tail")
        # Issue 15 item 6: "/" on the detail screen must not filter the table below.
        tmux.keys("/", "z", "z", "z", "Escape")
        screen = tmux.wait("RUNNING")
        assert "zzz" not in screen and "filter" not in screen.split("\n")[1], screen
        # A dialog's footer shows its own keys, not the table's.
        tmux.keys("s")
        tmux.wait("Stop 1 server?")
        screen = tmux.wait("y Yes")  # the footer is drawn after the dialog
        footer = screen.rstrip().splitlines()[-1]
        assert "Yes" in footer and "Quit" not in footer and "Ping" not in footer, footer
        tmux.keys("Escape", "C-c")  # Ctrl-C quits, as in htop and k9s
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


def test_failed_start_in_an_immutable_area_is_one_notification(tmp_path: Path) -> None:
    """Issue 15 item 1 as reported: chattr +i A; mttui --area A; n; Enter."""
    area = make_area(tmp_path / "area")
    if subprocess.run(["chattr", "+i", str(area)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root and a filesystem that supports it")
    tmux = Tmux(tmp_path)
    cmd = f"{MTTUI} --area {area}; echo EXIT=$?; sleep 60"
    try:
        subprocess.run(["tmux", "-S", tmux.socket, "new-session", "-d", "-s", "mt", "-x", "100",
                        "-y", "30", cmd], env=clean_env(), check=True, timeout=10)
        tmux.wait("ping every")
        tmux.keys("n")
        tmux.wait("Start a server for which db?")
        tmux.keys("Enter")
        screen = tmux.wait("start failed", timeout=10)
        assert "cannot create" in screen and "Traceback" not in screen, screen
        time.sleep(1.0)
        screen = tmux.screen()
        assert "EXIT=" not in screen and screen.count("start failed") == 1, screen
        tmux.keys("C-c")
        text = tmux.wait("EXIT=", timeout=30)
        assert "EXIT=0" in text and "Traceback" not in text, text
    finally:
        tmux("kill-server")
        kill_area_processes(area)
        subprocess.run(["chattr", "-i", str(area)], check=False)


def test_demo_fits_80x24_with_traffic_and_events(tmp_path: Path) -> None:
    """At 80x24 the columns that matter are all on screen, the sort arrow shows,
    traffic figures come in, ``g`` groups per db and ``e`` opens the events pane."""
    tmux = Tmux(tmp_path)
    demo_tmp = tmp_path / "tmp"
    demo_tmp.mkdir()
    env = {**clean_env(), "TMPDIR": str(demo_tmp)}
    cmd = f"{MTTUI} --demo; echo EXIT=$?; sleep 60"
    try:
        subprocess.run(["tmux", "-S", tmux.socket, "new-session", "-d", "-s", "mt", "-x", "80",
                        "-y", "24", cmd], env=env, check=True, timeout=10)
        screen = tmux.wait("RUNNING")
        header = next(line for line in screen.splitlines() if "State" in line)
        for label in ("Server ▲", "DB", "State", "Load", "Req/s", "Age", "Touched"):
            assert label in header, (label, header)
        assert "Server-id" not in header and "Ping ms" not in header
        assert all(len(line) <= 80 for line in screen.splitlines())
        tmux.keys("7")  # sort by Touched: its arrow shows though the column is narrow
        tmux.wait("Touched ▲")
        # Traffic: a rate appears once two polls (5 s apart) have been read.
        def rates() -> list[str]:  # Req/s: the fifth word of a server's row
            return [line.split()[4] for line in tmux.screen().splitlines()
                    if "RUNNING" in line and len(line.split()) >= 7]

        end = time.monotonic() + 30
        while not any(re.fullmatch(r"\d+\.\d", r) for r in rates()):
            assert time.monotonic() < end, tmux.screen()
            time.sleep(0.5)
        tmux.keys("g")
        tmux.wait("1 server")
        tmux.keys("e")
        tmux.wait("Events, newest first")
        tmux.wait("started")
        tmux.keys("q")
        text = tmux.wait("EXIT=", timeout=30)
        assert "EXIT=0" in text and "Traceback" not in text, text
    finally:
        tmux("kill-server")
        kill_area_processes(demo_tmp)
