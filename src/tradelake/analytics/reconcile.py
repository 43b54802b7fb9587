"""Reconcile our round trips (built from executions) against the ATAS Journal sheet.

ATAS Journal semantics are an assumption, not a documented format: each journal row is taken
to be one flat-to-flat trade of one account and contract, with ``open_ts`` / ``close_ts`` the
first and last fill, ``open_price`` / ``close_price`` volume-weighted averages,
``open_volume`` the contracts opened, signed by direction (+ long, − short), ``close_volume``
the contracts closed (compared by absolute value) and ``pnl`` the trade's P&L in the
instrument's currency before commissions. Rows with a null ``close_ts`` are positions still
open at export and are ignored. For a flat-to-flat trade FIFO P&L equals
(close − open average) × volume × point value, so the two sources should agree exactly.

Matching: same account and symbol, open and close times each within ``tolerance`` (ATAS
writes seconds, executions carry milliseconds); when several candidates qualify, the pair
with the smallest total time difference wins, one to one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import polars as pl

from tradelake.analytics.sessions import instrument_frame
from tradelake.instruments import InstrumentTable

STATUSES = (
    "matched",
    "pnl_mismatch",
    "volume_mismatch",
    "missing_in_journal",
    "missing_in_executions",
)

RECONCILIATION_SCHEMA: dict[str, pl.DataType] = {
    "status": pl.Utf8(),
    "account": pl.Utf8(),
    "symbol": pl.Utf8(),
    "round_trip_id": pl.Utf8(),
    "journal_id": pl.Int64(),
    "open_ts": pl.Datetime("us", "UTC"),
    "journal_open_ts": pl.Datetime("us", "UTC"),
    "close_ts": pl.Datetime("us", "UTC"),
    "journal_close_ts": pl.Datetime("us", "UTC"),
    "volume": pl.Int64(),
    "journal_volume": pl.Int64(),
    "journal_close_volume": pl.Int64(),
    "pnl": pl.Float64(),
    "journal_pnl": pl.Float64(),
    "pnl_diff": pl.Float64(),
}


def reconcile_journal(
    round_trips: pl.DataFrame,
    journal: pl.DataFrame,
    instruments: InstrumentTable | pl.DataFrame | None = None,
    *,
    tolerance: timedelta = timedelta(seconds=1),
    pnl_tolerance: float = 0.01,
    compare: Literal["gross_pnl", "net_pnl"] = "gross_pnl",
) -> pl.DataFrame:
    """One row per matched pair or unmatched trade, sorted by account, symbol and open time.

    ``status`` is ``matched`` (volumes equal and |pnl − journal_pnl| ≤ ``pnl_tolerance``),
    ``volume_mismatch`` (checked first), ``pnl_mismatch``, ``missing_in_journal`` (a round
    trip with no journal row) or ``missing_in_executions`` (a closed journal row with no round
    trip). ``volume`` is our signed contracts (+ long), ``pnl`` our ``compare`` column
    (``gross_pnl`` by default: the journal is assumed to be before commissions), and
    ``pnl_diff = pnl − journal_pnl``. A journal row without ``pnl`` falls back to its price
    P&L, (close_price − open_price) × open_volume × point value from ``instruments``.
    """
    ours = round_trips.select(
        "account",
        "symbol",
        "round_trip_id",
        "open_ts",
        "close_ts",
        volume=pl.when(pl.col("direction") == "long").then("qty").otherwise(-pl.col("qty")),
        pnl=pl.col(compare),
    )
    theirs = _closed_journal(journal, instruments)
    pairs = _match(ours, theirs, tolerance)
    ours_all = ours.join(pairs, on="round_trip_id", how="left")
    matched = ours_all.join(theirs, on="journal_id", how="full", suffix="_j", coalesce=False)
    result = matched.select(
        account=pl.coalesce("account", "account_j"),
        symbol=pl.coalesce("symbol", "symbol_j"),
        round_trip_id="round_trip_id",
        journal_id=pl.col("journal_id_j"),
        open_ts="open_ts",
        journal_open_ts="journal_open_ts",
        close_ts="close_ts",
        journal_close_ts="journal_close_ts",
        volume="volume",
        journal_volume="journal_volume",
        journal_close_volume="journal_close_volume",
        pnl="pnl",
        journal_pnl="journal_pnl",
        pnl_diff=pl.col("pnl") - pl.col("journal_pnl"),
    )
    status = (
        pl.when(pl.col("journal_id").is_null())
        .then(pl.lit("missing_in_journal"))
        .when(pl.col("round_trip_id").is_null())
        .then(pl.lit("missing_in_executions"))
        .when(
            (pl.col("volume") != pl.col("journal_volume"))
            | (pl.col("volume").abs() != pl.col("journal_close_volume").abs())
        )
        .then(pl.lit("volume_mismatch"))
        .when(pl.col("pnl_diff").abs() > pnl_tolerance)
        .then(pl.lit("pnl_mismatch"))
        .otherwise(pl.lit("matched"))
    )
    return (
        result.with_columns(status=status)
        .select([pl.col(name).cast(dtype) for name, dtype in RECONCILIATION_SCHEMA.items()])
        .sort(
            "account",
            "symbol",
            pl.coalesce("open_ts", "journal_open_ts"),
            "round_trip_id",
            "journal_id",
            nulls_last=True,
        )
    )


def _closed_journal(
    journal: pl.DataFrame, instruments: InstrumentTable | pl.DataFrame | None
) -> pl.DataFrame:
    specs = instrument_frame(instruments or InstrumentTable()).select("root", "point_value")
    closed = journal.filter(pl.col("close_ts").is_not_null()).join(
        specs, on="root", how="left", maintain_order="left"
    )
    price_pnl = (
        (pl.col("close_price") - pl.col("open_price"))
        * pl.col("open_volume")
        * pl.col("point_value")
    )
    return closed.select(
        "journal_id",
        "account",
        "symbol",
        journal_open_ts="open_ts",
        journal_close_ts="close_ts",
        journal_volume="open_volume",
        journal_close_volume="close_volume",
        journal_pnl=pl.coalesce("pnl", price_pnl),
    )


def _match(ours: pl.DataFrame, theirs: pl.DataFrame, tolerance: timedelta) -> pl.DataFrame:
    """round_trip_id → journal_id, one to one, closest total time difference first."""
    # Bucketing open times by the tolerance finds every candidate within it by looking in the
    # neighbouring buckets only, instead of pairing every trade of a contract with every row.
    width = max(int(tolerance.total_seconds() * 1e6), 1)
    their_bucket = pl.col("journal_open_ts").dt.epoch("us") // width
    neighbours = pl.concat([theirs.with_columns(_bucket=their_bucket + k) for k in (-1, 0, 1)])
    candidates = (
        ours.with_columns(_bucket=pl.col("open_ts").dt.epoch("us") // width)
        .join(neighbours, on=["account", "symbol", "_bucket"])
        .with_columns(
            _open=(pl.col("open_ts") - pl.col("journal_open_ts")).abs(),
            _close=(pl.col("close_ts") - pl.col("journal_close_ts")).abs(),
        )
        .filter((pl.col("_open") <= tolerance) & (pl.col("_close") <= tolerance))
        .sort(pl.col("_open") + pl.col("_close"), "round_trip_id", "journal_id")
    )
    # A candidate that is the only one of both its trade and its journal row is matched
    # whatever the greedy order, so only the contested rest goes through the Python loop.
    alone = (pl.len().over("round_trip_id") == 1) & (pl.len().over("journal_id") == 1)
    candidates = candidates.with_columns(_alone=alone)
    settled = candidates.filter("_alone").select("round_trip_id", "journal_id")
    used_ours: set[str] = set()
    used_theirs: set[int] = set()
    pairs: list[tuple[str, int]] = []
    contested = candidates.filter(~pl.col("_alone")).select("round_trip_id", "journal_id")
    for trip, row in contested.iter_rows():
        if trip not in used_ours and row not in used_theirs:
            used_ours.add(trip)
            used_theirs.add(row)
            pairs.append((trip, row))
    rest = pl.DataFrame(
        pairs, schema={"round_trip_id": pl.Utf8(), "journal_id": pl.Int64()}, orient="row"
    )
    return pl.concat([settled.cast(rest.schema), rest])
