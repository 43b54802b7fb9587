"""Server-drawn charts for the desk: an equity curve with its drawdown as inline SVG, and a
P&L calendar as a grid of cells. Drawn here so the pages need no JavaScript chart library
and render offline, and so the numbers are testable without a browser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

WIDTH = 800
EQUITY_HEIGHT = 180
DRAWDOWN_HEIGHT = 70
GAP = 10


@dataclass(frozen=True)
class EquityPoint:
    session_date: date
    equity: float  # cumulative net P&L up to and including the session
    drawdown: float  # equity minus its running peak (zero or negative)


def equity_curve(daily: Sequence[tuple[date, float]]) -> list[EquityPoint]:
    """Cumulative net P&L per session date and its drawdown from the running peak (which
    starts at zero: a desk that loses from day one is in drawdown from day one)."""
    points: list[EquityPoint] = []
    equity = peak = 0.0
    for session_date, net in sorted(_per_day(daily).items()):
        equity += net
        peak = max(peak, equity)
        points.append(EquityPoint(session_date, round(equity, 2), round(equity - peak, 2)))
    return points


def equity_svg(points: Sequence[EquityPoint]) -> str:
    """The curve above, its drawdown as a red area below; empty string when no points."""
    if not points:
        return ""
    # Position 0 is the start (equity zero) before the first session, so one day is a line.
    n = len(points) + 1

    def x(i: int) -> float:
        return round(i * WIDTH / (n - 1), 1)

    low = min(0.0, *(p.equity for p in points))
    high = max(0.0, *(p.equity for p in points))
    span = (high - low) or 1.0

    def y(value: float) -> float:
        return round(EQUITY_HEIGHT - (value - low) / span * EQUITY_HEIGHT, 1)

    deepest = min(p.drawdown for p in points) or -1.0
    top = EQUITY_HEIGHT + GAP

    def y_dd(value: float) -> float:
        return round(top + value / deepest * DRAWDOWN_HEIGHT, 1)

    line = " ".join(f"{x(i)},{y(p.equity)}" for i, p in enumerate(points, 1))
    area = " ".join(f"{x(i)},{y_dd(p.drawdown)}" for i, p in enumerate(points, 1))
    height = top + DRAWDOWN_HEIGHT
    last = points[-1]
    title = escape(
        f"equity {last.equity:,.2f} on {last.session_date}; max drawdown {min(deepest, 0):,.2f}"
    )
    return (
        f'<svg class="equity" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="none" '
        f'role="img" aria-label="{title}"><title>{title}</title>'
        f'<line x1="0" x2="{WIDTH}" y1="{y(0.0)}" y2="{y(0.0)}" class="zero"/>'
        f'<polyline points="0,{y(0.0)} {line}" class="curve"/>'
        f'<polygon points="0,{top} {area} {x(n - 1)},{top}" class="drawdown"/>'
        "</svg>"
    )


@dataclass(frozen=True)
class CalendarCell:
    day: date | None  # None pads the first week of a month
    net: float | None
    tone: str  # "win", "loss", "flat" or "" (no session)
    strength: int  # 1..4: how large the day was against the largest day


@dataclass(frozen=True)
class CalendarMonth:
    title: str
    cells: list[CalendarCell]


def calendar(daily: Sequence[tuple[date, float]]) -> list[CalendarMonth]:
    """Month grids (Monday first) from the first to the last session, net P&L per day."""
    per_day = _per_day(daily)
    if not per_day:
        return []
    largest = max(abs(v) for v in per_day.values()) or 1.0
    first, last = min(per_day), max(per_day)
    months: list[CalendarMonth] = []
    month = first.replace(day=1)
    while month <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        cells = [CalendarCell(None, None, "", 0)] * month.weekday()
        day = month
        while day < following:
            net = per_day.get(day)
            cells.append(CalendarCell(day, net, _tone(net), _strength(net, largest)))
            day += timedelta(days=1)
        months.append(CalendarMonth(month.strftime("%B %Y"), cells))
        month = following
    return months


def _per_day(daily: Sequence[tuple[date, float]]) -> dict[date, float]:
    """Net P&L summed per session date (the daily table has a row per account and contract)."""
    totals: dict[date, float] = {}
    for session_date, net in daily:
        totals[session_date] = totals.get(session_date, 0.0) + (net or 0.0)
    return {day: round(total, 2) for day, total in totals.items()}


def _tone(net: float | None) -> str:
    if net is None:
        return ""
    return "win" if net > 0 else "loss" if net < 0 else "flat"


def _strength(net: float | None, largest: float) -> int:
    if not net:
        return 0
    return min(4, 1 + int(abs(net) / largest * 4))
