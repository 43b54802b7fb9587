"""Entry features read from a real feature store: staged macro vintages, chains, round trips."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import tradelake.features.markets
import tradelake.sources.macro
import tradelake.sources.options  # noqa: F401
from fixtures import feeds
from fixtures.atas import export, ingest_export
from tradelake.features.entry_features import entry_features, load_entry_inputs
from tradelake.instruments import InstrumentTable
from tradelake.sources.base import get_source

DAY1 = datetime(2026, 11, 19, 14, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")


def _land(platform, kind: str, source: str, name: str, data: bytes, now: datetime, **opts) -> None:  # type: ignore[no-untyped-def]
    from tradelake.jobs.ingest import process_object

    parser = get_source(kind)
    recorded = {**opts, "ingest_ts": now.isoformat()}
    attributes = {"kind": kind, "options": json.dumps(recorded, sort_keys=True)}
    env = platform.ingest_env
    put = env.landing.put(data, source, name, parser.content_type, now=now, attributes=attributes)
    assert process_object(env, put.obj, data, parser, path=name).status == "ingested"


def test_sources_come_from_the_store_as_known_at_each_entry(home: Path) -> None:
    platform = ingest_export(home, "journal.xlsx", export(fills=60, seed=72)[0], "UTC")
    first = feeds.fred_graph_csv(series=("UNRATE",), n=24)
    lines = [ln for ln in first.decode().splitlines() if not ln.startswith("2023-13")]
    revised = [*lines[:-1], lines[-1].split(",")[0] + ",9.9", "2023-01-01,4.4"]
    _land(platform, "fred_csv", "fred", "unrate-1.csv", first, DAY1)
    _land(platform, "fred_csv", "fred", "unrate-1.csv", ("\n".join(revised) + "\n").encode(), DAY2)
    _land(
        platform,
        "tradier",
        "options:tradier",
        "aapl.json",
        feeds.tradier(feeds.chain()),
        DAY2,
        symbol="AAPL",
    )
    platform.refresh()

    inputs = load_entry_inputs(platform.features, {}, {})
    assert inputs.trips.height == platform.features.table("round_trips").height > 0
    assert inputs.macro.height > 24  # every vintage, the revision included
    entries = [
        DAY1 + timedelta(hours=4),
        DAY2 + timedelta(hours=1),
        feeds.SNAPSHOT - timedelta(hours=1),
        feeds.SNAPSHOT + timedelta(hours=1),
    ]
    trips = pl.DataFrame(
        {
            "round_trip_id": [f"t{i}" for i in range(4)],
            "account": ["A"] * 4,
            "root": ["AAPL"] * 4,
            "direction": ["long"] * 4,
            "open_ts": entries,
            "close_ts": [t + timedelta(minutes=5) for t in entries],
            "net_pnl": [1.0, -1.0, 1.0, -1.0],
        },
        schema_overrides={"open_ts": TS, "close_ts": TS},
    )
    rows = entry_features(replace(inputs, trips=trips), InstrumentTable()).sort("round_trip_id")
    day1_value = platform.features.query(
        "SELECT value FROM staging.macro_raw WHERE series_id = 'UNRATE' "
        "AND observation_date = ? AND learned_ts = ?",
        [date(2022, 12, 1), DAY1],
    )["value"][0]
    # Day 1: December's first print (its revision to 9.9 arrived on day 2, with January's).
    assert rows["macro_unrate"].to_list()[:2] == [day1_value, 4.4]
    assert day1_value != 9.9
    chain = rows.filter(pl.col("round_trip_id").is_in(["t2", "t3"]))["atm_iv"].to_list()
    assert chain[0] is None and chain[1] == pytest.approx(0.19, abs=0.01)
