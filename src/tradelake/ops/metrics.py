"""Prometheus metrics: every definition in one place, on a registry of our own.

Metrics are recorded only in a process that exposes them: ``tradelake serve`` (``/metrics`` on
its web app; the ``cv`` role, which serves no HTTP, on ``[metrics] port``) and ``tradelake run``
(``[metrics] port``). Those call :func:`enable`; until then every ``observe_*`` function is a
no-op that does not even import ``prometheus_client``, so one-shot commands (``ingest``,
``pnl``), whose counters nobody could scrape, pay nothing. Each process has its own registry:
with Kafka, each role exposes its own series and Prometheus sums them.

A test (``tests/unit/test_grafana_dashboard.py``) checks that every panel of the Grafana
dashboard (``deploy/grafana``) names a metric defined here: add a metric here first.

Labels are bounded sets (sources, tables, rules, feeds, devices' stages, model versions); never
a file name or a frame id. No label value is ever a secret: feeds are named by their config name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.core import Metric

PREFIX = "tradelake"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REFRESH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class StagedTable(Protocol):
    """What one landing object staged into one table (``staging.StageResult``)."""

    @property
    def staged(self) -> int: ...

    @property
    def unchanged(self) -> int: ...

    @property
    def quarantined(self) -> int: ...

    @property
    def quarantine_rules(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Metrics:
    """The registry and every metric on it (see :func:`definitions` for names and help)."""

    registry: CollectorRegistry
    files_ingested: Counter
    rows: Counter
    quarantined_rows: Counter
    quarantined_files: Counter
    pulls: Counter
    refresh_duration: Histogram
    stream_frames: Counter
    queue_lag: Histogram
    frame_to_alert: Histogram
    alerts_fired: Counter
    model_info: Gauge
    predictions: Counter
    drift_score: Gauge
    quality_alerts: Counter
    lineage_events: Counter
    feeds: FeedClock
    serving: list[str | None]  # [model version whose info series is 1], mutable in place


class FeedClock:
    """Each feed's last success and failure streak, turned into gauges when scraped: the lag
    (now minus the last success) is worth most when nothing else happens, so it is computed at
    scrape time, never stored."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_success: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    def update(self, feed: str, last_success: datetime | None, failures: int) -> None:
        with self._lock:
            if last_success is not None:
                self._last_success[feed] = last_success.timestamp()
            self._failures[feed] = failures

    def describe(self) -> Iterable[Metric]:
        return self._families({}, {}, 0.0)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            last, failures = dict(self._last_success), dict(self._failures)
        return self._families(last, failures, time.time())

    @staticmethod
    def _families(
        last: Mapping[str, float], failures: Mapping[str, int], now: float
    ) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        success = GaugeMetricFamily(
            f"{PREFIX}_feed_last_success_timestamp_seconds",
            "Unix time of each feed's last successful pull.",
            labels=["feed"],
        )
        lag = GaugeMetricFamily(
            f"{PREFIX}_feed_lag_seconds",
            "Seconds since each feed's last successful pull (computed when scraped).",
            labels=["feed"],
        )
        streak = GaugeMetricFamily(
            f"{PREFIX}_feed_consecutive_failures",
            "Pulls of each feed that failed in a row since its last success.",
            labels=["feed"],
        )
        for feed, ts in sorted(last.items()):
            success.add_metric([feed], ts)
            lag.add_metric([feed], max(now - ts, 0.0))
        for feed, count in sorted(failures.items()):
            streak.add_metric([feed], count)
        yield success
        yield lag
        yield streak


_lock = threading.Lock()
_active: Metrics | None = None


def enable() -> Metrics:
    """Start recording in this process (idempotent); returns the metrics."""
    global _active
    with _lock:
        if _active is None:
            _active = _build()
        return _active


def active() -> Metrics | None:
    """The metrics when this process records them, else None."""
    return _active


def disable() -> None:
    """Stop recording and forget every value (tests start each from zero)."""
    global _active
    with _lock:
        _active = None


