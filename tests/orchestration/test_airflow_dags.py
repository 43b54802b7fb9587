"""The generated DAGs run for real with ``dag.test()`` (Airflow 3.3 on SQLite, no scheduler)."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fixtures import feeds as payloads
from fixtures.atas import export
from tradelake.airflow.files import write_dag_file
from tradelake.platform import Platform

NEWS, NEWS_FACTS = payloads.rss(n=25, seed=11)


@pytest.fixture
def rss_url() -> Iterator[str]:
    body = NEWS

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/feed.xml"
    server.shutdown()


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_dags_run_the_pipeline(home: Path, rss_url: str, airflow_home: Path) -> None:
    (home / "tradelake.toml").write_text(
        '[sources.atas]\ntimezone = "America/Chicago"\n\n'
        f'[[feeds]]\nname = "wire-news"\nkind = "rss"\nurl = "{rss_url}"\n'
        'schedule = "*/10 * * * *"\n',
        encoding="utf-8",
    )
    data, _ = export(fills=200, seed=5, timezone="America/Chicago")
    (home / "input").mkdir()
    (home / "input" / "desk.xlsx").write_bytes(data)

    dag_file = write_dag_file(home, airflow_home / "dags")
    dags = {
        name: obj for name, obj in vars(_load(dag_file)).items() if name.startswith("tradelake_")
    }
    assert sorted(dags) == [
        "tradelake_feed_wire-news",
        "tradelake_nightly",
        "tradelake_trades_etl",
    ]
    assert [t.task_id for t in dags["tradelake_trades_etl"].tasks] == ["ingest_input", "refresh"]

    assert dags["tradelake_trades_etl"].test().state == "success"
    platform = Platform.open(home)
    fills = platform.sql("SELECT count(*) FROM trades").item()
    assert fills > 150

    assert dags["tradelake_feed_wire-news"].test().state == "success"
    stories = Platform.open(home).sql("SELECT count(*) FROM news").item()
    assert stories == len(NEWS_FACTS.published) > 20  # the planted bad dates are quarantined

    assert dags["tradelake_nightly"].test().state == "success"
    assert Platform.open(home).sql("SELECT count(*) FROM trades").item() == fills

    # A second ETL run finds only files it has seen: nothing changes.
    assert dags["tradelake_trades_etl"].test().state == "success"
    assert Platform.open(home).sql("SELECT count(*) FROM trades").item() == fills

    events = [
        json.loads(line)
        for line in (airflow_home / "openlineage.jsonl").read_text().splitlines()
        if line.strip()
    ]
    ingest = [e for e in events if e["job"]["name"] == "tradelake_trades_etl.ingest_input"]
    assert {e["eventType"] for e in ingest} >= {"START", "COMPLETE"}
    outputs = {o["name"] for e in ingest for o in e.get("outputs", [])}
    assert any(name.endswith("/landing") for name in outputs), outputs


def test_a_failing_file_fails_the_task(home: Path, airflow_home: Path) -> None:
    (home / "input").mkdir()
    (home / "input" / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    dag_file = write_dag_file(home, airflow_home / "dags")
    dag = _load(dag_file).tradelake_trades_etl
    assert dag.test().state == "failed"
