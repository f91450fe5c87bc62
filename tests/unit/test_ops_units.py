"""Unit tests of the operator's pieces: log rotation and removal, the command
summaries, concurrent pings against local sockets, the progress line."""

from __future__ import annotations

import io
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from backend import logfiles
from backend.cli.progress import Progress
from backend.commandhelp import ARITY, SUMMARIES, arity_problem, summaries
from backend.db.api import COMMANDS
from backend.errors import RemoteError
from backend.ops.demoload import LocalCaller
from backend.wire import protocol
from backend.wire.pingall import grace_after, ping_all

DOCS_API = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_rotating_log_rotates_by_size_and_keeps_one_old_file(tmp_path: Path) -> None:
    path = tmp_path / "server-main.db-42.log"
    log = logfiles.RotatingLog(path, max_bytes=100)
    for i in range(30):
        log.write(f"line {i:03d} .........\n")  # 20 bytes
    log.close()
    old = path.with_name(path.name + ".1")
    assert path.stat().st_size <= 100 and old.stat().st_size <= 100
    assert path.read_text().splitlines()[-1] == "line 029 ........."
    assert not list(tmp_path.glob("*.2"))


def test_rotating_log_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "server-main.db-1.log").symlink_to(target)
    try:
        logfiles.RotatingLog(tmp_path / "server-main.db-1.log", 100)
    except OSError:
        pass
    else:
        raise AssertionError("followed a symlink")


def test_old_logs_are_removed_by_count_but_never_a_running_servers(tmp_path: Path) -> None:
    dead_pids = [2_000_000_000 + i for i in range(5)]  # above pid_max: never running
    for i, pid in enumerate(dead_pids):
        p = tmp_path / f"server-1.db-{pid}.log"
        p.write_text(f"2026-01-01 00:00:0{i},000 INFO x\n")
        (tmp_path / f"server-1.db-{pid}.log.1").write_text("old\n")
    mine = tmp_path / f"server-main.db-{os.getpid()}.log"
    mine.write_text("1999-01-01 00:00:00,000 INFO oldest of all, but running\n")
    removed = logfiles.remove_old_logs(tmp_path, keep=2)
    left = sorted(f.pid for f in logfiles.server_logs(tmp_path))
    assert left == sorted([os.getpid(), *dead_pids[-2:]])
    assert len(removed) == 6  # three logs and their .1
    # Newest server first, by the first line's time.
    assert [f.pid for f in logfiles.server_logs(tmp_path)][:2] == [dead_pids[4], dead_pids[3]]


def test_every_served_command_has_one_summary_naming_a_documented_command() -> None:
    documented = set(re.findall(r"^#{3,4} `([^`]+)`", DOCS_API.read_text(), re.M))
    documented |= {"set-var", "del-var"}  # documented together under get-var's heading
    assert set(SUMMARIES) == set(COMMANDS)  # call --help has a line for every command
    assert set(SUMMARIES) <= documented
    assert all(0 < len(line) <= 110 and "\n" not in line for line in SUMMARIES.values())
    text = summaries(sorted(COMMANDS))
    assert all(name in text for name in COMMANDS)


def _answering_server(delay: float = 0.0) -> tuple[socket.socket, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            time.sleep(delay)
            resp = ["ok", None, "sid", {"sstate": "running", "sload": 0, "nonce": "ab"}]
            conn.sendall(protocol.encode(resp))
            conn.recv(1)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return listener, t


def test_ping_all_decides_on_the_first_answer_without_waiting_for_a_silent_peer() -> None:
    healthy, _ = _answering_server()
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers: "frozen"
    refused = socket.create_server(("127.0.0.1", 0))
    refused_port = refused.getsockname()[1]
    refused.close()
    try:
        t0 = time.monotonic()
        probes = ping_all(
            [("127.0.0.1", silent.getsockname()[1]), ("127.0.0.1", healthy.getsockname()[1]),
             ("127.0.0.1", refused_port)],
            timeout=5.0,
        )
        took = time.monotonic() - t0
        assert took < 1.0, took
        frozen, ok, gone = probes
        assert frozen.pending and not frozen.timed_out
        assert ok.result is not None and ok.result.ok and ok.conn is not None and ok.conn.nonce == "ab"
        assert gone.result is not None and not gone.result.ok
        ok.conn.close()
        # With nothing usable, the silent one waits out the timeout and says so.
        (only,) = ping_all([("127.0.0.1", silent.getsockname()[1])], timeout=0.3)
        assert only.timed_out and only.result is not None and not only.result.ok
    finally:
        healthy.close()
        silent.close()


def test_grace_is_bounded() -> None:
    assert grace_after(0.0) == 0.002 and grace_after(0.01) == 0.02 and grace_after(5) == 0.05


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_prints_once_after_the_delay_and_only_on_a_terminal() -> None:
    out = _Tty()
    with Progress("waiting for x", delay=0.05, stream=out) as p:
        time.sleep(0.2)
        p.set("waiting for y")
    assert out.getvalue() == "backend: waiting for x ...\n"
    quick = _Tty()
    with Progress("waiting", delay=0.5, stream=quick):
        pass
    assert quick.getvalue() == ""
    plain = io.StringIO()
    with Progress("waiting", delay=0.01, stream=plain):
        time.sleep(0.1)
    assert plain.getvalue() == ""
    quiet = _Tty()
    with Progress("waiting", delay=0.01, stream=quiet, enabled=False):
        time.sleep(0.1)
    assert quiet.getvalue() == ""


MAIN_DB_COMMANDS = {"get-keys", "register-run", "get-run-info", "get-runs-by-patt"}


def test_the_client_side_param_counts_are_the_handlers(lc: LocalCaller) -> None:
    """``commandhelp.ARITY`` (checked by the client before launching) must say
    exactly what each handler accepts: one param more than the most, or one
    fewer than the fewest, is the handler's own ``expected N params``."""
    assert lc.call("register-run", {"SYSTEM": "x"}, "r1") == 1
    assert set(ARITY) <= set(COMMANDS)
    for name, (low, high) in ARITY.items():
        run_id = None if name in MAIN_DB_COMMANDS else 1
        counts = [high + 1] + ([low - 1] if low > 0 else [])
        for n in counts:
            with pytest.raises(RemoteError) as info:
                lc.call(name, *([None] * n), run_id=run_id)
            assert info.value.message == arity_problem(name, n), (name, n, info.value.message)
        assert arity_problem(name, low) is None and arity_problem(name, high) is None
