"""Counters, the stats data model, metric families and the event file, without
servers (the integration tests run them for real)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from backend import events, registry
from backend.area import Area
from backend.client.statsfetch import Sample
from backend.errors import ProtocolError
from backend.ops.metrics import families
from backend.server.counters import INVALID_REQUEST, UNKNOWN_COMMAND, Counters
from backend.stats import LATENCY_BOUNDS, ServerStats, percentile, summarize
from backend.wire import protocol

IDENTITY = {"server_id": "a" * 32, "dbfname": "main.db", "pid": 42, "host": "127.0.0.1",
            "port": 40000, "hostname": "h", "state": "running", "started": 1000.0}


def _snapshot(c: Counters, now: float = 1010.0, **identity: Any) -> ServerStats:
    return ServerStats.from_wire(c.snapshot({**IDENTITY, **identity}, 0, None, now))


def test_counts_by_command_and_outcome_and_a_histogram_per_command() -> None:
    c = Counters(["set-var", "get-var"])
    ok = [protocol.OK, None, True, {}]
    for _ in range(5):
        c.count_request("set-var", ok, 0.0003)
    c.count_request("set-var", protocol.error_wire("db_busy", "locked", {}), 2.0)
    c.count_request("get-var", [protocol.LOADED, None, 1, {}], 0.00001)
    c.count_request("get-var", [protocol.BUSY, None, 0.1, {}], 0.00001)
    c.count_request("made-up", protocol.error_wire("unknown_command", "x", {}), 0.0001)
    c.count_request(INVALID_REQUEST, protocol.error_wire("bad_request", "", {}), 0.0001)
    s = _snapshot(c)
    sv = s.commands["set-var"]
    assert sv.outcomes == {"ok": 5, "db_busy": 1} and sv.count == 6 and sv.errors == 1
    assert sum(sv.buckets) == 6
    assert sv.buckets[LATENCY_BOUNDS.index(0.0005)] == 5  # 0.3 ms <= 0.5 ms bucket
    assert sv.buckets[LATENCY_BOUNDS.index(2.5)] == 1
    assert s.commands["get-var"].outcomes == {"loaded": 1, "busy": 1}
    assert s.commands["get-var"].errors == 1  # busy is not an answer
    # Names we do not serve share one row: a client cannot grow the map.
    assert s.commands[UNKNOWN_COMMAND].outcomes == {"unknown_command": 1}
    assert "made-up" not in s.commands
    assert s.commands[INVALID_REQUEST].outcomes == {"bad_request": 1}
    assert s.requests == 10 and s.errors == 4
    assert s.uptime_s == 10.0


def test_connection_auth_and_db_counters() -> None:
    c = Counters([])
    c.count_connection()
    c.count_connection()
    c.connection_closed()
    c.count_refused()
    c.count_auth_failure()
    for size in (1, 1, 3, 256, 300):
        c.db.count_batch(size)
    s = _snapshot(c)
    assert (s.connections_open, s.connections_total, s.connections_refused) == (1, 2, 1)
    assert s.auth_failures == 1 and s.db_commits == 5
    assert s.batch_buckets[0] == 2 and s.batch_buckets[2] == 1 and s.batch_buckets[-2] == 1
    assert s.batch_buckets[-1] == 1


def test_counting_allocates_nothing_new_per_request() -> None:
    """The hot path only increments: no new keys, lists or command rows appear."""
    c = Counters(["set-var"])
    before = {name: (id(row), id(row.buckets), id(row.outcomes), len(row.outcomes))
              for name, row in c._by_cmd.items()}
    for i in range(1000):
        c.count_request("set-var" if i % 2 else f"junk-{i}", [protocol.OK, None, None, {}], 0.001)
    after = {name: (id(row), id(row.buckets), id(row.outcomes), len(row.outcomes))
             for name, row in c._by_cmd.items()}
    assert before == after


def test_from_wire_rejects_wrong_versions_and_shapes() -> None:
    wire = Counters([]).snapshot(IDENTITY, 0, None, 1001.0)
    with pytest.raises(ProtocolError, match="version"):
        ServerStats.from_wire({**wire, "version": 99})
    with pytest.raises(ProtocolError, match="pid"):
        ServerStats.from_wire({**wire, "pid": "42"})
    with pytest.raises(ProtocolError, match="buckets"):
        ServerStats.from_wire({**wire, "commands": {"x": {"outcomes": {"ok": 1}, "buckets": [1], "sum_s": 0}}})
    with pytest.raises(ProtocolError):
        ServerStats.from_wire(["not", "a", "map"])
    # Unknown keys are ignored (fields may be added without a version bump).
    assert ServerStats.from_wire({**wire, "new-field": 1}).pid == 42


def test_percentile_interpolates_within_buckets() -> None:
    bounds = (0.001, 0.01, 0.1)
    assert percentile(bounds, (0, 0, 0, 0), 0.5) is None
    assert percentile(bounds, (10, 0, 0, 0), 0.5) == pytest.approx(0.0005)
    assert percentile(bounds, (50, 50, 0, 0), 0.99) == pytest.approx(0.001 + 0.009 * 0.98)
    assert percentile(bounds, (0, 0, 0, 5), 0.5) == 0.1  # +Inf answers its lower bound


def test_summarize_rates_between_samples_and_restarts() -> None:
    c = Counters(["set-var"])
    for _ in range(10):
        c.count_request("set-var", [protocol.OK, None, None, {}], 0.002)
    first = _snapshot(c, now=1010.0)
    for _ in range(30):
        c.count_request("set-var", [protocol.OK, None, None, {}], 0.2)
    second = _snapshot(c, now=1012.0)
    s = summarize([second], {first.server_id: first})
    assert s.rate_now == pytest.approx(15.0) and s.requests == 40
    assert s.rate_avg == pytest.approx(40 / 12)
    assert s.p50_ms is not None and 100 < s.p50_ms <= 250  # the interval's latency, not the life's
    # A restarted server (other start time) is not compared with its predecessor.
    restarted = _snapshot(Counters([]), now=1012.0, started=1011.0)
    assert summarize([restarted], {first.server_id: first}).rate_now == 0.0
    assert summarize([second]).rate_now is None


def _entry(tmp_path: Path, server_id: str, pid: int) -> registry.Entry:
    reg = registry.Registration("127.0.0.1", 40000, 1000.0, server_id, pid, "main.db",
                                {"hostname": "h"})
    return registry.Entry(tmp_path / reg.name, reg, 1000.0, 0)


class _Fixed(Collector):
    def __init__(self, fams: list[Any]) -> None:
        self.fams = fams

    def collect(self) -> Any:
        return iter(self.fams)


def test_metric_families_render_and_parse_with_prometheus_client(tmp_path: Path) -> None:
    c = Counters(["set-var"])
    for _ in range(4):
        c.count_request("set-var", [protocol.OK, None, None, {}], 0.003)
    c.count_request("set-var", protocol.error_wire("db_error", "x", {}), 0.003)
    good = Sample(_entry(tmp_path, "a" * 32, 42), _snapshot(c))
    gone = Sample(_entry(tmp_path, "b" * 32, 43), None, "cannot connect")
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Fixed(families("/area", [good, gone], 360.0)))
    text = generate_latest(reg).decode()
    byname: dict[str, list[Any]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            byname.setdefault(s.name, []).append(s)
    up = {s.labels["server_id"][0]: s.value for s in byname["mtserve_up"]}
    assert up == {"a": 1.0, "b": 0.0}
    codes = {s.labels["code"]: s.value for s in byname["mtserve_requests_total"]}
    assert codes == {"ok": 4.0, "db_error": 1.0}
    [count] = byname["mtserve_request_duration_seconds_count"]
    assert count.value == 5 and count.labels["command"] == "set-var"
    assert {s.labels["le"] for s in byname["mtserve_request_duration_seconds_bucket"]} >= {"0.005", "+Inf"}
    assert byname["mtserve_db_bytes"][0].labels["file"] in ("db", "wal")
    assert sum(s.value for s in byname["mtserve_servers"]) == 2
    assert all(s.labels["area"] == "/area" for s in byname["mtserve_up"])


# -- events ---------------------------------------------------------------------------


@pytest.fixture
def ev_area(tmp_path: Path) -> Area:
    a = Area(tmp_path)
    a.ensure_dirs()
    return a


def test_record_event_appends_private_json_lines(ev_area: Area) -> None:
    events.record_event(ev_area, events.STARTED, dbfname="main.db", pid=1, server="127.0.0.1:1")
    events.record_event(ev_area, events.RETIRED, dbfname="main.db", pid=1, why="idle", obj=object())
    path = events.events_path(ev_area)
    assert (os.stat(path).st_mode & 0o777) == 0o600
    got = events.read_events(ev_area)
    assert [e["kind"] for e in got] == ["started", "retired"]
    assert got[0]["writer_pid"] == os.getpid() and got[0]["host"] and got[0]["time"] > 0
    assert got[1]["obj"].startswith("<object")  # not JSON: shown with str, not dropped
    assert "why=idle" in events.describe(got[1])


def test_record_event_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a = Area(tmp_path)
    a.ensure_dirs()
    os.symlink("/etc/passwd", events.events_path(a))  # a planted symlink is refused
    events.record_event(a, "x")
    assert "could not record event" in caplog.text
    b = Area(tmp_path / "no-such-area")  # no logs dir at all
    events.record_event(b, "x")


def test_events_file_is_bounded_and_rotated(ev_area: Area, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MAX_BYTES", 2000)
    for i in range(200):
        events.record_event(ev_area, "tick", i=i)
    path = events.events_path(ev_area)
    assert path.stat().st_size <= 2000 + events.MAX_LINE
    assert path.with_name("events.jsonl.1").stat().st_size <= 2000 + events.MAX_LINE
    got = [e["i"] for e in events.read_events(ev_area)]
    assert got == sorted(got) and got[-1] == 199  # newest kept, in order
    # A huge field is truncated, never split over lines.
    events.record_event(ev_area, "big", text="x" * 100_000)
    assert events.read_events(ev_area)[-1]["kind"] == "big"


def test_concurrent_writers_never_interleave_lines(ev_area: Area) -> None:
    def write(t: int) -> None:
        for i in range(200):
            events.record_event(ev_area, "w", t=t, i=i, pad="p" * 300)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lines = events.events_path(ev_area).read_text().splitlines()
    assert len(lines) == 800 and all(json.loads(line)["kind"] == "w" for line in lines)


def test_follow_sees_new_events_across_a_rotation(ev_area: Area, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "MAX_BYTES", 600)
    events.record_event(ev_area, "old")
    seen: list[dict[str, Any]] = []
    stream = events.follow(ev_area, interval=0.01)
    for i in range(20):
        events.record_event(ev_area, "new", i=i)
        seen.append(next(stream))
    assert [e["i"] for e in seen] == list(range(20))  # nothing lost, nothing repeated
    assert events.events_path(ev_area).with_name("events.jsonl.1").exists()


def test_control_commands_are_not_load_but_their_errors_count() -> None:
    c = Counters(["set-var"])
    for cmd in ("ping", "stats", "auth"):
        c.count_request(cmd, [protocol.OK, None, None, {}], 0.00002)
    c.count_request("stats", protocol.error_wire("unauthorized", "", {}), 0.00002)
    c.count_request("set-var", [protocol.OK, None, None, {}], 0.004)
    s = _snapshot(c)
    assert s.requests == 1 and s.errors == 1
    assert sum(s.latency_buckets()) == 1  # 20-us pings do not drown the db latency
    assert s.commands["ping"].count == 1  # still counted, in their own rows


def test_a_snapshot_does_not_change_when_counting_goes_on() -> None:
    """The stats request itself is counted before its answer is encoded."""
    c = Counters([])
    wire = c.snapshot(IDENTITY, 0, None, 1001.0)
    c.count_request("ping", [protocol.OK, None, None, {}], 0.00002)
    assert wire["commands"] == {}
    c.count_request("ping", [protocol.OK, None, None, {}], 0.00002)
    wire = c.snapshot(IDENTITY, 0, None, 1002.0)
    c.count_request("ping", [protocol.OK, None, None, {}], 0.00002)
    assert sum(wire["commands"]["ping"]["buckets"]) == 2 == sum(wire["commands"]["ping"]["outcomes"].values())


def test_servers_and_the_cli_never_load_prometheus_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys, backend.cli.parser, backend.server.server, backend.client.client, backend.ops.supervisor, "
        "backend.client.statsfetch, backend.ops.observe, backend.events\n"
        "backend.cli.parser.build_parser()\n"
        "assert 'prometheus_client' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_exit_reason_of_a_server_maps_to_a_documented_why() -> None:
    from backend.server.server import retire_why

    documented = {"stop", "signal", "idle", "rank", "file gone", "file replaced", "error"}
    reasons = ["SIGTERM", "SIGINT", "stop command", "idle timeout", "rank", "registration file gone",
               "registration file replaced", "registration never became visible", ""]
    assert {retire_why(r) for r in reasons} == documented
    from backend import rules

    assert retire_why(rules.registration_problem(None, "a") or "") == "file gone"
    assert retire_why(rules.registration_problem("b", "a") or "") == "file replaced"
    doc = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    assert all(f"`{why}`" in doc for why in documented)
