"""Journal statistics on hand-built round trips (nets chosen so every figure is checkable)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from tradelake.analytics.stats import STATISTICS_SCHEMA, in_reading_order, journal_statistics


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def trips(*rows: tuple[str, str, str, str, str, date, float, str]) -> pl.DataFrame:
    """Rows of (account, symbol, root, open UTC, close UTC, session_date, net_pnl, currency)."""
    return pl.DataFrame(
        [
            {
                "account": account,
                "symbol": symbol,
                "root": root,
                "round_trip_id": f"{account}|{symbol}|{i}",
                "open_ts": utc(opened),
                "close_ts": utc(closed),
                "session_date": session,
                "net_pnl": net,
                "currency": currency,
            }
            for i, (account, symbol, root, opened, closed, session, net, currency) in enumerate(
                rows
            )
        ],
        schema_overrides={
            "open_ts": pl.Datetime("us", "UTC"),
            "close_ts": pl.Datetime("us", "UTC"),
        },
    )


# November 2025 is CST (UTC-6): 14:30 UTC opens at 08:30 Chicago time.
MON, TUE, WED = date(2025, 11, 3), date(2025, 11, 4), date(2025, 11, 5)
TRIPS = trips(
    ("B", "MESZ5", "MES", "2025-11-04T20:00:00", "2025-11-04T20:10:00", TUE, -80.0, "USD"),
    ("A", "MESZ5", "MES", "2025-11-03T14:30:00", "2025-11-03T14:40:00", MON, 100.0, "USD"),
    ("A", "NQZ5", "NQ", "2025-11-05T14:31:00", "2025-11-05T14:50:00", WED, 20.0, "USD"),
    ("A", "MESZ5", "MES", "2025-11-03T15:30:00", "2025-11-03T15:35:00", MON, -50.0, "USD"),
    ("B", "NQZ5", "NQ", "2025-11-04T14:45:00", "2025-11-04T15:00:00", TUE, 30.0, "USD"),
)  # in close order the nets are 100, -50, 30, -80, 20


def test_overall_statistics() -> None:
    (row,) = journal_statistics(TRIPS).to_dicts()
    assert row == {
        "currency": "USD",
        "trades": 5,
        "wins": 3,
        "losses": 2,
        "win_rate": 0.6,
        "gross_wins": 150.0,
        "gross_losses": -130.0,
        "profit_factor": pytest.approx(150.0 / 130.0),
        "expectancy": 4.0,
        "avg_win": 50.0,
        "avg_loss": -65.0,
        "largest_win": 100.0,
        "largest_loss": -80.0,
        # equity 100, 50, 80, 0, 20: from the 100 peak down to 0
        "max_drawdown": 100.0,
        "net_total": 20.0,
    }


def test_by_account_with_a_drawdown_below_the_first_peak() -> None:
    result = journal_statistics(TRIPS, by="account")
    assert result.columns == ["account", "currency", *STATISTICS_SCHEMA]
    a, b = result.to_dicts()
    assert (a["account"], a["trades"], a["wins"], a["losses"]) == ("A", 3, 2, 1)
    assert a["win_rate"] == pytest.approx(2 / 3)
    assert a["profit_factor"] == pytest.approx(120.0 / 50.0)
    assert a["expectancy"] == pytest.approx(70.0 / 3)
    assert a["max_drawdown"] == 50.0  # 100, 50, 70
    assert (b["account"], b["net_total"]) == ("B", -50.0)
    assert b["profit_factor"] == pytest.approx(30.0 / 80.0)
    assert b["max_drawdown"] == 80.0  # 30, -50


def test_by_instrument_without_losses_has_null_profit_factor() -> None:
    mes, nq = journal_statistics(TRIPS, by="instrument").to_dicts()
    assert mes["instrument"] == "MESZ5"
    assert mes["max_drawdown"] == 130.0  # 100, 50, -30
    assert mes["largest_loss"] == -80.0
    assert nq["instrument"] == "NQZ5"
    assert (nq["wins"], nq["losses"], nq["win_rate"]) == (2, 0, 1.0)
    assert nq["profit_factor"] is None
    assert (nq["avg_loss"], nq["largest_loss"]) == (None, None)
    assert nq["max_drawdown"] == 0.0


def test_by_weekday_of_the_session_date() -> None:
    result = journal_statistics(TRIPS, by="weekday")
    assert result["weekday"].to_list() == [1, 2, 3]
    assert result["net_total"].to_list() == [50.0, -50.0, 20.0]
    assert result["trades"].to_list() == [2, 2, 1]
    # Sunday 17:30 CT is Monday's CME session: it counts on Monday, not Sunday
    sunday = trips(
        ("A", "MESZ5", "MES", "2025-11-02T23:10:00", "2025-11-02T23:30:00", MON, 7.0, "USD")
    )
    assert journal_statistics(sunday, by="weekday")["weekday"].to_list() == [1]


def test_by_exchange_local_hour_of_the_open() -> None:
    result = journal_statistics(TRIPS, by="hour")
    assert result["hour"].to_list() == [8, 9, 14]  # 14:30 / 14:45 / 14:31 UTC are 08 CT
    assert result["net_total"].to_list() == [150.0, -50.0, -80.0]
    # a lone loss is a drawdown from the starting zero
    assert result["max_drawdown"].to_list() == [0.0, 50.0, 80.0]


def test_currencies_are_never_added_together_and_eurex_hours_are_berlin_time() -> None:
    mixed = trips(
        ("A", "FDAXZ5", "FDAX", "2025-11-04T08:00:00", "2025-11-04T08:20:00", TUE, 25.0, "EUR"),
        ("A", "MESZ5", "MES", "2025-11-04T15:00:00", "2025-11-04T15:20:00", TUE, -5.0, "USD"),
    )
    overall = journal_statistics(mixed)
    assert overall.select("currency", "net_total").rows() == [("EUR", 25.0), ("USD", -5.0)]
    by_hour = journal_statistics(mixed, by="hour")
    assert by_hour.select("hour", "currency").rows() == [(9, "EUR"), (9, "USD")]


def test_empty_input_and_unknown_grouping() -> None:
    empty = journal_statistics(TRIPS.clear(), by="account")
    assert empty.is_empty()
    assert empty.columns == ["account", "currency", *STATISTICS_SCHEMA]
    with pytest.raises(ValueError, match="by must be"):
        journal_statistics(TRIPS, by="month")


def test_hours_sort_numerically_and_weekdays_read_as_names_monday_first() -> None:
    hours = pl.DataFrame({"key": ["10", "2", "23", "9"], "trades": [1, 2, 3, 4]})
    assert in_reading_order(hours, "hour")["key"].to_list() == ["2", "9", "10", "23"]
    days = pl.DataFrame(
        {"key": ["7", "1", "3", "1"], "currency": ["USD", "USD", "USD", "EUR"], "trades": [1] * 4}
    )
    ordered = in_reading_order(days, "weekday")
    assert ordered.select("key", "currency").rows() == [
        ("Monday", "EUR"),
        ("Monday", "USD"),
        ("Wednesday", "USD"),
        ("Sunday", "USD"),
    ]
    accounts = pl.DataFrame({"key": ["b", "A", "a"], "trades": [1, 2, 3]})
    assert in_reading_order(accounts, "account")["key"].to_list() == ["A", "a", "b"]
