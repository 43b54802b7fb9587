"""``tradelake publish`` is a lineage run: the feature tables in, ``<schema>.<table>`` out."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_publish_postgres import database  # noqa: F401  (the per-test PostgreSQL database)

from fixtures.atas import export, ingest_export
from tradelake.ops.lineage import EVENTS_FILE, read_events

pytestmark = pytest.mark.postgres


def test_publish_emits_start_and_complete_with_its_tables(
    home: Path,
    database: str,  # noqa: F811
) -> None:
    data, _ = export(fills=120, seed=9)
    platform = ingest_export(home, "desk.xlsx", data, "UTC")
    report = platform.publish(to=database, tables=["trades", "daily_pnl"])
    events = [e for e in read_events(home / EVENTS_FILE) if e["job"]["name"] == "publish"]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    done = events[1]
    assert {d["name"] for d in done["inputs"]} == {"trades", "daily_pnl"}
    assert all(d["namespace"].startswith("duckdb://") for d in done["inputs"])
    assert (
        {d["name"] for d in done["outputs"]}
        == {f"{report.schema}.{t.table}" for t in report.tables}
        == {"tradelake.trades", "tradelake.daily_pnl"}
    )
    assert {d["namespace"] for d in done["outputs"]} == {database}
    lineage = platform.lineage_of("tradelake.trades")
    (published,) = lineage["datasets"]
    assert published["upstream"][0]["job"] == "publish"
