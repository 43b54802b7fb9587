"""News sentiment through ingest: label and model columns, re-scoring as versions, freshness.

Stories are landed as the pull job lands a Finnhub page (feed options in the landing
attributes) into a temporary home whose ``tradelake.toml`` declares the feed, then read back
from the feature store and from ``tradelake status --json``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

import tradelake.sources.news as news
from tradelake.cli import feeds as feeds_cli
from tradelake.jobs.ingest import FileResult, process_object
from tradelake.ml.sentiment import DEFAULT_MODEL, sentiment_model
from tradelake.platform import Platform
from tradelake.sources.base import get_source

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
HEADLINES = (
    "{t} shares plunge after guidance cut and analyst downgrade",
    "{t} beats estimates and raises full-year outlook, stock jumps",
    "{t} to present at investor conference next week",
)


def finnhub_page(first_id: int, published: list[datetime]) -> bytes:
    items = [
        {
            "category": "company",
            "datetime": int(ts.timestamp()),
            "headline": HEADLINES[i % 3].format(t=f"T{first_id + i}"),
            "id": first_id + i,
            "image": "",
            "related": "AAPL",
            "source": "Yahoo",
            "summary": "",
            "url": f"https://x.test/{first_id + i}",
        }
        for i, ts in enumerate(published)
    ]
    return json.dumps(items).encode()


@pytest.fixture
def platform(home: Path) -> Platform:
    (home / "tradelake.toml").write_text(
        '[[feeds]]\nname = "fh"\nkind = "finnhub"\nurl = "https://finnhub.test/news"\n'
        'schedule = "* * * * *"\nsymbol = "AAPL"\napi_key_env = "TRADELAKE_TEST_FINNHUB_KEY"\n',
        encoding="utf-8",
    )
    return Platform.open(home)


def land(platform: Platform, body: bytes, scored: datetime, mp: pytest.MonkeyPatch) -> FileResult:
    mp.setattr(news, "scored_now", lambda: scored)
    parser = get_source("finnhub")
    put = platform.landing.put(
        body,
        "finnhub",
        f"fh-{scored:%H%M%S}.json",
        parser.content_type,
        attributes={"kind": "finnhub", "options": json.dumps({"feed": "fh"})},
    )
    result = process_object(platform.ingest_env, put.obj, body, parser, path="fh")
    assert result.status == "ingested", result.error
    platform.refresh()
    return result


def test_stories_carry_score_label_and_model_and_rescoring_adds_versions(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    land(platform, finnhub_page(1, [T0 - timedelta(minutes=i) for i in range(6)]), T0, monkeypatch)
    shipped = sentiment_model().model_id  # the default: tfns_minilm (tfns_linear without it)
    first = platform.features.query("SELECT * FROM news ORDER BY uuid")
    assert first.height == 6
    assert set(first["sentiment_model"]) == {shipped}
    by_text = dict(zip(first["headline"], first["sentiment_label"], strict=True))
    assert by_text["T1 shares plunge after guidance cut and analyst downgrade"] == "bearish"
    assert by_text["T2 beats estimates and raises full-year outlook, stock jumps"] == "bullish"
    assert by_text["T3 to present at investor conference next week"] == "neutral"
    assert first["sentiment"].is_between(-1, 1).all()

    rescored = platform.rescore_news("lexicon")
    assert (rescored.stories, rescored.versions, rescored.model) == (6, 6, "lexicon:1")
    staged = platform.staging.read("news_raw").sort("uuid", "version")
    assert staged.height == 12 and staged["version"].to_list() == [1, 2] * 6
    v1 = staged.filter(pl.col("version") == 1).select(first.columns).sort("uuid")
    assert v1.equals(first.select(first.columns)), "re-scoring edited a stored row"
    latest = platform.features.query("SELECT * FROM news ORDER BY uuid")
    assert set(latest["sentiment_model"]) == {"lexicon:1"}
    assert latest["uuid"].to_list() == first["uuid"].to_list()
    assert latest["headline"].to_list() == first["headline"].to_list()

    assert platform.rescore_news("lexicon").versions == 0  # already scored by that model
    back = platform.rescore_news(DEFAULT_MODEL)
    assert back.versions == 6
    assert platform.features.query("SELECT max(version) AS v FROM news")["v"][0] == 3
    again = platform.features.query("SELECT sentiment FROM news ORDER BY uuid")["sentiment"]
    assert np.allclose(again.to_numpy(), first["sentiment"].to_numpy())


def test_status_reports_publication_to_scoring_p50_p99_per_story(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Backfill: published long before the feed's first scoring, so not counted.
    land(platform, finnhub_page(100, [T0 - timedelta(hours=5)] * 3), T0, monkeypatch)
    delays = [30.0, 45.0, 60.0, 90.0, 120.0, 200.0, 280.0, 600.0]
    scored = T0 + timedelta(minutes=30)
    published = [scored - timedelta(seconds=d) for d in delays]
    land(platform, finnhub_page(200, published), scored, monkeypatch)
    platform.rescore_news("lexicon")  # a re-score is not a delivery: freshness unchanged

    app = typer.Typer()
    feeds_cli.register(app)
    out = CliRunner().invoke(app, ["status", "--home", str(platform.settings.home), "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.stdout)
    assert row["feed"] == "fh" and row["fresh_stories"] == len(delays)
    assert row["fresh_p50_s"] == pytest.approx(np.percentile(delays, 50), abs=1e-3)
    assert row["fresh_p99_s"] == pytest.approx(np.percentile(delays, 99), abs=1e-3)
    assert row["fresh_max_s"] == pytest.approx(600.0)

    table = CliRunner().invoke(app, ["status", "--home", str(platform.settings.home)])
    assert "fresh p99 s" in table.output


def test_a_replay_rebuilds_the_rescored_versions(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    land(
        platform, finnhub_page(300, [T0 - timedelta(minutes=i) for i in range(4)]), T0, monkeypatch
    )
    platform.rescore_news("lexicon")
    cols = ["uuid", "version", "sentiment", "sentiment_label", "sentiment_model"]
    before = platform.staging.read("news_raw").select(cols).sort("uuid", "version")
    platform.replay()
    after = platform.staging.read("news_raw").select(cols).sort("uuid", "version")
    assert after.equals(before)
    assert after["version"].to_list() == [1, 2] * 4
