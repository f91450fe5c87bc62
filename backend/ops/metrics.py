"""Prometheus exposition of an area's servers (``backend metrics``, ``/metrics``).

A custom collector: every scrape reads the registry and each server's ``stats``
(``statsfetch``) and turns the snapshots into metric families; the text format
itself is ``prometheus_client``'s. Imported lazily by the CLI only: servers and
``backend call`` never load ``prometheus_client``.

Names and labels: docs/observability.md. Every per-server family carries
``area``, ``dbfname``, ``server_id``, ``host`` (the machine's name) and ``pid``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from backend.area import Area
from backend.client.statsfetch import Sample, fetch_area
from backend.client.status import classify
from backend.config import Settings
from backend.stats import ServerStats

BASE = ["area", "dbfname", "server_id", "host", "pid"]


def _cumulative(bounds: tuple[float, ...], buckets: tuple[int, ...]) -> list[tuple[str, float]]:
    out, total = [], 0
    for bound, n in zip([*bounds, float("inf")], buckets, strict=True):
        total += n
        out.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(total)))
    return out


class AreaCollector(Collector):
    def __init__(self, area: Area, settings: Settings) -> None:
        self.area = area
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        return iter(families(str(self.area.root), fetch_area(self.area, self.settings),
                             self.settings.stale_after))


def families(area: str, samples: list[Sample], stale_after: float) -> list[Metric]:
    """Every metric family for these samples (pure: unit-testable without servers)."""
    f: dict[str, Any] = {
        "up": GaugeMetricFamily("mtserve_up", "1 if the server answered stats, else 0", labels=BASE),
        "req": CounterMetricFamily("mtserve_requests", "Requests answered, by command and outcome "
                                   "(ok, loaded, busy or an error code)", labels=[*BASE, "command", "code"]),
        "dur": HistogramMetricFamily("mtserve_request_duration_seconds", "Seconds from dispatch to answer "
                                     "ready, by command", labels=[*BASE, "command"]),
        "infl": GaugeMetricFamily("mtserve_inflight_requests", "Database requests in flight (sload)",
                                  labels=BASE),
        "conn": GaugeMetricFamily("mtserve_connections", "Client connections open", labels=BASE),
        "conn_total": CounterMetricFamily("mtserve_connections_accepted", "Client connections accepted",
                                          labels=BASE),
        "refused": CounterMetricFamily("mtserve_connections_refused", "Connections the server closed for "
                                       "breaking the framing rules (size cap, deadline, bad msgpack)",
                                       labels=BASE),
        "auth": CounterMetricFamily("mtserve_auth_failures", "Requests refused as unauthorized", labels=BASE),
        "rx": CounterMetricFamily("mtserve_received_bytes", "Bytes read from clients", labels=BASE),
        "tx": CounterMetricFamily("mtserve_sent_bytes", "Bytes written to clients", labels=BASE),
        "commits": CounterMetricFamily("mtserve_db_commits", "Transactions the db thread ran "
                                       "(one per group-commit batch)", labels=BASE),
        "batch": HistogramMetricFamily("mtserve_db_commit_batch_size", "Requests per group commit",
                                       labels=BASE),
        "dbbytes": GaugeMetricFamily("mtserve_db_bytes", "Size of the db file and its WAL",
                                     labels=[*BASE, "file"]),
        "start": GaugeMetricFamily("mtserve_start_time_seconds", "Server start, epoch seconds", labels=BASE),
        "servers": GaugeMetricFamily("mtserve_servers", "Registrations by state (as backend list shows)",
                                     labels=["area", "dbfname", "state"]),
    }
    states: Counter[tuple[str, str]] = Counter()
    now = time.time()
    for sample in samples:
        reg = sample.entry.registration
        states[(reg.dbfname, classify(sample.entry, sample.ping, now, stale_after))] += 1
        s = sample.stats
        base = [area, reg.dbfname, reg.server_id, reg.hostname or reg.host, str(reg.pid)]
        f["up"].add_metric(base, 0.0 if s is None else 1.0)
        if s is not None:
            _add_server(f, base, s)
    for (dbfname, state), n in sorted(states.items()):
        f["servers"].add_metric([area, dbfname, state], float(n))
    return list(f.values())


def _add_server(f: dict[str, Any], base: list[str], s: ServerStats) -> None:
    for name, c in sorted(s.commands.items()):
        for code, n in sorted(c.outcomes.items()):
            f["req"].add_metric([*base, name, code], float(n))
        f["dur"].add_metric([*base, name], _cumulative(s.latency_bounds, c.buckets), c.sum_s)
    f["infl"].add_metric(base, float(s.inflight))
    f["conn"].add_metric(base, float(s.connections_open))
    f["conn_total"].add_metric(base, float(s.connections_total))
    f["refused"].add_metric(base, float(s.connections_refused))
    f["auth"].add_metric(base, float(s.auth_failures))
    f["rx"].add_metric(base, float(s.bytes_in))
    f["tx"].add_metric(base, float(s.bytes_out))
    f["commits"].add_metric(base, float(s.db_commits))
    # The batch sizes' sum is not counted; the bucket counts carry the shape.
    f["batch"].add_metric(base, _cumulative(s.batch_bounds, s.batch_buckets), None)
    f["dbbytes"].add_metric([*base, "db"], float(s.db_file_bytes))
    f["dbbytes"].add_metric([*base, "wal"], float(s.db_wal_bytes))
    f["start"].add_metric(base, s.started)


class SyncCollector(Collector):
    """The background sync of this ``backend serve`` process (docs/central.md),
    read from ``backend.central.loop.current_state()``; nothing when none runs."""

    def __init__(self, area: Area) -> None:
        self.area = str(area.root)

    def collect(self) -> Iterator[Metric]:
        from backend.central.loop import current_state

        return iter(sync_families(self.area, current_state()))


def sync_families(area: str, state: dict[str, Any] | None) -> list[Metric]:
    """Metric families of a sync loop's state dict (pure, like ``families``)."""
    if state is None:
        return []
    out: list[Metric] = []
    for name, kind, doc, value in (
        ("mtserve_sync_up", "gauge", "1 if the last sync pass to the central database succeeded",
         1.0 if state["consecutive_errors"] == 0 and state["passes"] else 0.0),
        ("mtserve_sync_passes", "counter", "sync passes committed", state["passes"]),
        ("mtserve_sync_errors", "counter", "sync passes that failed", state["errors"]),
        ("mtserve_sync_rows", "counter", "rows inserted or changed centrally", state["total_rows"]),
        ("mtserve_sync_last_success_time_seconds", "gauge", "end of the last committed pass (epoch seconds)",
         state["last_ok"]),
        ("mtserve_sync_last_duration_seconds", "gauge", "seconds the last committed pass took",
         state["last_seconds"]),
    ):
        if value is None:
            continue
        family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        metric = family(name, doc, labels=["area"])
        metric.add_metric([area], float(value))
        out.append(metric)
    return out


def area_registry(area: Area, settings: Settings) -> CollectorRegistry:
    # auto_describe=False: registering must not scrape the servers.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AreaCollector(area, settings))
    registry.register(SyncCollector(area))
    return registry


def render(area: Area, settings: Settings) -> str:
    """The Prometheus text exposition of every server of the area, now."""
    return generate_latest(area_registry(area, settings)).decode("utf-8")


def serve_metrics(area: Area, settings: Settings, host: str, port: int) -> tuple[Any, Any]:
    """Serve ``/metrics`` over HTTP on ``host:port`` from a daemon thread.

    Returns (server, thread); ``server.shutdown()`` stops it. Port 0 picks a
    free one: ``server.server_port`` says which."""
    return start_http_server(port, addr=host, registry=area_registry(area, settings))
