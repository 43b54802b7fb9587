"""The renderer seam: a :class:`Renderer` protocol and the :class:`ScreenLayout` every stack obeys.

A chart model that has only seen one drawing stack learns that stack (issue 11: macro-F1 0.48
on screenshots from software it never saw). So training data come from several independent
stacks (Pillow, matplotlib/mplfinance, Vega-Lite, hand-written SVG), and the *screen* around the
chart (size, margins, axes, panes, crosshair, order lines, theme, multi-chart panels) is sampled
once per chart as a :class:`ScreenLayout` that every stack applies as far as it can. The layout
never changes what the label means: the pattern still completes on the last bars of the path.

The indicator maths used by several stacks (SMA, RSI, MACD) and the unrelated random-walk paths
that fill the other cells of a multi-chart panel live here too, so each stack stays a drawing
module only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from tradelake.ml.charts import PricePath

FloatArray = NDArray[np.float64]

#: Screen sizes people take screenshots at (width, height); jittered per chart.
SCREENS: tuple[tuple[int, int], ...] = (
    (1280, 720),
    (1920, 1080),
    (1024, 768),
    (800, 600),
    (1366, 768),
    (1440, 900),
    (1600, 900),
)
BAR_STYLES: tuple[str, ...] = ("candle", "hollow", "ohlc", "line")
SYMBOLS: tuple[str, ...] = (
    "ES1!",
    "NQ1!",
    "CL1!",
    "GC1!",
    "BTCUSD",
    "ETHUSDT",
    "EURUSD",
    "AAPL",
    "NVDA",
    "SPX",
    "ZN1!",
    "6E1!",
    "FDAX",
    "TSLA",
)
#: Timeframe label and bar length.
TIMEFRAMES: tuple[tuple[str, timedelta], ...] = (
    ("1m", timedelta(minutes=1)),
    ("5m", timedelta(minutes=5)),
    ("15m", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("4h", timedelta(hours=4)),
    ("1D", timedelta(days=1)),
)


@dataclass(frozen=True)
class ScreenLayout:
    """Every screen-level decision for one chart, shared by all stacks.

    Fractions are of the price pane: ``right_margin`` is the empty share of the plot width
    after the last bar; ``crosshair`` and ``order_lines`` positions are (x, y) / y fractions of
    the visible pane (0 = left/bottom). ``panel`` > 1 means the chart was one cell of a
    ``panel``-chart screen and is cropped back out of it (see :func:`render_chart`); ``chrome``
    asks for the platform's window around the chart (drawing tool bar, watchlist, bottom tabs)
    where the stack draws one (``svg``, ``matplotlib``).
    """

    width: int
    height: int
    dark: bool
    bar_style: str  # candle | hollow | ohlc | line
    right_margin: float
    price_axis: str  # left | right | both
    time_labels: bool
    volume: str  # none | pane | overlay
    indicator: str  # none | rsi | macd
    crosshair: tuple[float, float] | None
    crosshair_dashed: bool
    order_lines: tuple[float, ...]
    grid: bool
    moving_averages: tuple[int, ...]
    legend: bool
    watermark: bool
    last_price_tag: bool
    symbol: str
    timeframe: str
    start: datetime
    panel: int = 1
    chrome: bool = False  # the platform window around the chart: tool bar, watchlist, tabs
    jpeg_quality: int | None = None

    @property
    def bar_delta(self) -> timedelta:
        return dict(TIMEFRAMES)[self.timeframe]

    def resized(self, width: int, height: int) -> ScreenLayout:
        """The same decisions at another size (a cell of a multi-chart panel, which has no
        window chrome of its own)."""
        from dataclasses import replace

        return replace(self, width=width, height=height, panel=1, chrome=False)


class Renderer(Protocol):
    """One drawing stack. ``render`` must be deterministic given ``rng``'s state and return
    an RGB image of about ``layout.width`` x ``layout.height`` pixels."""

    name: str

    def render(
        self, path: PricePath, rng: np.random.Generator, layout: ScreenLayout
    ) -> Image.Image: ...


def sample_layout(rng: np.random.Generator) -> ScreenLayout:
    """Draw a :class:`ScreenLayout` with the variety of real trading screens."""
    w, h = SCREENS[int(rng.integers(0, len(SCREENS)))]
    scale = rng.uniform(0.85, 1.1)
    w, h = int(w * scale), int(h * scale * rng.uniform(0.9, 1.1))
    n_ma = int(rng.choice([0, 0, 1, 2, 3]))
    crosshair = (
        (float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.05, 0.95)))
        if rng.random() < 0.35
        else None
    )
    n_orders = int(rng.choice([0, 0, 0, 1, 2, 3]))
    return ScreenLayout(
        width=w,
        height=h,
        dark=bool(rng.random() < 0.55),
        bar_style=str(rng.choice(BAR_STYLES, p=[0.55, 0.15, 0.2, 0.1])),
        right_margin=float(rng.choice([0.0, rng.uniform(0.0, 0.15)])),
        price_axis=str(rng.choice(["right", "right", "right", "left", "both"])),
        time_labels=bool(rng.random() < 0.85),
        volume=str(rng.choice(["none", "pane", "overlay"], p=[0.35, 0.35, 0.3])),
        indicator=str(rng.choice(["none", "rsi", "macd"], p=[0.7, 0.15, 0.15])),
        crosshair=crosshair,
        crosshair_dashed=bool(rng.random() < 0.6),
        order_lines=tuple(float(v) for v in rng.uniform(0.1, 0.9, n_orders)),
        grid=bool(rng.random() < 0.7),
        moving_averages=tuple(sorted(int(p) for p in rng.choice([9, 20, 21, 50, 100], n_ma))),
        legend=bool(rng.random() < 0.6),
        watermark=bool(rng.random() < 0.25),
        last_price_tag=bool(rng.random() < 0.6),
        symbol=str(rng.choice(SYMBOLS)),
        timeframe=TIMEFRAMES[int(rng.integers(0, len(TIMEFRAMES)))][0],
        start=datetime(2020, 1, 1) + timedelta(hours=int(rng.integers(0, 6 * 365 * 24))),
        panel=int(rng.choice([1, 2, 3, 4], p=[0.82, 0.08, 0.03, 0.07])),
        jpeg_quality=int(rng.integers(40, 95)) if rng.random() < 0.3 else None,
        chrome=bool(rng.random() < 0.3),
    )


# --------------------------------------------------------------------------- shared maths


def bar_times(layout: ScreenLayout, n: int) -> list[datetime]:
    """Timestamps of ``n`` consecutive bars starting at ``layout.start`` (no session gaps)."""
    return [layout.start + i * layout.bar_delta for i in range(n)]


def date_format(rng: np.random.Generator, layout: ScreenLayout) -> str:
    """A strftime axis format that suits the timeframe (clock times intraday, dates daily)."""
    if layout.timeframe in ("4h", "1D"):
        return str(rng.choice(["%b %d", "%Y-%m-%d", "%m/%d", "%d.%m.%Y", "%b '%y"]))
    return str(rng.choice(["%H:%M", "%d %b %H:%M", "%H:%M", "%m/%d %H:%M"]))


def x_limits(n: int, right_margin: float) -> tuple[float, float]:
    """Bar-index x range that leaves ``right_margin`` of the width empty after bar ``n-1``."""
    lo, hi = -0.5, n - 0.5
    return lo, hi + (hi - lo) * right_margin / max(1.0 - right_margin, 1e-6)


def sma(x: FloatArray, period: int) -> FloatArray:
    """Simple moving average; NaN until ``period`` values exist."""
    out = np.full(len(x), np.nan)
    if period <= len(x):
        c = np.cumsum(np.concatenate([[0.0], x]))
        out[period - 1 :] = (c[period:] - c[:-period]) / period
    return out


def ema(x: FloatArray, period: int) -> FloatArray:
    a = 2.0 / (period + 1)
    out = np.empty(len(x))
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = a * x[i] + (1 - a) * out[i - 1]
    return out


def rsi(close: FloatArray, period: int = 14) -> FloatArray:
    """Wilder's RSI in [0, 100]; NaN for the first ``period`` bars."""
    d = np.diff(close, prepend=close[0])
    up, down = np.clip(d, 0, None), np.clip(-d, 0, None)
    a = 1.0 / period
    au, ad = np.empty(len(d)), np.empty(len(d))
    au[0], ad[0] = up[0], down[0]
    for i in range(1, len(d)):
        au[i] = a * up[i] + (1 - a) * au[i - 1]
        ad[i] = a * down[i] + (1 - a) * ad[i - 1]
    out = 100.0 - 100.0 / (1.0 + au / np.maximum(ad, 1e-12))
    out[:period] = np.nan
    return out