def exposition(metrics: Metrics) -> tuple[bytes, str]:
    """The text format Prometheus scrapes, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(metrics.registry), CONTENT_TYPE_LATEST


def metric_names(metrics: Metrics) -> set[str]:
    """Every series name this registry exposes (counters with ``_total``, histograms with
    ``_bucket``/``_sum``/``_count``): what a dashboard query may name."""
    names: set[str] = set()
    for family in metrics.registry.collect():
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "info": ("_info",),
        }.get(family.type, ("",))
        names.update(f"{family.name}{suffix}" for suffix in suffixes)
    return names


def serve_http(metrics: Metrics, host: str, port: int) -> MetricsServer:
    """A small ``/metrics`` endpoint on a daemon thread (``tradelake run``, ``serve --role
    cv``); ``port`` 0 picks a free one (tests). Stop it with :meth:`MetricsServer.close`."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(server, thread)


class MetricsServer:
    """The endpoint :func:`serve_http` started."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_address[1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- recording (each a no-op unless enabled) -------------------------------------------------


def observe_file(source: str, status: str, tables: Mapping[str, StagedTable]) -> None:
    """One file or payload processed: its status (``ingested``, ``duplicate``, ``error``) and
    the rows each table staged, left unchanged and quarantined (by rule)."""
    m = _active
    if m is None:
        return
    m.files_ingested.labels(source, status).inc()
    for table, result in tables.items():
        m.rows.labels(table, "staged").inc(result.staged)
        m.rows.labels(table, "unchanged").inc(result.unchanged)
        m.rows.labels(table, "quarantined").inc(result.quarantined)
        for rule, count in result.quarantine_rules.items():
            m.quarantined_rows.labels(table, rule).inc(count)


def observe_quarantined_file(source: str) -> None:
    """A whole file or frame quarantined (unparseable, undecodable)."""
    if _active is not None:
        _active.quarantined_files.labels(source).inc()


def observe_pull(feed: str, status: str, last_success: datetime | None, failures: int) -> None:
    """One pull of ``feed`` and the feed's state after it."""
    m = _active
    if m is None:
        return
    m.pulls.labels(feed, status).inc()
    m.feeds.update(feed, last_success, failures)


def observe_feed_state(feed: str, last_success: datetime | None, failures: int) -> None:
    """A feed's saved state (``tradelake run`` seeds the gauges with it at start)."""
    if _active is not None:
        _active.feeds.update(feed, last_success, failures)


def observe_refresh(seconds: float) -> None:
    if _active is not None:
        _active.refresh_duration.observe(seconds)


def observe_frames(stage: str, count: int = 1) -> None:
    """Frames through a stream stage: ``accepted``, ``duplicate``, ``refused`` (gateway),
    ``scored``, ``quarantined`` (CV service)."""
    if _active is not None and count:
        _active.stream_frames.labels(stage).inc(count)


def observe_queue_lag(topic: str, seconds: float) -> None:
    """Seconds a message waited on ``topic`` between its publish and its consumer."""
    if _active is not None:
        _active.queue_lag.labels(topic).observe(max(seconds, 0.0))


def observe_alert(rule: str, frame_to_alert_s: float) -> None:
    """An alert handed to its sinks, ``frame_to_alert_s`` after its frame was captured."""
    m = _active
    if m is None:
        return
    m.alerts_fired.labels(rule).inc()
    m.frame_to_alert.observe(max(frame_to_alert_s, 0.0))


def observe_predictions(model_version: str, signals: Iterable[str]) -> None:
    """Predictions a model version made (by signal); marks that version as the one serving."""
    m = _active
    if m is None:
        return
    if m.serving[0] != model_version:  # a hot swap: the old version's series goes
        with _lock:
            if m.serving[0] is not None:
                m.model_info.remove(m.serving[0])
            m.model_info.labels(model_version).set(1)
            m.serving[0] = model_version
    for signal in signals:
        m.predictions.labels(model_version, signal).inc()


