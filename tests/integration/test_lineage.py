"""OpenLineage run events of the batch jobs: the JSONL file, an HTTP endpoint on 127.0.0.1, no
secrets in either, and ``tradelake lineage`` reading them back."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fixtures import feeds as payloads
from fixtures.atas import export
from fixtures.receiver import receiving
from tradelake.cli import app
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.feeds import parse_feed
from tradelake.jobs.pull import PullOptions, pull_all
from tradelake.ops.lineage import EVENTS_FILE, read_events
from tradelake.platform import Platform
from tradelake.sources.http import RetryPolicy

KEY = "LINEAGE-k3y-0f-the-desk-42"
KEY_ENV = "TRADELAKE_TEST_LINEAGE_KEY"


def runs_of(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_run[event["run"]["runId"]].append(event)
    return by_run


def names(datasets: list[dict[str, str]]) -> set[str]:
    return {d["name"] for d in datasets}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Platform]:
    """Two ATAS exports ingested in one batch (the module's tests read its events)."""
    home = tmp_path_factory.mktemp("lineage-home")
    for name, seed in (("a.xlsx", 51), ("b.xlsx", 52)):
        (home / name).write_bytes(export(fills=200, seed=seed)[0])
    platform = Platform.open(home)
    report = platform.ingest([home / "a.xlsx", home / "b.xlsx"])
    assert [f.status for f in report.files] == ["ingested", "ingested"]
    return home, platform


def test_ingest_and_its_refresh_each_emit_start_then_complete_with_datasets(
    ingested: tuple[Path, Platform],
) -> None:
    home, platform = ingested
    events = read_events(home / EVENTS_FILE)
    runs = runs_of(events)
    assert len(runs) == 2
    by_job = {evts[0]["job"]["name"]: evts for evts in runs.values()}
    assert set(by_job) == {"ingest", "refresh"}
    for evts in runs.values():
        assert [e["eventType"] for e in evts] == ["START", "COMPLETE"]
        assert all(e["job"]["namespace"] == "tradelake" for e in evts)
        assert evts[0]["eventTime"] <= evts[1]["eventTime"]

    ingest_done = by_job["ingest"][1]
    landed = {d["name"] for d in ingest_done["outputs"] if d["name"].startswith("atas/")}
    assert landed == {f"atas/{obj.landing_id}" for obj in platform.landing.list()}
    assert {"trades_raw", "atas_journal"} <= names(ingest_done["outputs"])
    assert names(ingest_done["inputs"]) >= {"a.xlsx", "b.xlsx"} | landed
    staging_ns = {d["namespace"] for d in ingest_done["outputs"] if d["name"] == "trades_raw"}
    assert staging_ns == {(home / "staging").resolve().as_uri()}

    refresh_start, refresh_done = by_job["refresh"]
    parent = refresh_start["run"]["facets"]["parent"]["run"]["runId"]
    assert parent == ingest_done["run"]["runId"]
    assert "trades_raw" in names(refresh_done["inputs"])
    assert {"round_trips", "journal_reconciliation", "trades"} <= names(refresh_done["outputs"])
    assert all(d["namespace"].startswith("duckdb://") for d in refresh_done["outputs"])


def test_lineage_command_walks_from_a_feature_table_back_to_the_dropped_files(
    ingested: tuple[Path, Platform],
) -> None:
    home, _ = ingested
    runner = CliRunner()
    shown = runner.invoke(app, ["lineage", "round_trips", "--home", str(home), "--json"])
    assert shown.exit_code == 0, shown.output
    (daily,) = json.loads(shown.stdout)["datasets"]
    (refresh,) = daily["upstream"]
    assert refresh["job"] == "refresh" and refresh["state"] == "COMPLETE"
    writers = [run for d in refresh["inputs"] for run in d["written_by"]]
    ingest = next(run for run in writers if not run.get("repeated"))
    assert ingest["job"] == "ingest"
    assert {"a.xlsx", "b.xlsx"} <= {d["name"] for d in ingest["inputs"]}
    # The one ingest wrote trades_raw and atas_journal: expanded once, then marked repeated.
    assert [run["run_id"] for run in writers] == [ingest["run_id"]] * 2

    # Downstream of a dropped file reaches the feature tables.
    down = runner.invoke(app, ["lineage", "a.xlsx", "--home", str(home), "--json"])
    (dropped,) = json.loads(down.stdout)["datasets"]
    (reader,) = dropped["downstream"]
    refreshes = [
        run
        for out in reader["outputs"]
        for run in out.get("read_by", [])
        if run["job"] == "refresh"
    ]
    assert refreshes and "round_trips" in {d["name"] for d in refreshes[0]["outputs"]}

    # A run by id (a prefix does), as a tree in text.
    run_id = ingest["run_id"]
    text = runner.invoke(app, ["lineage", run_id[:13], "--home", str(home)])
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[0].startswith(f"ingest [COMPLETE] run {run_id}")
    assert "<- a.xlsx" in text.stdout and "-> trades_raw" in text.stdout

    listed = runner.invoke(app, ["lineage", "--home", str(home), "--json"])
    assert {row["job"] for row in json.loads(listed.stdout)} >= {"ingest", "refresh"}

    missing = runner.invoke(app, ["lineage", "no_such_table", "--home", str(home)])
    assert missing.exit_code == 1
    assert "no run or dataset 'no_such_table'" in missing.output


def test_http_endpoint_gets_start_and_end_of_every_run(home: Path) -> None:
    (home / "a.xlsx").write_bytes(export(fills=100, seed=53)[0])
    with receiving() as receiver:
        (home / "tradelake.toml").write_text(f'[lineage]\nurl = "{receiver.url}"\n')
        Platform.open(home).ingest([home / "a.xlsx"])
        posted = receiver.on("/api/v1/lineage")
    per_run = runs_of(posted)
    assert len(per_run) == 2  # ingest and its refresh
    assert all([e["eventType"] for e in evts] == ["START", "COMPLETE"] for evts in per_run.values())
    assert set(per_run) == set(runs_of(read_events(home / EVENTS_FILE)))


class _FredEcho(BaseHTTPRequestHandler):
    """FRED refusing the key and echoing it, as providers do (and an RSS feed that works)."""

    def do_GET(self) -> None:
        if self.path.startswith("/rss"):
            body, status = payloads.rss(n=5)[0], 200
        else:
            body, status = payloads.fred_error(f"Bad api_key {KEY} for this series"), 400
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FredEcho)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pulls_emit_complete_or_fail_and_never_the_key(
    home: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    feeds = [
        parse_feed(
            {"name": "wire", "kind": "rss", "url": f"{provider}/rss", "schedule": "* * * * *"}
        ),
        parse_feed(
            {"name": "cpi", "kind": "fred", "url": f"{provider}/fred/series/observations",
             "schedule": "* * * * *", "api_key_env": KEY_ENV, "series_id": "CPI"}
        ),
    ]  # fmt: skip
    tiny = PullOptions(retry=RetryPolicy(attempts=2, base_s=0.001, cap_s=0.002))
    with receiving() as receiver:
        (home / "tradelake.toml").write_text(f'[lineage]\nurl = "{receiver.url}"\n')
        platform = Platform.open(home)
        results = pull_all(platform.ingest_env, feeds, FeedStateStore(home / "state"), options=tiny)
        posted = receiver.on("/api/v1/lineage")
    assert [r.status for r in results] == ["ok", "failed"]

    written = (home / EVENTS_FILE).read_text()
    assert KEY not in written and KEY not in json.dumps(posted)
    by_job = {
        evts[0]["job"]["name"]: evts for evts in runs_of(read_events(home / EVENTS_FILE)).values()
    }
    assert [e["eventType"] for e in by_job["pull.wire"]] == ["START", "COMPLETE"]
    assert [e["eventType"] for e in by_job["pull.cpi"]] == ["START", "FAIL"]
    failed = by_job["pull.cpi"][1]["run"]["facets"]["errorMessage"]["message"]
    assert "HTTP 400" in failed and "***" in failed
    wire = by_job["pull.wire"][1]
    landed = {n for n in names(wire["outputs"]) if n.startswith("rss:wire/")}
    assert len(landed) == 1  # one page, landed then parsed back from landing
    assert names(wire["inputs"]) == {"/rss"} | landed
    assert {d["namespace"] for d in wire["inputs"] if d["name"] == "/rss"} == {"http://127.0.0.1"}
    staged = {d["name"] for d in wire["outputs"] if d["namespace"].endswith("/staging")}
    assert staged == {"news_raw"}
    assert len(runs_of(posted)) == 2
