"""Trading features: round trips, daily P&L by session, open positions, journal statistics,
and the reconciliation of our round trips against the ATAS Journal sheet.

The maths lives in :mod:`tradelake.analytics` (pure functions); this module only reads the
deduplicated ``trades``/``journal`` tables and stores the results.
"""

from __future__ import annotations

from functools import partial

from tradelake.analytics import pnl, reconcile, stats
from tradelake.features.definitions import BuildContext, feature


@feature("round_trips", depends_on=("trades_raw",))
def build_round_trips(ctx: BuildContext) -> None:
    trades = ctx.latest("trades_raw", pnl.FILL_COLUMNS)  # not the wide text columns
    report = pnl.pnl_report(trades, ctx.instruments)  # one FIFO pass for all three tables
    ctx.replace("round_trips", report.round_trips)
    ctx.replace("daily_pnl", report.daily)
    ctx.replace("open_positions", report.open_positions)
    # Every grouping (overall, account, instrument, weekday, hour) in one long table.
    statistics = partial(stats.statistics_table, report.round_trips, instruments=ctx.instruments)
    ctx.replace("journal_stats", statistics)


@feature(
    "journal_reconciliation", depends_on=("trades_raw", "atas_journal"), reads=("round_trips",)
)
def build_reconciliation(ctx: BuildContext) -> None:
    trips = ctx.table("round_trips")
    journal = ctx.latest("atas_journal")
    # Matched on the writer thread while the store points DuckDB at the staged files.
    match = partial(reconcile.reconcile_journal, trips, journal, ctx.instruments)
    ctx.replace("journal_reconciliation", match)
