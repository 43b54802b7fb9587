"""Table contracts of the pulled feeds: macro series, scored news and option quotes.

Declared in :mod:`tradelake.tables` with every other contract (nothing needs importing for
staging or the feature store to know them); re-exported here beside the choices. The record tags of
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
  the providers' units, which the column names carry: ``vega_per_vol_pt`` (price change for
  +0.01 of vol), ``theta_per_day`` (per calendar day), ``rho_per_rate_pt`` (per +0.01 of
  rate); ``delta`` and ``gamma`` per 1.00 of the underlying. The Python API
  (:mod:`tradelake.analytics.greeks`) returns plain derivatives instead: per 1.00 of vol and
  rate, theta per year. Staged files from before the rename say ``vega``, ``theta``, ``rho``
  (``renamed`` maps them). The greeks and ``iv_note`` are excluded from the version hash, so
  a new greeks library never re-versions old quotes. Its latest table is ``options``.
"""

from __future__ import annotations

import polars as pl

from tradelake.tables import MACRO_RAW, NEWS_RAW, OPTIONS_RAW, TableSpec

__all__ = ["FEED_TABLES", "MACRO_RAW", "NEWS_RAW", "OPTIONS_RAW", "empty_frame"]

FEED_TABLES: tuple[TableSpec, ...] = (MACRO_RAW, NEWS_RAW, OPTIONS_RAW)


def empty_frame(spec: TableSpec) -> pl.DataFrame:
    """A zero-row frame with exactly the table's content columns (an empty chain or feed)."""
    return pl.DataFrame(schema=dict(spec.content))
