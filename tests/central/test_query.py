"""``backend central``: runs and test history across areas, text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from tests.central.util import demo_area, local_write, sync
from tests.helpers import backend


def test_runs_and_history_across_areas(tmp_path: Path, central_url: str) -> None:
    a = demo_area(tmp_path / "alpha", tests=2, runname="nightly", seed=1)
    b = demo_area(tmp_path / "beta", tests=2, runname="nightly", seed=2)
    local_write(b, "main.db", "UPDATE runs SET RELEASE = 'v2.0'")
    other = demo_area(tmp_path / "gamma", tests=1, runname="gone", seed=3)
    for root in (a, b, other):
        sync(root, central_url)
    local_write(other, "main.db", "UPDATE runs SET state = 'deleted'")
    sync(other, central_url)

    res = backend("central", "--to", central_url, "runs", "--json")
    assert res.returncode == 0, res.stderr
    runs = json.loads(res.stdout)
    assert sorted((r["area_name"], r["target"], r["run_name"]) for r in runs) == [
        ("alpha", "linux/v1.0", "nightly"), ("beta", "linux/v2.0", "nightly")]  # deleted run hidden
    res = backend("central", "--to", central_url, "runs", "--target", "%/v2%", "--json")
    assert [r["area_name"] for r in json.loads(res.stdout)] == ["beta"]
    res = backend("central", "--to", central_url, "runs", "--deleted", "--json")
    assert len(json.loads(res.stdout)) == 3

    res = backend("central", "--to", central_url, "tests", "test01", "--item", "item/%")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["AREA", "TARGET", "RUN", "ITEM", "STATE", "STATUS", "HOST", "TIME"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["alpha"] * 2 + ["beta"] * 2
    res = backend("central", "--to", central_url, "tests", "test01", "--target", "linux/v1.0", "--json")
    hist = json.loads(res.stdout)
    assert {h["area_name"] for h in hist} == {"alpha"} and {h["item_path"] for h in hist} == {"", "item/0", "item/1"}
    res = backend("central", "--to", central_url, "tests", "nosuchtest", "--json")
    assert res.returncode == 0 and json.loads(res.stdout) == []


def test_empty_central_database_is_one_clear_line(central_url: str) -> None:
    res = backend("central", "--to", central_url, "runs")
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "no central schema yet" in res.stderr and "backend sync" in res.stderr
