"""Journal statistics over closed round trips: win rate, profit factor, expectancy, drawdown.

Input is the frame of :func:`tradelake.analytics.pnl.round_trips`. Every statistic is computed
on ``net_pnl`` (after commissions), in the instrument's currency: a win is a round trip with
net > 0, a loss one with net < 0, a scratch (net == 0) counts as a trade but neither. When the
frame has a ``currency`` column the statistics are also split by currency, so USD and EUR are
never added together.

Groupings (``by``):

- ``None``: one row (per currency) over everything.
- ``"account"``, ``"instrument"`` (the contract, the round trips' ``symbol``).
- ``"weekday"``: ISO weekday (Monday 1 ... Friday 5) of the round trip's ``session_date``,
  the trading date of its close, so a Sunday-evening CME close counts on Monday.
- ``"hour"``: hour (0-23) of the opening fill in the exchange's local time zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tradelake.analytics.sessions import instrument_frame, local_time
from tradelake.instruments import InstrumentTable

GROUPINGS = ("account", "instrument", "weekday", "hour")
DIMENSIONS = ("all", *GROUPINGS)  # the ``dimension`` values of :func:`statistics_table`
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

STATISTICS_SCHEMA: dict[str, pl.DataType] = {
    "trades": pl.Int64(),
    "wins": pl.Int64(),
    "losses": pl.Int64(),
    "win_rate": pl.Float64(),
    "gross_wins": pl.Float64(),
    "gross_losses": pl.Float64(),
    "profit_factor": pl.Float64(),
    "expectancy": pl.Float64(),
    "avg_win": pl.Float64(),
    "avg_loss": pl.Float64(),
    "largest_win": pl.Float64(),
    "largest_loss": pl.Float64(),
    "max_drawdown": pl.Float64(),
    "net_total": pl.Float64(),
}
_KEY_TYPES: dict[str, pl.DataType] = {
    "account": pl.Utf8(),
    "instrument": pl.Utf8(),
    "weekday": pl.Int8(),
    "hour": pl.Int8(),
}


def journal_statistics(
    round_trips: pl.DataFrame,
    by: str | None = None,
    instruments: InstrumentTable | pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Statistics per group, sorted by the group key (then currency).

    Columns: the ``by`` key (when given), ``currency`` (when the input has it), then
    ``trades``, ``wins``, ``losses``, ``win_rate`` (wins / trades), ``gross_wins`` (sum of
    winning nets), ``gross_losses`` (sum of losing nets, ≤ 0), ``profit_factor`` (gross_wins /
    |gross_losses|, null when there is no loss), ``expectancy`` (mean net per trade),
    ``avg_win``, ``avg_loss`` (≤ 0), ``largest_win``, ``largest_loss`` (≤ 0; nulls when there
    is no win / loss), ``max_drawdown`` (largest peak-to-trough fall of cumulative net P&L in
    close order, starting from 0, as a positive amount) and ``net_total``.

    ``instruments`` (default: the built-in specs) gives the exchange time zone for
    ``by="hour"``.
    """
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"by must be None or one of {', '.join(GROUPINGS)}; got {by!r}")
    keys = ([by] if by else []) + (["currency"] if "currency" in round_trips.columns else [])
    if round_trips.is_empty():
        schema = {k: _KEY_TYPES.get(k, pl.Utf8()) for k in keys} | STATISTICS_SCHEMA
        return pl.DataFrame(schema=schema)
    frame = _with_key(round_trips, by, instruments).sort("close_ts", "round_trip_id")
    return _grouped(frame, keys)


def statistics_table(
    round_trips: pl.DataFrame,
    dimensions: Sequence[str | None] = (None, *GROUPINGS),
    instruments: InstrumentTable | pl.DataFrame | None = None,
) -> pl.DataFrame:
    """:func:`journal_statistics` of every grouping in ``dimensions``, in one long table:
    ``dimension`` names the grouping (``all`` for None), ``key`` is its value as text.

    The round trips are sorted into close order once for all groupings (a sort per grouping
    was most of the cost).
    """
    if round_trips.is_empty():
        frames = [
            _labelled(journal_statistics(round_trips, by=d, instruments=instruments), d)
            for d in dimensions
        ]
    else:
        frame = round_trips
        for dimension in dict.fromkeys(d for d in dimensions if d is not None):
            frame = _with_key(frame, dimension, instruments)
        frame = frame.sort("close_ts", "round_trip_id")
        currency = ["currency"] if "currency" in round_trips.columns else []
        frames = [_labelled(_grouped(frame, ([d] if d else []) + currency), d) for d in dimensions]
    combined = pl.concat(frames, how="diagonal_relaxed")
    rest = [c for c in combined.columns if c not in ("dimension", "key")]
    return combined.select("dimension", "key", *rest)