def observe_drift(model: str, feature: str, score: float) -> None:
    """A drift score (PSI, KS statistic) of one model input or output."""
    if _active is not None:
        _active.drift_score.labels(model, feature).set(score)


def observe_quality_alert(kind: str) -> None:
    if _active is not None:
        _active.quality_alerts.labels(kind).inc()


def observe_lineage_event(state: str) -> None:
    if _active is not None:
        _active.lineage_events.labels(state).inc()


def _build() -> Metrics:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry(auto_describe=True)
    feeds = FeedClock()
    registry.register(feeds)  # a collector: describe() and collect()

    def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(f"{PREFIX}_{name}", doc, labels, registry=registry)

    return Metrics(
        registry=registry,
        files_ingested=counter(
            "files_ingested",
            "Files and pulled payloads processed, by source and status "
            "(ingested, duplicate, error).",
            ("source", "status"),
        ),
        rows=counter(
            "rows",
            "Rows by table and status (staged, unchanged, quarantined).",
            ("table", "status"),
        ),
        quarantined_rows=counter(
            "quarantined_rows", "Rows quarantined, by table and rule.", ("table", "rule")
        ),
        quarantined_files=counter(
            "quarantined_files",
            "Whole files or frames quarantined (unparseable, undecodable), by source.",
            ("source",),
        ),
        pulls=counter("feed_pulls", "Feed pulls by feed and status.", ("feed", "status")),
        refresh_duration=Histogram(
            f"{PREFIX}_refresh_duration_seconds",
            "Feature-store refresh duration.",
            buckets=REFRESH_BUCKETS,
            registry=registry,
        ),
        stream_frames=counter(
            "stream_frames",
            "Frames by stage (accepted, duplicate, refused, scored, quarantined).",
            ("stage",),
        ),
        queue_lag=Histogram(
            f"{PREFIX}_queue_lag_seconds",
            "Seconds a message waited on a stream topic (publish to consume).",
            ("topic",),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        frame_to_alert=Histogram(
            f"{PREFIX}_frame_to_alert_seconds",
            "Seconds from a frame's capture to its alert being handed to the sinks.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        alerts_fired=counter("alerts_fired", "Stream alerts fired, by rule.", ("rule",)),
        model_info=Gauge(
            f"{PREFIX}_model_info",
            "1 for the chart model version this process serves.",
            ("model_version",),
            registry=registry,
        ),
        predictions=counter(
            "predictions",
            "Chart-model predictions by model version and signal.",
            ("model_version", "signal"),
        ),
        drift_score=Gauge(
            f"{PREFIX}_drift_score",
            "Latest drift score (PSI or KS statistic) by model and feature.",
            ("model", "feature"),
            registry=registry,
        ),
        quality_alerts=counter("quality_alerts", "Data-quality alerts sent, by kind.", ("kind",)),
        lineage_events=counter(
            "lineage_events", "OpenLineage run events emitted, by state.", ("state",)
        ),
        feeds=feeds,
        serving=[None],
    )


@dataclass(frozen=True)
class MetricsEndpoint:
    """``[metrics]``: where ``tradelake run`` and ``serve --role cv`` expose ``/metrics``
    (``serve``'s other roles expose it on their own web port). ``port = 0`` turns it off."""

    host: str = "127.0.0.1"
    port: int = 9464


def endpoint(raw: Mapping[str, Any], port: int | None = None) -> MetricsEndpoint:
    """``[metrics] host`` and ``port`` from the settings' raw mapping, ``port`` overriding."""
    from tradelake.errors import ConfigError

    section = dict(raw.get("metrics", {}))
    default = MetricsEndpoint()
    value = port if port is not None else section.get("port", default.port)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 65536:
        raise ConfigError(
            f"[metrics] port = {value!r} is not a TCP port (0-65535, 0 = off); fix tradelake.toml "
            "or TRADELAKE_METRICS__PORT"
        )
    return MetricsEndpoint(str(section.get("host", default.host)), value)
