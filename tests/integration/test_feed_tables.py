"""Landed feed payloads through ingest, staging and the feature store, in a temporary home.

Each payload is landed as the pull job lands it (source tag, feed options in the landing
attributes) and staged with ``jobs.ingest.process_object``; the assertions read the DuckDB
feature tables an analyst would query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tradelake.features.markets
import tradelake.sources.macro
import tradelake.sources.news
import tradelake.sources.options  # noqa: F401
from fixtures import feeds
from tradelake.features import FeatureStore
from tradelake.features.markets import MacroPoint, macro_as_of, point_in_time
from tradelake.instruments import InstrumentTable
from tradelake.jobs.ingest import FileResult, IngestEnv, process_object
from tradelake.landing import LandingStore
from tradelake.sources.base import get_source
from tradelake.sources.feed_tables import OPTIONS_RAW
from tradelake.staging import StagingWriter

DAY1 = datetime(2026, 11, 19, 14, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


@dataclass
class Home:
    env: IngestEnv
    store: FeatureStore

    def land(
        self, kind: str, source: str, name: str, data: bytes, now: datetime, **options: Any
    ) -> FileResult:
        parser = get_source(kind)
        # ingest_ts stands in for ParseContext.ingest_ts until the context carries it.
        recorded = {**options, "ingest_ts": now.isoformat()}
        attributes = {"kind": kind, "options": json.dumps(recorded, sort_keys=True)}
        put = self.env.landing.put(
            data, source, name, parser.content_type, now=now, attributes=attributes
        )
        return process_object(self.env, put.obj, data, parser, path=name)


@pytest.fixture
def lake(home: Path) -> Home:
    staging = StagingWriter(home / "staging")
    env = IngestEnv(LandingStore(str(home / "landing")), staging, InstrumentTable())
    return Home(env, FeatureStore(home / "features.duckdb", staging))


def _revised_csv() -> tuple[bytes, bytes]:
    first = feeds.fred_graph_csv(series=("UNRATE",), n=24)
    lines = first.decode().splitlines()
    body = [line for line in lines if not line.startswith("2023-13")]
    revised = [*body[:-1], body[-1].split(",")[0] + ",9.9", "2023-01-01,4.4"]
    return first, ("\n".join(revised) + "\n").encode()


def test_macro_vintages_answer_what_was_known_when(lake: Home) -> None:
    day1, day2 = _revised_csv()
    assert lake.land("fred_csv", "fred", "unrate-1.csv", day1, DAY1).status == "ingested"
    assert lake.land("fred_csv", "fred", "unrate-1.csv", day2, DAY2).status == "ingested"
    gdp, facts = feeds.fred_json(n=40)
    assert lake.land("fred", "fred", "gdp-1.json", gdp, DAY2, series_id="GDP").rows > 40
    lake.store.refresh()

    revised_obs = date(2022, 12, 1)
    known_day1 = macro_as_of(lake.store, "UNRATE", DAY1 + timedelta(hours=4))
    assert known_day1 is not None and known_day1.observation_date == revised_obs
    assert known_day1.value != 9.9 and known_day1.learned_ts == DAY1
    latest = macro_as_of(lake.store, "UNRATE", DAY2 + timedelta(hours=1))
    assert latest == MacroPoint("UNRATE", date(2023, 1, 1), 4.4, DAY2.date(), DAY2)
    as_then = macro_as_of(
        lake.store, "UNRATE", DAY2 + timedelta(hours=1), observation_date=revised_obs
    )
    assert as_then is not None and as_then.value == 9.9
    assert macro_as_of(lake.store, "UNRATE", DAY1 - timedelta(hours=1)) is None

    revised: dict[date, tuple[list[date], list[float]]] = facts["revised"]  # type: ignore[assignment]
    obs, (starts, values) = next((o, v) for o, v in revised.items() if len(v[0]) == 3)
    middle = datetime.combine(starts[1] + timedelta(days=2), datetime.min.time(), UTC)
    published = macro_as_of(lake.store, "GDP", middle, observation_date=obs, basis="published")
    assert published is not None and published.value == pytest.approx(values[1])
    assert macro_as_of(lake.store, "GDP", middle, observation_date=obs) is None  # learned later

    current = lake.store.query(
        "SELECT value FROM macro_latest WHERE series_id = 'UNRATE' AND observation_date = ?",
        [revised_obs],
    )
    assert current["value"].to_list() == [9.9]


def test_same_story_from_two_feeds_is_one_row_and_a_new_date_is_a_new_version(
    lake: Home,
) -> None:
    rss, _ = feeds.rss(n=30)
    site = "https://www.example-news.com/markets"
    shared = tuple(
        f"{site}/{t.lower()}-{i}?utm_campaign=x" for i, t in enumerate(feeds.TICKERS[:4])
    )
    api, _ = feeds.newsapi(n=10, shared_links=shared)
    assert lake.land("rss", "rss:example", "example-1.xml", rss, DAY1).status == "ingested"
    assert lake.land("rss", "rss:example", "example-1.xml", rss, DAY2).status == "duplicate"
    assert lake.land("newsapi", "newsapi", "wire-1.json", api, DAY1).status == "ingested"
    body = json.loads(api)
    body["articles"][6]["publishedAt"] = "2026-11-20T21:00:00Z"  # re-published
    moved = lake.land("newsapi", "newsapi", "wire-2.json", json.dumps(body).encode(), DAY2)
    assert moved.tables["news_raw"].staged == 1 and moved.tables["news_raw"].unchanged == 9
    lake.store.refresh()

    news = lake.store.table("news")
    assert news.height == 29 + 10 - 4  # 30 items - 1 bad date, plus 10, minus 4 shared
    assert news["uuid"].n_unique() == news.height
    story = news.filter(pl.col("url") == "https://www.wire.example/6").row(0, named=True)
    assert story["version"] == 2 and story["published"] == datetime(2026, 11, 20, 21, tzinfo=UTC)
    daily = lake.store.table("news_sentiment_daily")
    assert daily.filter(pl.col("ticker").is_null())["stories"].sum() == news.height
    quarantined = lake.env.staging.quarantined("news_raw")
    assert quarantined["reason"].to_list() == [
        "unparseable published 'Thursday, the 5th of November'"
    ]


def test_option_chains_are_priced_and_summarised_per_snapshot(lake: Home) -> None:
    chain = feeds.chain()
    result = lake.land(
        "tradier", "options:tradier", "aapl-1.json", feeds.tradier(chain), DAY2, symbol="AAPL"
    )
    assert result.rows == len(chain) and result.quarantined == 4
    refreshed = lake.store.refresh()
    assert {"options", "option_chain_features"} <= set(refreshed.rebuilt)

    options = lake.store.table("options")
    assert options.height == len(chain) - 4
    assert options.filter(pl.col("iv").is_not_null()).height > 100
    features = lake.store.table("option_chain_features")
    assert features.select("underlying", "quote_ts").rows() == [("AAPL", feeds.SNAPSHOT)]
    assert features["atm_iv"][0] == pytest.approx(0.19, abs=0.01)

    entities = pl.DataFrame(
        {
            "underlying": ["AAPL", "AAPL", "MSFT"],
            "at": [
                feeds.SNAPSHOT - timedelta(hours=1),
                feeds.SNAPSHOT + timedelta(hours=1),
                feeds.SNAPSHOT + timedelta(hours=1),
            ],
        },
        schema={"underlying": pl.Utf8, "at": pl.Datetime("us", "UTC")},
    )
    joined = point_in_time(
        lake.store,
        entities,
        "option_chain_features",
        by=["underlying"],
        at="at",
        feature_ts="quote_ts",
    )
    assert joined["atm_iv"].is_null().to_list() == [True, False, True]
    assert joined["underlying"].to_list() == ["AAPL", "AAPL", "MSFT"]


def test_greek_columns_staged_under_their_old_names_are_read_under_the_new(lake: Home) -> None:
    """Files staged before the greeks' columns carried their units (``vega``, ``theta``,
    ``rho``) sit beside new ones; the feature store and ``staging.read`` map the old names."""
    aapl, msft = feeds.chain("AAPL", 230.0), feeds.chain("MSFT", 420.0)
    lake.land("tradier", "options:tradier", "aapl-1.json", feeds.tradier(aapl), DAY2)
    expected = lake.env.staging.read("options_raw").select("symbol", "vega_per_vol_pt")
    for path in lake.env.staging.files("options_raw"):  # as the previous release staged them
        old = {new: old for old, new in OPTIONS_RAW.renamed.items()}
        pl.read_parquet(path).rename(old).write_parquet(path)
    lake.land(
        "tradier", "options:tradier", "msft-1.json", feeds.tradier(msft, underlying="MSFT"), DAY2
    )

    lake.store.refresh(rebuild_all=True)
    options = lake.store.table("options")

    assert {"vega", "theta", "rho"}.isdisjoint(options.columns)
    by_underlying = options.group_by("underlying").agg(pl.col("theta_per_day").is_not_null().sum())
    priced_aapl = expected["vega_per_vol_pt"].is_not_null().sum()
    assert priced_aapl > 100  # some deep in-the-money mids are below intrinsic: no greeks
    assert dict(by_underlying.rows()) == {"AAPL": priced_aapl, "MSFT": len(msft) - 5}
    old_rows = options.filter(pl.col("underlying") == "AAPL").select("symbol", "vega_per_vol_pt")
    assert old_rows.sort("symbol").equals(expected.sort("symbol"))
    staged = lake.env.staging.read("options_raw")
    assert staged["vega_per_vol_pt"].null_count() == len(aapl) - 4 - priced_aapl + 1

    # A corrected chain repeats keys: the latest rows become a ranked file. One the previous
    # release wrote (old names) is rebuilt by the next refresh even though nothing changed.
    corrected = feeds.tradier(aapl).replace(b'"volume": 0,', b'"volume": 1,')
    lake.land("tradier", "options:tradier", "aapl-2.json", corrected, DAY2 + timedelta(hours=1))
    lake.store.refresh()
    (ranked,) = (lake.store.tables_dir / "options").glob("*.parquet")
    pl.read_parquet(ranked).rename(old).write_parquet(ranked)
    assert "vega" in lake.store.table("options").columns

    lake.store.refresh()
    assert "vega_per_vol_pt" in lake.store.table("options").columns


def test_an_empty_lake_still_builds_every_market_table(lake: Home) -> None:
    lake.store.refresh()
    for table in ("macro", "macro_latest", "news_sentiment_daily", "option_chain_features"):
        assert lake.store.table(table).height == 0, table
    assert macro_as_of(lake.store, "GDP", DAY2) is None
    assert lake.store.table("option_chain_features").columns[:2] == ["underlying", "quote_ts"]
