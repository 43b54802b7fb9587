"""The lineage emitter on its own: order, flush, masking, run ids, its idle writer thread."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradelake.ops import lineage
from tradelake.ops.lineage import Dataset, LineageConfig, LineageEmitter, read_events
from tradelake.redaction import register_secret

SECRET = "emitter-s3cret-value-77"


def test_runs_write_start_then_end_in_order_masked_and_the_writer_stops_when_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lineage, "IDLE_S", 0.05)
    register_secret(SECRET)
    emitter = LineageEmitter(LineageConfig(events_file=tmp_path / "lineage" / "events.jsonl"))
    source = Dataset("https://api.example", f"/v1?api_key={SECRET}")
    with (
        emitter.run("pull.demo", inputs=[source]) as outer,
        emitter.run("refresh", parent=outer) as inner,
    ):
        inner.writes([Dataset("duckdb:///x", "round_trips")])
    with pytest.raises(RuntimeError), emitter.run("pull.broken"):
        raise RuntimeError(f"provider said: bad key {SECRET}")

    events = read_events(tmp_path / "lineage" / "events.jsonl")  # written: top-level runs wait
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("pull.demo", "START"),
        ("refresh", "START"),
        ("refresh", "COMPLETE"),
        ("pull.demo", "COMPLETE"),
        ("pull.broken", "START"),
        ("pull.broken", "FAIL"),
    ]
    text = (tmp_path / "lineage" / "events.jsonl").read_text()
    assert SECRET not in text
    failed = events[-1]["run"]["facets"]["errorMessage"]["message"]
    assert failed == "RuntimeError: provider said: bad key ***"
    assert events[3]["inputs"][0]["name"] == "/v1?api_key=***"
    assert events[2]["outputs"] == [
        {"facets": {}, "name": "round_trips", "namespace": "duckdb:///x", "outputFacets": {}}
    ]
    ids = [uuid.UUID(e["run"]["runId"]) for e in events[::2]]
    assert all(i.version == 7 for i in ids)
    assert events[1]["run"]["facets"]["parent"]["run"]["runId"] == events[0]["run"]["runId"]

    deadline = time.monotonic() + 5
    while emitter._worker is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emitter._worker is None  # idle: no thread kept
    emitter.completed("stream.cv", datetime.now(UTC), inputs=[], outputs=[])  # a new writer
    assert emitter.flush()
    assert json.loads(text.splitlines()[0])["producer"] == lineage.PRODUCER
    assert len(read_events(tmp_path / "lineage" / "events.jsonl")) == 8


def test_disabled_lineage_writes_nothing(tmp_path: Path) -> None:
    events = tmp_path / "lineage" / "events.jsonl"
    emitter = LineageEmitter(LineageConfig(events_file=events, enabled=False))
    with emitter.run("ingest"):
        pass
    assert not events.exists()
