"""The benchmark harness works end to end (it does not assert speed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import redis_peer
from bench.cli_call import parse_importtime
from tests.helpers import backend, clean_env


def test_bench_runs_a_tiny_scenario_and_writes_wellformed_output(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = backend("bench", "--quick", "--scenario", "ping", "--scenario", "start", "--scenario", "cold-call",
                "--reps", "2", "--duration", "0.2", "--output", str(out), "--check", timeout=120)
    assert "| ping c1 |" in r.stdout and "| cold-call |" in r.stdout
    data = json.loads(out.read_text())
    # --check: exit 1 exactly when a goal is missed (tiny runs on a shared machine may miss one).
    missed = [row["scenario"] for row in data["summary"] if row.get("meets_goal") is False]
    assert r.returncode == (1 if missed else 0), r.stderr
    assert ("goal not met" in r.stderr) == bool(missed)
    assert data["quick"] is True and data["machine"]["cpus"] >= 1
    by = {row["scenario"]: row for row in data["summary"]}
    assert set(by) == {"ping c1", "ping c50", "start, first in area", "start", "cold-call"}
    for name in ("ping c1", "ping c50"):
        row = by[name]
        assert row["reps"] == 2 and row["ours_rps"] > 0 and row["base_rps"] > 0
        assert row["ratio_min"] <= row["ratio"] <= row["ratio_max"]
        assert row["ours_cpu_us"] >= 0 and isinstance(row["meets_goal"], bool)
    assert by["cold-call"]["p50_ms"] > 0 and by["cold-call"]["reps"] == 2
    for name in ("start, first in area", "start"):  # quick: at least 5 starts of each kind
        assert by[name]["reps"] == 5 and by[name]["min_ms"] <= by[name]["p50_ms"] <= by[name]["p99_ms"]
        assert by[name]["base_p50_ms"] > 0
    assert isinstance(by["start"]["meets_goal"], bool) and "meets_goal" not in by["start, first in area"]
    targets = {(x["scenario"], x["target"]) for x in data["results"]}
    assert ("ping c1", "baseline") in targets and ("ping c1", "mtserve") in targets


def test_bench_rejects_bad_flags() -> None:
    r = backend("bench", "--reps", "0", timeout=30)
    assert r.returncode == 2 and "--reps" in r.stderr


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (a leak check)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_bench_redis_rows_are_wellformed_and_redis_is_reaped(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**clean_env(), "TMPDIR": str(tmp_path)}  # the bench's temp dir, Redis's --dir, under tmp_path
    r = backend("bench", "--quick", "--scenario", "redis", "--reps", "2", "--duration", "0.2",
                "--output", str(out), timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "| Redis ping c1 |" in r.stdout and "| Redis durable write c50 |" in r.stdout
    data = json.loads(out.read_text())
    by = {row["scenario"]: row for row in data["summary"]}
    assert set(by) == {"Redis ping c1", "Redis ping c50", "Redis durable write c1", "Redis durable write c50"}
    for row in by.values():
        assert row["reps"] == 2 and row["ours_rps"] > 0 and row["base_rps"] > 0
        assert row["ratio_min"] <= row["ratio"] <= row["ratio_max"]
        assert row["ours_cpu_us"] >= 0 and row["base_cpu_us"] >= 0
    assert isinstance(by["Redis durable write c50"]["meets_goal"], bool)
    assert "meets_goal" not in by["Redis ping c1"]
    assert {(x["scenario"], x["target"]) for x in data["results"]} >= {
        ("Redis durable write c1", "redis"), ("Redis durable write c1", "mtserve")}
    assert data["notes"] == []
    assert _processes_mentioning(str(tmp_path)) == []


def test_bench_skips_redis_rows_with_a_note_when_redis_is_missing(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()  # a PATH with no redis-server on it
    out = tmp_path / "bench.json"
    env = {**clean_env(), "PATH": str(tmp_path / "bin")}
    r = backend("bench", "--quick", "--scenario", "redis", "--scenario", "ping", "--reps", "1",
                "--duration", "0.1", "--output", str(out), timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "note: Redis rows skipped: redis-server is not on PATH" in r.stdout
    data = json.loads(out.read_text())
    assert [row["scenario"] for row in data["summary"]] == ["ping c1", "ping c50"]
    assert len(data["notes"]) == 1 and "apt-get install redis-server" in data["notes"][0]


def test_bench_cli_scenario_times_backend_call_against_a_bare_interpreter(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = backend("bench", "--quick", "--scenario", "cli", "--reps", "1", "--output", str(out), timeout=180)
    assert r.returncode == 0, r.stderr
    assert "| backend call |" in r.stdout and "bare `python -c pass`" in r.stdout
    data = json.loads(out.read_text())
    (row,) = data["summary"]
    assert row["scenario"] == "backend call" and row["reps"] == 10  # quick: at least 10 of each
    assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p99_ms"] and 0 < row["base_p50_ms"] <= row["base_p99_ms"]
    assert row["vs_base_p50"] == row["p50_ms"] / row["base_p50_ms"] and isinstance(row["meets_goal"], bool)
    assert sorted(x["target"] for x in data["results"]) == ["baseline"] * 10 + ["mtserve"] * 10
    imports = data["cli_importtime"]
    assert imports["exit"] == 0 and imports["modules"] > 10 and 0 < len(imports["top"]) <= 15
    cumulative = [x["cumulative_us"] for x in imports["top"]]
    assert cumulative == sorted(cumulative, reverse=True)
    assert any(x["module"].startswith("backend") for x in imports["top"])


def test_resp_codec_reads_every_reply_kind_and_waits_for_incomplete_ones() -> None:
    assert redis_peer.encode([b"SET", b"k1", b"v"]) == b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nv\r\n"
    wire = b"+PONG\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n-ERR no\r\n"
    values, pos = [], 0
    while pos < len(wire):
        got = redis_peer.parse(wire, pos)
        assert got is not None
        value, pos = got
        values.append(value)
    assert values[:5] == ["PONG", 42, b"abc", None, [b"a", 1]]
    assert isinstance(values[5], redis_peer.RespError) and str(values[5]) == "ERR no"
    for reply in (b"+PONG\r\n", b":42\r\n", b"$3\r\nabc\r\n", b"$-1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n"):
        for cut in range(len(reply)):  # every proper prefix is "not yet", never a wrong value
            assert redis_peer.parse(reply[:cut]) is None, reply[:cut]
    with pytest.raises(redis_peer.RespError):
        redis_peer.parse(b"?what\r\n")


def test_importtime_parser_sorts_by_cumulative_and_skips_the_header() -> None:
    text = ("import time: self [us] | cumulative | imported package\n"
            "import time:       100 |        100 |   json.decoder\n"
            "import time:       300 |        900 | json\n"
            "import time:        50 |       5000 | backend.cli\n"
            "some other stderr line\n")
    top = parse_importtime(text, top=2)
    assert top == [{"module": "backend.cli", "self_us": 50, "cumulative_us": 5000},
                   {"module": "json", "self_us": 300, "cumulative_us": 900}]


def test_bench_names_a_redis_server_that_will_not_start_in_one_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR' >&2\nexit 1\n")
    fake.chmod(0o755)
    env = {**clean_env(), "PATH": str(bin_dir), "TMPDIR": str(tmp_path)}
    r = backend("bench", "--quick", "--scenario", "redis", "--reps", "1", "--duration", "0.1",
                timeout=120, env=env)
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if not line.startswith("bench: ")]
    assert lines == [lines[0]] and "redis-server did not start" in lines[0], r.stderr
    assert "FATAL CONFIG FILE ERROR" in lines[0] and "Traceback" not in r.stderr
    assert _processes_mentioning(str(tmp_path)) == []  # our own server was stopped too
