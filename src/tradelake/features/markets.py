"""Market-data features: macro vintages as of a time, daily news sentiment, option-chain shape.

Tables (rebuilt in the refresh transaction when their staged inputs change):

- ``macro_latest``: per (series, observation date) the newest vintage, i.e. the series as it
  reads today. History stays in ``macro`` (one row per vintage).
- ``news_sentiment_daily``: per UTC day and ticker (``ticker`` NULL = all stories), the story
  count and mean/min/max ``sentiment``; the stories' ``tickers`` text is split on commas.
- ``option_chain_features``: one row per (underlying, quote_ts) from
  :func:`tradelake.features.option_chain.chain_features`.

Point-in-time reads: :func:`macro_as_of` answers "what did we know of this series at time t",
and :func:`point_in_time` is the generic ASOF join of entities with timestamps to a feature
table (DESIGN §6), never returning a value stamped after the entity's time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

import polars as pl

from tradelake.errors import FeatureStoreError
from tradelake.features.definitions import BuildContext, feature
from tradelake.features.option_chain import chain_features
from tradelake.features.store import FeatureStore

if TYPE_CHECKING:
    import duckdb

    Source = duckdb.DuckDBPyConnection | FeatureStore
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@feature("macro_latest", depends_on=("macro_raw",), sql=True)
def build_macro_latest(ctx: BuildContext) -> None:
    ctx.replace(
        "macro_latest",
        ctx.frame(
            "SELECT series_id, observation_date, value, realtime_start, realtime_end, learned_ts "
            "FROM main.macro QUALIFY row_number() OVER (PARTITION BY series_id, observation_date "
            "ORDER BY realtime_start DESC, learned_ts DESC) = 1"
        ),
    )


@feature("news_sentiment_daily", depends_on=("news_raw",), sql=True)
def build_news_sentiment_daily(ctx: BuildContext) -> None:
    ctx.replace(
        "news_sentiment_daily",
        ctx.frame(
            "WITH stories AS (SELECT CAST(timezone('UTC', published) AS DATE) AS day, tickers, "
            "  sentiment FROM main.news), "
            "per_ticker AS (SELECT day, trim(unnest(string_split(tickers, ','))) AS ticker, "
            "  sentiment FROM stories WHERE tickers IS NOT NULL), "
            "combined AS (SELECT day, ticker, sentiment FROM per_ticker "
            "  UNION ALL SELECT day, NULL AS ticker, sentiment FROM stories) "
            "SELECT day, ticker, count(*) AS stories, avg(sentiment) AS mean_sentiment, "
            "  min(sentiment) AS min_sentiment, max(sentiment) AS max_sentiment "
            "FROM combined GROUP BY day, ticker ORDER BY day, ticker NULLS FIRST"
        ),
    )


@feature("option_chain_features", depends_on=("options_raw",), sql=True)
def build_option_chain_features(ctx: BuildContext) -> None:
    quotes = ctx.frame(
        'SELECT underlying, quote_ts, expiry, strike, "right", volume, open_interest, '
        "underlying_price, iv, delta FROM main.options"
    )
    ctx.replace("option_chain_features", chain_features(quotes))


@dataclass(frozen=True)
class MacroPoint:
    """One observation as it was known: its value (None = the producer said "missing")."""

    series_id: str
    observation_date: date
    value: float | None
    realtime_start: date
    learned_ts: datetime


def macro_as_of(
    source: Source,
    series_id: str,
    as_of: datetime,
    *,
    observation_date: date | None = None,
    basis: Literal["learned", "published"] = "learned",
) -> MacroPoint | None:
    """The value of ``series_id`` known at ``as_of`` (the latest observation, or the one given).

    ``basis="learned"`` (default) counts only vintages *we* had by then (``learned_ts <=
    as_of``), so a backtest never sees a number before it reached the desk. ``"published"``
    counts vintages FRED/ALFRED says were public by then (``realtime_start <= as_of``'s date,
    day resolution), which is what a backfill of ALFRED history can offer. The latest vintage
    started by then wins; ``realtime_end`` is not used because a default FRED request closes
    every vintage on the request day.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (the feature store stores UTC)")
    # Every version, not only the latest: a later delivery that closes a vintage
    # (ALFRED sets its realtime_end) is a new version learned later, and must not hide what
    # the desk knew before it arrived.
    sql = (
        "SELECT series_id, observation_date, value, realtime_start, learned_ts "
        "FROM staging.macro_raw WHERE series_id = ? "
        "AND realtime_start <= CAST(timezone('UTC', ?::TIMESTAMPTZ) AS DATE)"
    )
    params: list[object] = [series_id, as_of]
    if basis == "learned":
        sql += " AND learned_ts <= ?"
        params.append(as_of)
    if observation_date is not None:
        sql += " AND observation_date = ?"
        params.append(observation_date)
    sql += (
        " ORDER BY observation_date DESC, realtime_start DESC, learned_ts DESC, version DESC"
        " LIMIT 1"
    )
    with _connection(source) as con:
        rows = con.execute(sql, params).fetchall()
    if not rows:
        return None
    sid, obs, value, start, learned = rows[0]
    return MacroPoint(sid, obs, value, start, learned)


def point_in_time(
    source: Source,
    entities: pl.DataFrame,
    table: str,
    *,
    by: Sequence[str],
    at: str,
    feature_ts: str,
) -> pl.DataFrame:
    """ASOF-join ``entities`` to ``table``: per row, the latest feature row with the same ``by``
    values and ``feature_ts <= entities[at]``; feature columns are NULL where none exists.

    Example: ``point_in_time(store, trades, "option_chain_features", by=["underlying"],
    at="timestamp", feature_ts="quote_ts")``.
    """
    for name in (table, at, feature_ts, *by):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a plain SQL identifier")
    keys = " AND ".join(f'e."{c}" = f."{c}"' for c in by)
    on = f"{keys} AND " if keys else ""
    excluded = ", ".join(f'"{c}"' for c in by)
    with _connection(source) as con:
        feature_columns = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
        clash = set(entities.columns) & (set(feature_columns) - set(by))
        if clash:
            raise FeatureStoreError(
                f"entity columns {sorted(clash)} also exist in {table}; rename them first."
            )
        con.register("__entities", entities.with_row_index("__order").to_arrow())
        try:
            select = f"f.* EXCLUDE ({excluded})" if by else "f.*"
            return (
                con.sql(
                    f'SELECT e.*, {select} FROM __entities e ASOF LEFT JOIN "{table}" f '
                    f'ON {on}e."{at}" >= f."{feature_ts}" ORDER BY e.__order'
                )
                .pl()
                .drop("__order")
            )
        finally:
            con.unregister("__entities")


@contextmanager
def _connection(source: Source) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's connection as is, or a read-only one on the store that is closed after."""
    if isinstance(source, FeatureStore):
        con = source.connect(read_only=True)
        try:
            yield con
        finally:
            con.close()
    else:
        yield source
