"""The desk's server-drawn equity curve, drawdown and P&L calendar."""

from __future__ import annotations

from datetime import date

from tradelake.web.charts import calendar, equity_curve, equity_svg


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
