"""Daily P&L rolled up by day, week, month, account or contract, with a total row.

Input is the ``daily_pnl`` frame (:func:`tradelake.analytics.pnl.daily_pnl`) with the
contract's ``root``, so each row's currency comes from the instrument specs. Money is never
added across currencies: there is one group row per (key, currency) and one ``total`` row per
currency. Periods follow the session date: a Sunday-evening CME fill is in Monday's session,
so in Monday's week; weeks are ISO weeks (Monday to Sunday), named ``2025-W44``.
"""

from __future__ import annotations

import polars as pl

from tradelake.analytics.sessions import instrument_frame
from tradelake.instruments import InstrumentTable

TOTAL_KEY = "total"
_KEYS: dict[str, pl.Expr] = {
    "day": pl.col("session_date").dt.strftime("%Y-%m-%d"),
    "week": pl.col("session_date").dt.strftime("%G-W%V"),
    "month": pl.col("session_date").dt.strftime("%Y-%m"),
    "account": pl.col("account"),
    "instrument": pl.col("instrument"),
}
GROUPINGS = tuple(_KEYS)
_SUMS = ("gross_pnl", "commission", "net_pnl", "fills", "round_trips")


def pnl_totals(
    daily: pl.DataFrame, by: str, instruments: InstrumentTable | pl.DataFrame
) -> pl.DataFrame:
    """One row per ``by`` value and currency (keys as text, in time order for periods and
    alphabetical otherwise), then a ``total`` row per currency; ``sessions`` counts the
    distinct session dates of each row."""
    if by not in _KEYS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}; got {by!r}")
    currency = instrument_frame(instruments).select("root", "currency")
    frame = daily.join(currency, on="root", how="left").with_columns(_KEYS[by].alias(by))
    sums = [pl.col(name).sum() for name in _SUMS]
    sessions = pl.col("session_date").n_unique().cast(pl.Int64).alias("sessions")
    groups = frame.group_by(by, "currency").agg(*sums, sessions).sort(by, "currency")
    totals = (
        frame.group_by("currency")
        .agg(*sums, sessions)
        .sort("currency")
        .with_columns(pl.lit(TOTAL_KEY).alias(by))
    )
    columns = [by, "currency", *_SUMS, "sessions"]
    return pl.concat([groups.select(columns), totals.select(columns)], how="vertical_relaxed")
