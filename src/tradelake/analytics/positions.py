"""Open positions marked to the last fill price: what the desk holds now and what it is worth.

What a caller may rely on:

- Quantities and average prices are those of :func:`tradelake.analytics.pnl.open_positions`:
  the FIFO lots still open after the last fill, the same matching that closes round trips, so
  a partial close leaves the *newest* lots open and a flip leaves only the remainder.
- The mark is the price of the last fill of the contract by anyone on the desk (every account
  of the data), in ``(timestamp, trade_id)`` order: the latest price the data knows. There is
  no market-data feed behind it, so ``mark_ts`` says how old it is.
- ``open_pnl = (mark_price - avg_price) × qty × point_value`` in the instrument's
  ``currency``, before the commission of the closing fills (not paid yet).
- ``held_s`` counts seconds from the fill that took the position off flat to ``as_of``.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from tradelake.analytics.pnl import open_positions
from tradelake.analytics.sessions import instrument_frame
from tradelake.instruments import InstrumentTable

POSITION_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.Utf8(),
    "symbol": pl.Utf8(),
    "qty": pl.Int64(),
    "avg_price": pl.Float64(),
    "mark_price": pl.Float64(),
    "mark_ts": pl.Datetime("us", "UTC"),
    "open_pnl": pl.Float64(),
    "currency": pl.Utf8(),
    "opened_ts": pl.Datetime("us", "UTC"),
    "held": pl.Utf8(),
    "held_s": pl.Int64(),
}


def positions(
    trades: pl.DataFrame, instruments: InstrumentTable | pl.DataFrame, *, as_of: datetime
) -> pl.DataFrame:
    """Open positions of ``trades`` (the ``pnl`` fill columns) marked at each contract's last
    fill price (see the module docstring), sorted by account and symbol."""
    still_open = open_positions(trades, instruments)
    return mark_positions(still_open, last_fills(trades), instruments, as_of)


def last_fills(trades: pl.DataFrame) -> pl.DataFrame:
    """Per contract (``symbol``): the price and time of its last fill, in (timestamp, trade_id)
    order, across every account."""
    return (
        trades.filter(pl.col("qty") != 0)
        .sort("timestamp", "trade_id")
        .group_by("symbol")
        .agg(
            pl.col("price").last().alias("mark_price"),
            pl.col("timestamp").last().dt.cast_time_unit("us").alias("mark_ts"),
        )
    )


def mark_positions(
    open_rows: pl.DataFrame,
    marks: pl.DataFrame,
    instruments: InstrumentTable | pl.DataFrame,
    as_of: datetime,
) -> pl.DataFrame:
    """``open_rows`` (``account, symbol, root, qty, avg_price, opened_ts``) with the mark of
    ``marks`` (``symbol, mark_price, mark_ts``), the open P&L, and the time held to ``as_of``.

    Split from :func:`positions` so the feature store's ``open_positions`` table can be marked
    without a second FIFO pass."""
    specs = instrument_frame(instruments).select("root", "point_value", "currency")
    held = pl.lit(as_of).dt.cast_time_unit("us") - pl.col("opened_ts").dt.cast_time_unit("us")
    frame = (
        open_rows.join(marks, on="symbol", how="left")
        .join(specs, on="root", how="left")
        .with_columns(
            open_pnl=(pl.col("mark_price") - pl.col("avg_price"))
            * pl.col("qty")
            * pl.col("point_value")
            + 0.0,  # -0.0 (a short at its own price) reads as 0.00
            held_s=held.dt.total_seconds(),
        )
        .with_columns(held=pl.col("held_s").map_elements(held_text, return_dtype=pl.Utf8))
    )
    return frame.select([pl.col(name).cast(dtype) for name, dtype in POSITION_SCHEMA.items()]).sort(
        "account", "symbol"
    )


def held_text(seconds: int) -> str:
    """Seconds as people read a holding time: ``2d 03:04:05``, ``03:04:05`` under a day."""
    sign, seconds = ("-" if seconds < 0 else ""), abs(int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{sign}{days}d {clock}" if days else f"{sign}{clock}"
