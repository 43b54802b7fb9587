"""Open positions marked at the last fill: hand-computed FIFO lots, marks, open P&L, time held."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from tradelake.analytics.positions import POSITION_SCHEMA, held_text, positions
from tradelake.instruments import InstrumentTable
from unit.test_pnl import trades, utc

SPECS = InstrumentTable()
AS_OF = datetime(2025, 11, 5, 15, 4, tzinfo=UTC)


def test_partial_closes_flips_and_accounts_are_marked_at_the_last_fill() -> None:
    fills = trades(
        # A, MES ($5/pt): buy 3 @5000, buy 2 @5004, sell 4 @5006 closes 3@5000 and 1@5004
        # (FIFO) leaving 1@5004; buy 1 @5010 later: long 2, avg (5004 + 5010) / 2 = 5007.
        (1, "A", "MESZ5", "MES", "2025-11-04T15:00:00", 3, 5000.0, 1.86),
        (2, "A", "MESZ5", "MES", "2025-11-04T15:01:00", 2, 5004.0, 1.24),
        (3, "A", "MESZ5", "MES", "2025-11-04T15:02:00", -4, 5006.0, 2.48),
        # B, MES: long 2 @5002, sell 5 @5008 flips to short 3 @5008 (opened by the flip).
        (4, "B", "MESZ5", "MES", "2025-11-04T15:03:00", 2, 5002.0, 1.24),
        (5, "B", "MESZ5", "MES", "2025-11-04T15:04:00", -5, 5008.0, 3.10),
        # B, NQ: in and out, flat: no position.
        (6, "B", "NQZ5", "NQ", "2025-11-04T15:05:00", -1, 21000.0, 2.25),
        (7, "B", "NQZ5", "NQ", "2025-11-04T15:06:00", 1, 20990.0, 2.25),
        # The desk's last MES fill (A's) is the mark for every MES position: 5010 at 15:10.
        (8, "A", "MESZ5", "MES", "2025-11-04T15:10:00", 1, 5010.0, 0.62),
        # C, FDAX (EUR 25/pt): short 2 @24000, then 1 more @24010: mark 24010.
        (9, "C", "FDAXZ5", "FDAX", "2025-11-04T09:00:00", -2, 24000.0, 4.0),
        (10, "C", "FDAXZ5", "FDAX", "2025-11-04T09:30:00", -1, 24010.0, 2.0),
    )
    result = positions(fills, SPECS, as_of=AS_OF)
    assert result.schema == pl.Schema(POSITION_SCHEMA)
    a, b, c = result.to_dicts()
    assert (a["account"], a["symbol"], a["qty"]) == ("A", "MESZ5", 2)
    assert a["avg_price"] == pytest.approx(5007.0)
    assert (a["mark_price"], a["mark_ts"]) == (5010.0, utc("2025-11-04T15:10:00"))
    assert a["open_pnl"] == pytest.approx(30.0)  # (5010 - 5007) x 2 x $5
    assert a["opened_ts"] == utc("2025-11-04T15:00:00")
    assert (a["held_s"], a["held"]) == (86_640, "1d 00:04:00")
    assert (b["account"], b["symbol"], b["qty"]) == ("B", "MESZ5", -3)
    assert b["avg_price"] == pytest.approx(5008.0)
    assert b["open_pnl"] == pytest.approx(-30.0)  # (5010 - 5008) x -3 x $5
    assert b["opened_ts"] == utc("2025-11-04T15:04:00")  # the flipping fill
    assert (b["held_s"], b["held"], b["currency"]) == (86_400, "1d 00:00:00", "USD")
    assert (c["account"], c["qty"], c["currency"]) == ("C", -3, "EUR")
    assert c["avg_price"] == pytest.approx((2 * 24000 + 24010) / 3)
    assert c["mark_price"] == 24010.0
    assert c["open_pnl"] == pytest.approx((24010 - 72010 / 3) * -3 * 25)  # -500 EUR
    assert c["open_pnl"] == pytest.approx(-500.0)


def test_flat_books_have_no_positions_and_same_time_fills_mark_by_trade_id() -> None:
    fills = trades(
        (1, "A", "ESZ5", "ES", "2025-11-04T15:00:00", 1, 5000.0, 2.25),
        (2, "A", "ESZ5", "ES", "2025-11-04T15:00:00", -1, 5001.0, 2.25),
    )
    assert positions(fills, SPECS, as_of=AS_OF).is_empty()
    fills = trades(
        (5, "A", "ESZ5", "ES", "2025-11-04T15:00:00", 2, 5000.0, 4.5),
        (4, "B", "ESZ5", "ES", "2025-11-04T15:00:00", 1, 5003.0, 2.25),
    )
    # Same timestamp: trade id 5 is the later execution, so the mark is 5000 and B is down $150.
    b = positions(fills, SPECS, as_of=AS_OF).filter(pl.col("account") == "B").row(0, named=True)
    assert (b["mark_price"], b["open_pnl"]) == (5000.0, pytest.approx(-150.0))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(59, "00:00:59"), (3_661, "01:01:01"), (266_400, "3d 02:00:00"), (-61, "-00:01:01")],
)
def test_held_text(seconds: int, text: str) -> None:
    assert held_text(seconds) == text
