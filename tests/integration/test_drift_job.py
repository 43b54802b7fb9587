"""``tradelake drift`` end to end: planted drift alerts a loopback webhook, no drift does not.

The sentiment check compares the shipped model's training sample with recent news that is all
bullish (planted drift on the prediction distribution); a generic model logs a training sample
and registers a reader whose recent window is drawn from the same distribution (no drift).
Both append to ``model_drift``; only breaches reach the Slack-compatible webhook on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tradelake.cli import sentiment as sentiment_cli
from tradelake.jobs import drift as drift_job
from tradelake.jobs.ingest import process_object
from tradelake.ml.drift import TrainingSample
from tradelake.platform import Platform
from tradelake.sources.base import get_source

NOW = datetime.now(UTC).replace(microsecond=0)


class Hook:
    """A Slack-compatible webhook receiver: records each JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def platform(home: Path, hook: Hook) -> Platform:
    (home / "tradelake.toml").write_text(
        f'[[sinks]]\nname = "slack"\ntype = "webhook"\nurl = "{hook.url}"\nretries = 1\n'
        '\n[drift]\ndays = 3\nsinks = ["slack"]\n',
        encoding="utf-8",
    )
    return Platform.open(home)


def stage_bullish_news(platform: Platform, n: int = 60) -> None:
    items = [
        {
            "category": "company",
            "datetime": int((NOW - timedelta(hours=1, minutes=i)).timestamp()),
            "headline": f"T{i} beats estimates, raises guidance; shares surge to a record high",
            "id": i,
            "image": "",
            "related": "AAPL",
            "source": "Yahoo",
            "summary": "",
            "url": f"https://x.test/{i}",
        }
        for i in range(n)
    ]
    body = json.dumps(items).encode()
    parser = get_source("finnhub")
    put = platform.landing.put(body, "finnhub", "fh-1.json", parser.content_type)
    assert process_object(platform.ingest_env, put.obj, body, parser, path="fh").status == (
        "ingested"
    )
    platform.refresh()


def test_planted_drift_on_sentiment_alerts_the_webhook_and_is_recorded(
    platform: Platform, hook: Hook
) -> None:
    stage_bullish_news(platform)
    app = typer.Typer()
    sentiment_cli.register(app)
    out = CliRunner().invoke(
        app, ["drift", "--model", "sentiment", "--home", str(platform.settings.home), "--json"]
    )
    assert out.exit_code == sentiment_cli.EXIT_DRIFT, out.output
    (report,) = json.loads(out.stdout)
    features = {f["feature"]: f for f in report["features"]}
    assert set(features) == {"words", "prediction"}
    pred = features["prediction"]
    assert pred["breach"] and pred["psi"] > 1.0 and pred["recent_n"] == 60
    assert pred["recent_mean"] > 0.5 > pred["train_mean"]
    assert "prediction" in report["breaches"]
    assert report["alerts_sent"] == len(report["breaches"]) == len(hook.bodies)
    texts = [b["text"] for b in hook.bodies]
    assert any(t.startswith("drift:sentiment: drift prediction PSI") for t in texts)
    assert {b["alert"]["device"] for b in hook.bodies} == {"model:sentiment"}

    rows = platform.features.query("SELECT * FROM model_drift ORDER BY feature")
    assert rows["feature"].to_list() == ["prediction", "words"]
    assert set(rows["run_id"]) == {report["run_id"]}
    assert rows.filter(rows["feature"] == "prediction")["breach"].to_list() == [True]


def test_no_drift_records_rows_and_sends_nothing(
    platform: Platform, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    sample = TrainingSample(
        model="toy",
        version="3",
        features={"x": rng.normal(0, 1, 2000).tolist(), "y": rng.exponential(1, 2000).tolist()},
        prediction=rng.uniform(0, 1, 2000).tolist(),
    )
    drift_job.log_training_sample(platform.settings.state_dir, sample)
    seen: list[datetime] = []

    def reader(store: object, s: TrainingSample, since: datetime) -> dict[str, list[float]]:
        seen.append(since)
        r = np.random.default_rng(8)
        return {
            "x": r.normal(0, 1, 500).tolist(),
            "y": r.exponential(1, 500).tolist(),
            "prediction": r.uniform(0, 1, 500).tolist(),
        }

    monkeypatch.setitem(drift_job.RECENT, "toy", reader)
    assert "toy" in drift_job.known_models(platform.settings.state_dir)
    before = datetime.now(UTC)
    (report,) = platform.drift(["toy"])
    after = datetime.now(UTC)
    assert report.breaches == [] and hook.bodies == []
    assert [f.feature for f in report.features] == ["x", "y", "prediction"]
    assert all(f.psi < 0.1 for f in report.features)
    # The window starts [drift] days before the check ran (not before this module was imported).
    assert before - timedelta(days=3, seconds=1) <= seen[0] <= after - timedelta(days=3)
    rows = platform.features.query("SELECT model, model_version, breach FROM model_drift")
    assert rows.rows() == [("toy", "3", False)] * 3

    # The same check with the recent x shifted: now it breaches and alerts.
    monkeypatch.setitem(
        drift_job.RECENT,
        "toy",
        lambda *a: {**reader(*a), "x": (np.random.default_rng(9).normal(2, 1, 500)).tolist()},
    )
    (shifted,) = platform.drift(["toy"])
    assert [f.feature for f in shifted.breaches] == ["x"]
    assert len(hook.bodies) == 1 and hook.bodies[0]["alert"]["rule"] == "drift:toy"
    assert platform.features.query("SELECT count(*) AS n FROM model_drift")["n"][0] == 6


def test_a_model_that_logged_its_sample_to_mlflow_is_found_by_its_champion(
    tmp_path: Path,
) -> None:
    from dataclasses import asdict

    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    sample = TrainingSample("signal", "7", {"x": [1.0, 2.0]}, [0.1, 0.9], recent_sql="SELECT 1")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("signal", artifact_location=(tmp_path / "art").as_uri())
    run = client.create_run(exp)
    client.log_dict(run.info.run_id, asdict(sample), drift_job.MLFLOW_ARTIFACT)
    client.create_registered_model("signal")
    mv = client.create_model_version("signal", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("signal", "champion", str(mv.version))
    found = drift_job.training_sample(tmp_path / "state", "signal", tracking_uri=uri)
    assert found == sample
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert drift_job.mlflow_sample(missing, "signal") is None
    assert not (tmp_path / "none.db").exists()
