"""A real Prometheus scrapes ``tradelake run``'s ``/metrics`` and answers every dashboard query.

``tradelake run`` (a subprocess, as a user starts it) ingests an ATAS export dropped in
``input/``; Prometheus (Debian's ``prometheus`` binary, started here on 127.0.0.1 with a scrape
config like ``deploy/prometheus/prometheus.yml``) scrapes it every second. The query API must
then say one file was ingested, and Prometheus must accept every PromQL of the Grafana dashboard.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.atas import export
from tradelake.ops.lineage import EVENTS_FILE, read_events

pytestmark = [pytest.mark.slow, pytest.mark.prometheus]
PROMETHEUS = shutil.which("prometheus")
DASHBOARD = (
    Path(__file__).resolve().parents[2] / "deploy/grafana/provisioning/dashboards/tradelake.json"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def started(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out


def wait_until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except (httpx.HTTPError, ValueError):  # not up yet: refused, or a 503 text page
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def tradelake_run(home: Path) -> Iterator[int]:
    """``tradelake run`` on a home whose input/ holds one export; yields its metrics port."""
    (home / "input").mkdir()
    (home / "tradelake.toml").write_text("[watch]\nsettle_s = 0.2\n")
    (home / "input" / "export.xlsx").write_bytes(export(fills=120, seed=61)[0])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
    process = started(
        [
            sys.executable,
            "-m",
            "tradelake",
            "run",
            "--home",
            str(home),
            "--metrics-port",
            str(port),
        ],
        env,
    )
    try:
        yield port
    finally:
        output = stop(process)
        assert f"metrics on http://127.0.0.1:{port}/metrics" in output, output


@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary: apt-get install prometheus")
def test_prometheus_scrapes_run_and_answers_every_dashboard_query(
    tradelake_run: int, tmp_path: Path, home: Path
) -> None:
    assert PROMETHEUS is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tradelake-run\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{tradelake_run}']\n"
    )
    web = free_port()
    prometheus = started(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{web}"]
    )  # fmt: skip
    api = f"http://127.0.0.1:{web}/api/v1/query"

    def query(expr: str) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(api, params={"query": expr}, timeout=5).json()
        return answer

    def ingested() -> float | None:
        result = query('sum(tradelake_files_ingested_total{status="ingested"})')["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    try:
        assert wait_until(ingested, 120, "Prometheus to see the ingested file") == 1.0
        up = query("up")["data"]["result"]
        assert [r["value"][1] for r in up] == ["1"]
        rows = query('sum(tradelake_rows_total{status="staged"})')["data"]["result"]
        assert float(rows[0]["value"][1]) > 0
        board = json.loads(DASHBOARD.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                answer = query(target["expr"])
                assert answer["status"] == "success", (panel["title"], answer)
    finally:
        stop(prometheus)
    # The watcher's batch is an ingest run in the lineage, from the dropped file to staging.
    events = read_events(home / EVENTS_FILE)
    done = [e for e in events if e["job"]["name"] == "ingest" and e["eventType"] == "COMPLETE"]
    assert len(done) == 1
    assert [d["name"] for d in done[0]["inputs"] if d["name"].endswith(".xlsx")] == ["export.xlsx"]
    assert {"trades_raw", "atas_journal"} <= {d["name"] for d in done[0]["outputs"]}
