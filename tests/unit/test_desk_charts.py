"""The desk's server-drawn equity curve, drawdown, P&L calendar, cells and thumbnails."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pytest
from PIL import Image

from tradelake.instruments import InstrumentTable
from tradelake.web.charts import calendar, equity_curve, equity_svg
from tradelake.web.rendering import cell
from tradelake.web.thumbnail import thumbnail


def test_equity_curve_sums_per_day_and_tracks_drawdown_from_the_peak() -> None:
    daily = [
        (date(2026, 11, 3), 100.0),
        (date(2026, 11, 2), -50.0),  # out of order and two rows on one day
        (date(2026, 11, 2), 20.0),
        (date(2026, 11, 4), -120.0),
        (date(2026, 11, 5), 200.0),
    ]
    points = equity_curve(daily)
    assert [p.session_date.day for p in points] == [2, 3, 4, 5]
    assert [p.equity for p in points] == [-30.0, 70.0, -50.0, 150.0]
    assert [p.drawdown for p in points] == [-30.0, 0.0, -120.0, 0.0]
    svg = equity_svg(points)
    assert svg.startswith('<svg class="equity"') and "max drawdown -120.00" in svg
    assert equity_svg([]) == ""
    one_day = equity_svg(equity_curve([(date(2026, 11, 2), -10.0)]))
    assert 'points="0,0.0 800.0,180.0"' in one_day  # from zero to the day's close: a line


def test_calendar_pads_to_monday_and_colours_by_sign() -> None:
    months = calendar([(date(2026, 11, 2), 50.0), (date(2026, 11, 4), -200.0)])
    assert [m.title for m in months] == ["November 2026"]
    cells = months[0].cells
    # 1 November 2026 is a Sunday: six blank cells, then 30 days.
    assert [c.day for c in cells[:6]] == [None] * 6 and len(cells) == 36
    by_day = {c.day.day: c for c in cells if c.day}
    assert (by_day[2].tone, by_day[2].net, by_day[2].strength) == ("win", 50.0, 2)
    assert (by_day[4].tone, by_day[4].strength) == ("loss", 4)
    assert (by_day[3].tone, by_day[3].net) == ("", None)
    assert calendar([]) == []


def test_cells_read_like_the_cli() -> None:
    assert cell("net_pnl", -2118.7700000000004) == "-2,118.77"
    assert cell("win_rate", 0.4137931) == "41.4%"
    assert cell("profit_factor", 0.47912) == "0.479"
    by_rule = {"close_before_open": 1, "qty": 2}
    assert cell("quarantined_by_rule", by_rule) == "close_before_open 1, qty 2"
    stamp = datetime(2026, 11, 2, 15, 30, 5, 123, tzinfo=timezone(timedelta(hours=1)))
    assert cell("ingest_ts", stamp) == "2026-11-02 14:30:05"
    assert cell("anything", None) == "—"


@pytest.mark.parametrize(
    ("root", "price", "shown"),
    [
        ("MES", 4512.25, "4,512.25"),
        ("ZN", 110.015625, "110.015625"),  # 1/64: six places, nothing rounded away
        ("CL", 71.3, "71.30"),
        ("YM", 43120.0, "43,120"),
        ("6J", 0.0066105, "0.0066105"),
    ],
)
def test_prices_show_at_the_tick_precision_of_their_instrument(
    root: str, price: float, shown: str
) -> None:
    spec = InstrumentTable().get(root)
    assert spec is not None
    assert cell("price", price, spec.price_decimals) == shown
    assert cell("price", price) == f"{price:,.3f}"  # a page that knows no instrument


def test_an_average_price_between_ticks_keeps_its_places() -> None:
    """4500.125 is the average of fills at 4500.00 and 4500.25: not a price to round away."""
    assert cell("entry_price", 4500.125, 2) == "4,500.125"
    assert cell("entry_price", 4500 + 1 / 12, 2) == "4,500.0833"  # at most two more places
    assert cell("exit_price", 4500.5, 2) == "4,500.50"
    assert cell("net_pnl", 4500.125, 2) == "4,500.12"  # money is not a price


def test_thumbnail_fits_the_frame_in_320_by_180() -> None:
    frame = Image.new("RGB", (1280, 720), (200, 30, 30))
    raw = io.BytesIO()
    frame.save(raw, format="PNG")
    small = Image.open(io.BytesIO(thumbnail(raw.getvalue())))
    assert (small.format, small.size) == ("PNG", (320, 180))
    assert small.getpixel((160, 90)) == (200, 30, 30)
    with pytest.raises(ValueError, match="not a PNG or JPEG"):
        thumbnail(b"hello")
