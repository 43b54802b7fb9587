"""A data home staged before news_raw gained sentiment_label / sentiment_model / scored_ts.

Its old partition files lack those columns; the feature store must still build ``news`` (NULL
there), and a re-delivery scored by a model becomes version 2 (its model changed from none).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from tradelake.jobs.ingest import process_object
from tradelake.ml.sentiment import sentiment_model
from tradelake.platform import Platform
from tradelake.sources.base import get_source

OLD_COLUMNS = ("sentiment_label", "sentiment_model", "scored_ts")


def _page() -> bytes:
    return json.dumps(
        [
            {
                "category": "company",
                "datetime": int(datetime(2026, 11, 2, 14, i, tzinfo=UTC).timestamp()),
                "headline": f"Acme {i} beats estimates",
                "id": i,
                "image": "",
                "related": "AAPL",
                "source": "Yahoo",
                "summary": "",
                "url": f"https://x.test/{i}",
            }
            for i in range(4)
        ]
    ).encode()


def test_files_staged_before_the_new_columns_still_refresh_and_version(home: Path) -> None:
    platform = Platform.open(home)
    parser = get_source("finnhub")
    body = _page()
    put = platform.landing.put(body, "finnhub", "old.json", parser.content_type)
    assert process_object(platform.ingest_env, put.obj, body, parser, path="x").status == (
        "ingested"
    )
    # Rewrite the staged files as an older release wrote them: without the new columns.
    files = list((home).rglob("news_raw/**/*.parquet"))
    assert files
    for f in files:
        pl.read_parquet(f).drop(OLD_COLUMNS).write_parquet(f)
    platform.refresh()
    old = platform.features.query("SELECT uuid, sentiment_model, version FROM news")
    assert old.height == 4 and old["sentiment_model"].null_count() == 4

    again = body.replace(b"beats estimates", b"beats estimates")  # same stories, new object
    put2 = platform.landing.put(again + b" ", "finnhub", "new.json", parser.content_type)
    result = process_object(platform.ingest_env, put2.obj, again, parser, path="y")
    assert result.status == "ingested", result.error
    platform.refresh()
    new = platform.features.query("SELECT sentiment_model, version FROM news")
    assert new["version"].to_list() == [2] * 4
    assert (new["sentiment_model"] == sentiment_model().model_id).all()
