"""Daily P&L rolled up by day, week, month, account and contract: hand-summed totals."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from tradelake.analytics.totals import pnl_totals
from tradelake.instruments import InstrumentTable

SPECS = InstrumentTable()
# (session_date, account, instrument, root, gross, commission, fills, round_trips)
ROWS = [
    (date(2025, 10, 31), "A", "MESZ5", "MES", 100.0, 5.0, 4, 2),  # Friday, ISO week 44
    (date(2025, 11, 3), "A", "MESZ5", "MES", -40.0, 2.5, 2, 1),  # Monday, week 45
    (date(2025, 11, 3), "B", "NQZ5", "NQ", 60.0, 4.5, 2, 1),
    (date(2025, 11, 4), "B", "FDAXZ5", "FDAX", 250.0, 4.0, 2, 1),  # EUR
]


def daily() -> pl.DataFrame:
    frame = pl.DataFrame(
        ROWS,
        schema=["session_date", "account", "instrument", "root", "gross_pnl", "commission",
                "fills", "round_trips"],
        orient="row",
    )  # fmt: skip
    return frame.with_columns(net_pnl=pl.col("gross_pnl") - pl.col("commission"))


def rows(by: str) -> list[tuple[object, ...]]:
    return pnl_totals(daily(), by, SPECS).select(by, "currency", "net_pnl", "fills").rows()


def test_by_week_and_month_sum_sessions_and_total_per_currency() -> None:
    assert rows("week") == [
        ("2025-W44", "USD", 95.0, 4),
        ("2025-W45", "EUR", 246.0, 2),
        ("2025-W45", "USD", 13.0, 4),  # -42.5 + 55.5
        ("total", "EUR", 246.0, 2),
        ("total", "USD", 108.0, 8),
    ]
    assert rows("month") == [
        ("2025-10", "USD", 95.0, 4),
        ("2025-11", "EUR", 246.0, 2),
        ("2025-11", "USD", 13.0, 4),
        ("total", "EUR", 246.0, 2),
        ("total", "USD", 108.0, 8),
    ]


def test_by_day_account_and_instrument() -> None:
    assert rows("day")[:3] == [
        ("2025-10-31", "USD", 95.0, 4),
        ("2025-11-03", "USD", 13.0, 4),
        ("2025-11-04", "EUR", 246.0, 2),
    ]
    by_account = pnl_totals(daily(), "account", SPECS)
    assert by_account.select("account", "currency", "net_pnl", "sessions").rows() == [
        ("A", "USD", 52.5, 2),
        ("B", "EUR", 246.0, 1),
        ("B", "USD", 55.5, 1),
        ("total", "EUR", 246.0, 1),
        ("total", "USD", 108.0, 2),
    ]
    assert rows("instrument")[0] == ("FDAXZ5", "EUR", 246.0, 2)
    with pytest.raises(ValueError, match="by must be one of day, week, month"):
        pnl_totals(daily(), "hour", SPECS)
