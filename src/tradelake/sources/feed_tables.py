"""Table contracts of the pulled feeds: macro series, scored news and option quotes.

Registered with :func:`tradelake.tables.register_table` at import, so importing any feed parser
makes the staging writer and the feature store aware of these tables. The record tags of
DESIGN §3 (``source``, ``ingest_ts``, ``version``, ``landing_id``) are added by ``TableSpec``.

Choices a caller may rely on:

- ``macro_raw``: one row per *vintage* (series, observation date, ``realtime_start``), so a
  revision is a new row, not a new version. Partitioned by ``learned_ts`` (the landing time,
  one value per payload), not by observation date or vintage: an ALFRED pull of an 80-year
  series would otherwise write a file per quarter or per revision date. ``learned_ts`` is
  excluded from the version hash so a re-pull of unchanged numbers adds nothing.
- ``news_raw``: ``uuid`` is a UUIDv5 of the canonical URL (else the guid, else headline +
  publication time) so the same story from two feeds is one row. Only ``headline`` and
  ``published`` decide versions: feeds disagree on bodies (NewsAPI truncates ``content``) and on
  scores, and hashing those would bump a version on every alternate poll of two feeds.
  ``tickers`` is comma-joined, sorted, upper-case text (NULL when unknown) because the same SQL
  must run on Redshift, which has no array type.
  ``sentiment`` is in [-1, 1] (negative = bearish), scored at parse time (``scored_ts``) by
  ``sentiment_model`` (``kind:version``), with its class in ``sentiment_label`` (bearish,
  bullish, neutral). ``sentiment_model`` is hashed and the score is not: re-scoring stories with
  another model writes a new version of each (``tradelake sentiment rescore``), never edits a
  row, while two feeds scoring with the same model still agree. ``scored_ts -
  published`` of a story's first version is its freshness (``tradelake status``). ``url`` is as the
  producer sent it; ``publisher`` is the outlet (Finnhub ``source``, NewsAPI ``source.name``,
  the RSS channel title) and ``feed`` our ``[[feeds]]`` name.
- ``options_raw``: ``symbol`` is the compact OCC symbol; ``quote_ts`` the snapshot time shared
  by a whole chain. Our ``iv`` (annual fraction) and greeks are computed at parse time (the
  quote and the model inputs are in the same payload, and the stream path gets them too) in
  the providers' units: ``vega`` per vol point, ``theta`` per calendar day, ``rho`` per rate
  point. They and ``iv_note`` are excluded from the version hash, so a new greeks library
  never re-versions old quotes. Its latest table is ``options``.
"""

from __future__ import annotations

import polars as pl

from tradelake.tables import UTC_TS, TableSpec, register_table

MACRO_RAW = register_table(
    TableSpec(
        name="macro_raw",
        content={
            "series_id": pl.Utf8(),
            "observation_date": pl.Date(),
            "value": pl.Float64(),
            "realtime_start": pl.Date(),
            "realtime_end": pl.Date(),
            "learned_ts": UTC_TS,
        },
        natural_key=("series_id", "observation_date", "realtime_start"),
        date_column="learned_ts",
        hashed=("value", "realtime_end"),
    )
)

NEWS_RAW = register_table(
    TableSpec(
        name="news_raw",
        content={
            "uuid": pl.Utf8(),
            "headline": pl.Utf8(),
            "body": pl.Utf8(),
            "published": UTC_TS,
            "sentiment": pl.Float64(),
            "sentiment_label": pl.Utf8(),
            "sentiment_model": pl.Utf8(),
            "scored_ts": UTC_TS,
            "url": pl.Utf8(),
            "tickers": pl.Utf8(),
            "publisher": pl.Utf8(),
            "feed": pl.Utf8(),
        },
        natural_key=("uuid",),
        date_column="published",
        hashed=("headline", "published", "sentiment_model"),
    )
)

OPTIONS_RAW = register_table(
    TableSpec(
        name="options_raw",
        content={
            "underlying": pl.Utf8(),
            "symbol": pl.Utf8(),
            "expiry": pl.Date(),
            "strike": pl.Float64(),
            "right": pl.Utf8(),
            "bid": pl.Float64(),
            "ask": pl.Float64(),
            "last": pl.Float64(),
            "volume": pl.Int64(),
            "open_interest": pl.Int64(),
            "underlying_price": pl.Float64(),
            "quote_ts": UTC_TS,
            "provider_iv": pl.Float64(),
            "iv": pl.Float64(),
            "delta": pl.Float64(),
            "gamma": pl.Float64(),
            "vega": pl.Float64(),
            "theta": pl.Float64(),
            "rho": pl.Float64(),
            "iv_note": pl.Utf8(),
        },
        natural_key=("symbol", "quote_ts"),
        date_column="quote_ts",
        hashed=(
            "bid",
            "ask",
            "last",
            "volume",
            "open_interest",
            "underlying_price",
            "provider_iv",
        ),
    )
)

FEED_TABLES: tuple[TableSpec, ...] = (MACRO_RAW, NEWS_RAW, OPTIONS_RAW)


def empty_frame(spec: TableSpec) -> pl.DataFrame:
    """A zero-row frame with exactly the table's content columns (an empty chain or feed)."""
    return pl.DataFrame(schema=dict(spec.content))
