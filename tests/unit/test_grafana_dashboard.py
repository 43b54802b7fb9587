"""The shipped Grafana dashboard and Prometheus config name only metrics the code exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradelake.ops import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "provisioning" / "dashboards" / "tradelake.json"
METRIC = re.compile(r"\btradelake_[a-z0-9_]+\b")


@pytest.fixture
def exported() -> Iterator[set[str]]:
    metrics.disable()
    yield metrics.metric_names(metrics.enable())
    metrics.disable()


def panel_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]


def test_every_panel_query_names_exported_metrics(exported: set[str]) -> None:
    queries = panel_queries()
    assert len(queries) >= 15
    for title, expr in queries:
        named = set(METRIC.findall(expr))
        assert named, f"panel {title!r} queries no tradelake metric: {expr}"
        assert named <= exported, f"panel {title!r} names unknown {sorted(named - exported)}"


def test_every_exported_metric_is_on_the_dashboard(exported: set[str]) -> None:
    shown = {name for _, expr in panel_queries() for name in METRIC.findall(expr)}
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", name) for name in exported}
    on_board = {re.sub(r"_(total|bucket|sum|count|created)$", "", name) for name in shown}
    assert families - on_board == set()


def test_provisioning_points_grafana_at_the_dashboard_and_prometheus() -> None:
    yaml = pytest.importorskip("yaml")
    provider = yaml.safe_load((DASHBOARD.parent / "tradelake.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    uid = source["datasources"][0]["uid"]
    board = json.loads(DASHBOARD.read_text())
    assert {p["datasource"]["uid"] for p in board["panels"]} == {uid}
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    endpoint = metrics.endpoint({})
    assert f"{endpoint.host}:{endpoint.port}" in targets  # tradelake run
    assert "127.0.0.1:8700" in targets  # tradelake serve ([stream] port)