def macd(close: FloatArray) -> tuple[FloatArray, FloatArray]:
    """MACD line (EMA12 - EMA26) and its 9-bar signal line."""
    line = ema(close, 12) - ema(close, 26)
    return line, ema(line, 9)


def indicator_lines(close: FloatArray, kind: str) -> list[FloatArray]:
    """The lines of the indicator pane ``kind`` (``rsi``: one, ``macd``: line and signal)."""
    if kind == "rsi":
        return [rsi(close)]
    if kind == "macd":
        return list(macd(close))
    return []


def random_walk_path(rng: np.random.Generator, n: int | None = None) -> PricePath:
    """An unlabelled random-walk chart for the other cells of a multi-chart panel."""
    n = int(rng.integers(60, 220)) if n is None else n
    sigma = rng.uniform(0.003, 0.02)
    logc = np.cumsum(rng.normal(rng.normal(0, sigma / 5), sigma, n))
    close = np.exp(rng.uniform(0.0, 8.0) + logc)
    open_ = np.concatenate([[close[0]], close[:-1]]) * np.exp(rng.normal(0, sigma / 4, n))
    wick = np.abs(rng.normal(0.0, sigma / 2, (2, n)))
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.lognormal(0.0, 0.5, n)
    return PricePath(label="none", ohlc=np.stack([open_, high, low, close], 1), volume=volume)


def price_at(path: PricePath, frac: float) -> float:
    """The price ``frac`` of the way up the path's low-high range."""
    lo, hi = float(path.ohlc[:, 2].min()), float(path.ohlc[:, 1].max())
    return lo + frac * (hi - lo)


def fmt_price(v: float) -> str:
    """A price label with the decimals a terminal would show at this price level."""
    if v >= 1000:
        return f"{v:,.2f}"
    if v >= 10:
        return f"{v:.2f}"
    if v >= 1:
        return f"{v:.4f}"
    return f"{v:.5f}"
