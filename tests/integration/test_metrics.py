"""``/metrics`` after real work, read back with Prometheus's own parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.atas import export
from tradelake.ops import metrics
from tradelake.ops.metrics_endpoint import exposing_metrics
from tradelake.platform import Platform


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    metrics.disable()
    yield
    metrics.disable()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(v for (n, lab), v in values.items() if n == name and wanted <= set(lab))


def test_run_endpoint_counts_files_rows_and_quarantine_after_two_ingests(home: Path) -> None:
    clean, _ = export(fills=300, seed=41)
    messy, _ = export(fills=300, seed=42, mess=True)
    (home / "a.xlsx").write_bytes(clean)
    (home / "b.xlsx").write_bytes(messy)
    platform = Platform.open(home)
    recorded = metrics.enable()
    server = metrics.serve_http(recorded, "127.0.0.1", 0)
    try:
        report = platform.ingest([home / "a.xlsx", home / "b.xlsx"])
        again = platform.ingest([home / "a.xlsx"])  # a duplicate
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
    finally:
        server.close()
    values = samples(text)

    assert [f.status for f in report.files] == ["ingested", "ingested"]
    assert again.files[0].status == "duplicate"
    assert total(values, "tradelake_files_ingested_total", status="ingested") == 2
    assert total(values, "tradelake_files_ingested_total", status="duplicate") == 1
    assert total(values, "tradelake_files_ingested_total", source="atas", status="ingested") == 2

    staged = sum(t.staged for f in report.files for t in f.tables.values())
    quarantined = sum(f.quarantined for f in report.files)
    assert quarantined > 0
    assert total(values, "tradelake_rows_total", status="staged") == staged
    assert total(values, "tradelake_rows_total", status="quarantined") == quarantined
    # Rows by rule add up to the rows quarantined, and match the quarantine files.
    assert total(values, "tradelake_quarantined_rows_total") == quarantined
    trades = platform.staging.quarantined("trades_raw")
    by_rule = dict(trades.group_by("rule").len().rows())
    for rule, count in by_rule.items():
        assert (
            total(values, "tradelake_quarantined_rows_total", table="trades_raw", rule=rule)
            == count
        )
    # One refresh per ingest, each observed once.
    assert total(values, "tradelake_refresh_duration_seconds_count") == 2
    assert total(values, "tradelake_refresh_duration_seconds_sum") > 0


def test_nothing_is_recorded_until_enabled(home: Path) -> None:
    data, _ = export(fills=50, seed=43)
    (home / "a.xlsx").write_bytes(data)
    Platform.open(home).ingest([home / "a.xlsx"])
    assert metrics.active() is None
    recorded = metrics.enable()
    values = samples(metrics.exposition(recorded)[0].decode())
    assert total(values, "tradelake_files_ingested_total") == 0


def test_feed_lag_is_computed_when_scraped() -> None:
    from datetime import UTC, datetime, timedelta

    recorded = metrics.enable()
    metrics.observe_pull("fred", "failed", datetime.now(UTC) - timedelta(seconds=120), 3)
    values = samples(metrics.exposition(recorded)[0].decode())
    assert 119 <= total(values, "tradelake_feed_lag_seconds", feed="fred") < 160
    assert total(values, "tradelake_feed_consecutive_failures", feed="fred") == 3
    assert total(values, "tradelake_feed_pulls_total", feed="fred", status="failed") == 1


def test_a_taken_metrics_port_is_reported_and_the_command_goes_on() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with exposing_metrics({"metrics": {"port": port}}) as where:
            assert where.startswith(f"; metrics NOT served: 127.0.0.1:{port} refused")
    with exposing_metrics({}, port=0) as where:
        assert where == ""
    with pytest.raises(Exception, match=r"\[metrics\] port = 70000 is not a TCP port"):
        metrics.endpoint({"metrics": {"port": 70000}})


def test_model_info_follows_a_hot_swap() -> None:
    recorded = metrics.enable()
    metrics.observe_predictions("chart_cnn/1", ["bull_flag", "bull_flag"])
    metrics.observe_predictions("chart_cnn/2", ["double_top"])
    values = samples(metrics.exposition(recorded)[0].decode())
    serving = {
        dict(lab)["model_version"] for (n, lab), v in values.items() if n == "tradelake_model_info"
    }
    assert serving == {"chart_cnn/2"}
    assert total(values, "tradelake_predictions_total", model_version="chart_cnn/1") == 2
    assert total(values, "tradelake_predictions_total", signal="double_top") == 1
