"""Reconciling round trips built from executions against ATAS Journal rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from tradelake.analytics.pnl import round_trips
from tradelake.analytics.reconcile import RECONCILIATION_SCHEMA, reconcile_journal
from tradelake.instruments import InstrumentTable
from tradelake.tables import ATAS_JOURNAL, TRADES_RAW

SPECS = InstrumentTable()
FILL_COLUMNS = ("trade_id", "account", "symbol", "root", "timestamp", "qty", "price", "commission")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def executions(*rows: tuple[int, str, str, int, float]) -> pl.DataFrame:
    """MES fills as (trade_id, account, UTC time, signed qty, price); $0.50 a contract."""
    return pl.DataFrame(
        [
            {
                "trade_id": trade_id,
                "account": account,
                "symbol": "MESZ5",
                "root": "MES",
                "timestamp": utc(ts),
                "qty": qty,
                "price": price,
                "commission": 0.5 * abs(qty),
            }
            for trade_id, account, ts, qty, price in rows
        ],
        schema={name: TRADES_RAW.content[name] for name in FILL_COLUMNS},
    )


def journal(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {"account": "A", "symbol": "MESZ5", "root": "MES", "instrument": "MESZ5@CME"}
    filled = [
        base
        | row
        | {"open_ts": utc(row["open_ts"]), "close_ts": row["close_ts"] and utc(row["close_ts"])}
        for row in rows
    ]
    return pl.DataFrame(filled, schema=dict(ATAS_JOURNAL.content), strict=False)


def row(
    journal_id: int,
    opened: str,
    closed: str | None,
    volume: int,
    pnl: float | None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "journal_id": journal_id,
        "open_ts": opened,
        "close_ts": closed,
        "open_volume": volume,
        "close_volume": -volume if closed else None,
        "pnl": pnl,
    } | extra


FILLS = executions(
    (1, "A", "2025-11-04T15:00:00.250", 2, 5000.0),  # long 2, +2 points: $20
    (2, "A", "2025-11-04T15:05:00.500", -2, 5002.0),
    (3, "A", "2025-11-04T16:00:00", -1, 5010.0),  # short 1, -2 points: -$10
    (4, "A", "2025-11-04T16:10:00", 1, 5012.0),
    (5, "A", "2025-11-04T17:00:00", 3, 5000.0),  # long 3, +1 point: $15
    (6, "A", "2025-11-04T17:30:00", -3, 5001.0),
    (7, "A", "2025-11-04T18:00:00", 1, 5000.0),  # long 1: $5, journal 3 s off
    (8, "A", "2025-11-04T18:01:00", -1, 5001.0),
    (9, "A", "2025-11-04T19:00:00", 1, 5000.0),  # long 1, +4 points: $20
    (10, "A", "2025-11-04T19:05:00", -1, 5004.0),
)
JOURNAL = journal(
    row(101, "2025-11-04T15:00:00", "2025-11-04T15:05:01", 2, 20.0),
    row(102, "2025-11-04T16:00:00", "2025-11-04T16:10:00", -1, -10.5),
    row(103, "2025-11-04T17:00:00", "2025-11-04T17:30:00", 2, 15.0),
    row(104, "2025-11-04T18:00:03", "2025-11-04T18:01:00", 1, 5.0),
    # no pnl: falls back to (5004 - 5000) x 1 x $5 = $20
    row(
        105,
        "2025-11-04T19:00:00",
        "2025-11-04T19:05:00",
        1,
        None,
        open_price=5000.0,
        close_price=5004.0,
    ),
    row(106, "2025-11-04T20:00:00", None, 1, None),  # still open at export: ignored
    row(107, "2025-11-04T15:00:00", "2025-11-04T15:05:00", 2, 20.0, account="B"),
)


def test_each_status_with_both_values_and_the_difference() -> None:
    result = reconcile_journal(round_trips(FILLS, SPECS), JOURNAL, SPECS)
    assert result.schema == pl.Schema(RECONCILIATION_SCHEMA)
    got = result.select("account", "round_trip_id", "journal_id", "status").rows()
    assert got == [
        ("A", "A|MESZ5|1", 101, "matched"),
        ("A", "A|MESZ5|3", 102, "pnl_mismatch"),
        ("A", "A|MESZ5|5", 103, "volume_mismatch"),
        ("A", "A|MESZ5|7", None, "missing_in_journal"),
        ("A", None, 104, "missing_in_executions"),
        ("A", "A|MESZ5|9", 105, "matched"),
        ("B", None, 107, "missing_in_executions"),
    ]
    by_journal = {r["journal_id"]: r for r in result.to_dicts()}
    mismatch = by_journal[102]
    assert (mismatch["volume"], mismatch["journal_volume"]) == (-1, -1)
    assert (mismatch["pnl"], mismatch["journal_pnl"]) == pytest.approx((-10.0, -10.5))
    assert mismatch["pnl_diff"] == pytest.approx(0.5)
    assert (by_journal[103]["volume"], by_journal[103]["journal_volume"]) == (3, 2)
    assert by_journal[105]["journal_pnl"] == pytest.approx(20.0)
    assert by_journal[101]["journal_close_ts"] == utc("2025-11-04T15:05:01")
    assert by_journal[101]["close_ts"] == utc("2025-11-04T15:05:00.500")


def test_net_comparison_and_a_wider_time_tolerance() -> None:
    trips = round_trips(FILLS, SPECS)
    wide = reconcile_journal(trips, JOURNAL, SPECS, tolerance=timedelta(seconds=5))
    assert wide.filter(pl.col("journal_id") == 104)["status"].item() == "matched"
    net = reconcile_journal(trips, JOURNAL, SPECS, compare="net_pnl")
    # $20 gross less 2 x 2 x $0.50 commission is $18 against the journal's $20
    first = net.filter(pl.col("journal_id") == 101).to_dicts()[0]
    assert (first["status"], first["pnl_diff"]) == ("pnl_mismatch", pytest.approx(-2.0))


def test_trades_within_one_second_pair_with_their_closest_rows() -> None:
    fills = executions(
        (1, "A", "2025-11-04T20:00:00.100", 1, 5000.0),
        (2, "A", "2025-11-04T20:00:00.400", -1, 5001.0),  # $5
        (3, "A", "2025-11-04T20:00:00.600", 1, 5000.0),
        (4, "A", "2025-11-04T20:00:00.900", -1, 5002.0),  # $10
        (5, "A", "2025-11-04T21:00:00", 1, 5000.0),
        (6, "A", "2025-11-04T21:10:00", -1, 5002.0),  # $10
    )
    rows = journal(
        # both rows are within 1 s of both trades: the smaller total difference wins
        row(1, "2025-11-04T20:00:01", "2025-11-04T20:00:01", 1, 10.0),
        row(2, "2025-11-04T20:00:00", "2025-11-04T20:00:00", 1, 5.0),
        # same open, but the close is five minutes off: not the same trade
        row(3, "2025-11-04T21:00:00", "2025-11-04T21:05:00", 1, 10.0),
    )
    result = reconcile_journal(round_trips(fills, SPECS), rows, SPECS)
    assert result.select("round_trip_id", "journal_id", "status").rows() == [
        ("A|MESZ5|1", 2, "matched"),
        ("A|MESZ5|3", 1, "matched"),
        ("A|MESZ5|5", None, "missing_in_journal"),
        (None, 3, "missing_in_executions"),
    ]


def test_a_close_volume_that_differs_is_a_volume_mismatch() -> None:
    rows = JOURNAL.with_columns(
        close_volume=pl.when(pl.col("journal_id") == 101).then(-1).otherwise("close_volume")
    )
    result = reconcile_journal(round_trips(FILLS, SPECS), rows, SPECS)
    assert result.filter(pl.col("journal_id") == 101)["status"].item() == "volume_mismatch"


def test_an_empty_side_reports_everything_missing_on_the_other() -> None:
    trips = round_trips(FILLS, SPECS)
    no_journal = reconcile_journal(trips, JOURNAL.clear(), SPECS)
    assert no_journal["status"].unique().to_list() == ["missing_in_journal"]
    assert no_journal.height == trips.height == 5
    no_trips = reconcile_journal(trips.clear(), JOURNAL, SPECS)
    assert no_trips["journal_id"].to_list() == [101, 102, 103, 104, 105, 107]
    assert no_trips["status"].unique().to_list() == ["missing_in_executions"]
