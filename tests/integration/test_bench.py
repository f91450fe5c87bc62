"""The benchmark harness works end to end (it does not assert speed)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import backend


def test_bench_runs_a_tiny_scenario_and_writes_wellformed_output(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = backend("bench", "--quick", "--scenario", "ping", "--scenario", "start", "--scenario", "cold-call",
                "--reps", "2", "--duration", "0.2", "--json", str(out), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "| ping c1 |" in r.stdout and "| cold-call |" in r.stdout
    data = json.loads(out.read_text())
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