def in_reading_order(table: pl.DataFrame, dimension: str) -> pl.DataFrame:
    """One dimension's rows of :func:`statistics_table` (``key`` as text) as people read them:
    hours 0..23 in numeric order, weekdays by name from Monday to Sunday, other keys (and
    currencies within a key) alphabetically."""
    within = ["currency"] if "currency" in table.columns else []
    if dimension not in ("weekday", "hour"):
        return table.sort("key", *within)
    ordered = table.sort(pl.col("key").cast(pl.Int64), *within)
    if dimension == "hour":
        return ordered
    names = {str(number): name for number, name in enumerate(WEEKDAYS, start=1)}
    return ordered.with_columns(pl.col("key").replace_strict(names, return_dtype=pl.Utf8))


def _grouped(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The statistics per ``keys`` group of round trips already in close order."""
    if keys:
        grouped = frame.group_by(keys, maintain_order=True).agg(_statistics())
    else:
        grouped = frame.select(_statistics())
    result = grouped.with_columns(
        win_rate=pl.col("wins") / pl.col("trades"),
        profit_factor=pl.when(pl.col("losses") > 0).then(
            pl.col("gross_wins") / -pl.col("gross_losses")
        ),
    ).select(*keys, *STATISTICS_SCHEMA)
    return result.sort(keys) if keys else result


def _labelled(table: pl.DataFrame, dimension: str | None) -> pl.DataFrame:
    """A grouping's table with ``dimension`` and ``key`` (text) in place of its key column."""
    key = pl.col(dimension).cast(pl.Utf8) if dimension else pl.lit("all")
    return table.with_columns(pl.lit(dimension or "all").alias("dimension"), key.alias("key")).drop(
        [dimension] if dimension else []
    )


def _with_key(
    round_trips: pl.DataFrame, by: str | None, instruments: InstrumentTable | pl.DataFrame | None
) -> pl.DataFrame:
    if by == "instrument":
        return round_trips.with_columns(instrument=pl.col("symbol"))
    if by == "weekday":
        return round_trips.with_columns(weekday=pl.col("session_date").dt.weekday())
    if by == "hour":
        zones = instrument_frame(instruments or InstrumentTable()).select("root", "exchange_tz")
        frame = round_trips.join(zones, on="root", how="left", maintain_order="left")
        tzs = frame["exchange_tz"].drop_nulls().unique().sort().to_list()
        hour = local_time("open_ts", "exchange_tz", tzs).dt.hour()
        return frame.with_columns(hour=hour.cast(pl.Int8)).drop("exchange_tz")
    return round_trips


def _statistics() -> list[pl.Expr]:
    net = pl.col("net_pnl")
    wins, losses = net.filter(net > 0), net.filter(net < 0)
    equity = net.cum_sum()
    # The peak starts at 0 (no P&L before the first trade), so a losing first trade counts.
    peak = pl.max_horizontal(equity.cum_max(), pl.lit(0.0))
    return [
        pl.len().cast(pl.Int64).alias("trades"),
        (net > 0).sum().cast(pl.Int64).alias("wins"),
        (net < 0).sum().cast(pl.Int64).alias("losses"),
        wins.sum().alias("gross_wins"),
        losses.sum().alias("gross_losses"),
        net.mean().alias("expectancy"),
        wins.mean().alias("avg_win"),
        losses.mean().alias("avg_loss"),
        wins.max().alias("largest_win"),
        losses.min().alias("largest_loss"),
        (peak - equity).max().clip(lower_bound=0.0).alias("max_drawdown"),
        net.sum().alias("net_total"),
    ]
