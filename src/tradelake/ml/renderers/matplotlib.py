"""``matplotlib``: mplfinance charts on the Agg backend, in mplfinance's built-in styles.

A second drawing stack with its own conventions: antialiased vector drawing, matplotlib's
tick locators and date formatters, mplfinance's styles (``yahoo``, ``binance``,
``nightclouds``, ``charles``, ...) and chart types (``candle``, ``ohlc``, ``hollow_and_filled``,
``line``), volume and indicator panels, moving averages and horizontal order lines. Light or
dark styles are chosen to match the layout's theme; some charts get a randomised
``make_mpf_style`` palette instead of a named style.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
from PIL import Image

from tradelake.ml.charts import PricePath
from tradelake.ml.renderers.base import (
    SYMBOLS,
    ScreenLayout,
    bar_times,
    date_format,
    fmt_price,
    indicator_lines,
    price_at,
    x_limits,
)

_DARK_STYLES = ("binancedark", "nightclouds", "mike")
_LIGHT_STYLES = (
    "binance",
    "blueskies",
    "brasil",
    "charles",
    "checkers",
    "classic",
    "default",
    "ibd",
    "kenan",
    "sas",
    "starsandstripes",
    "tradingview",
    "yahoo",
)
_ORDER_KINDS = ("LMT", "STP", "TP", "SL", "BUY", "SELL")
_TYPE = {"candle": "candle", "hollow": "hollow_and_filled", "ohlc": "ohlc", "line": "line"}
_UP_DOWN = (
    ("#26a69a", "#ef5350"),
    ("#089981", "#f23645"),
    ("#00ff00", "#ff0000"),
    ("#2962ff", "#ff6d00"),
    ("#ffffff", "#000000"),
    ("#4caf50", "#9c27b0"),
)


def _style(rng: np.random.Generator, layout: ScreenLayout) -> Any:
    import mplfinance as mpf

    grid = "-" if rng.random() < 0.5 else ":"
    kw: dict[str, Any] = {"gridstyle": grid if layout.grid else ""}
    kw["y_on_right"] = layout.price_axis != "left"
    if rng.random() < 0.65:
        base = str(rng.choice(_DARK_STYLES if layout.dark else _LIGHT_STYLES))
        return mpf.make_mpf_style(base_mpf_style=base, **kw)
    up, down = _UP_DOWN[int(rng.integers(0, len(_UP_DOWN)))]
    edge = "inherit"
    if up == "#ffffff":  # classic white/black candles: outline them so white shows on light
        edge = "#d1d4dc" if layout.dark else "#000000"
        down = "#5d606b" if layout.dark else down
    mc = mpf.make_marketcolors(up=up, down=down, edge=edge, wick=edge, volume="in", ohlc="inherit")
    v = rng.uniform(0.0, 0.12) if layout.dark else rng.uniform(0.93, 1.0)
    face = "#" + "".join(
        f"{int(255 * np.clip(v + rng.uniform(-0.03, 0.03), 0, 1)):02x}" for _ in range(3)
    )
    text = "#d1d4dc" if layout.dark else "#131722"
    return mpf.make_mpf_style(
        base_mpl_style="dark_background" if layout.dark else "default",
        marketcolors=mc,
        facecolor=face,
        figcolor=face,
        edgecolor=text,
        gridcolor="#2a2e39" if layout.dark else "#e0e3eb",
        rc={"axes.labelcolor": text, "xtick.color": text, "ytick.color": text},
        **kw,
    )


class MatplotlibRenderer:
    """mplfinance on matplotlib's Agg canvas; the figure is closed after every chart."""

    name = "matplotlib"

    def render(
        self, path: PricePath, rng: np.random.Generator, layout: ScreenLayout
    ) -> Image.Image:
        import matplotlib

        matplotlib.use("Agg", force=False)
        logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
        import matplotlib.pyplot as plt
        import mplfinance as mpf
        import pandas as pd

        n = len(path.ohlc)
        frame = pd.DataFrame(
            path.ohlc,
            columns=["Open", "High", "Low", "Close"],
            index=pd.DatetimeIndex(bar_times(layout, n)),
        )
        frame["Volume"] = path.volume * 1000.0
        dpi = int(rng.choice([72, 80, 96, 100, 110]))
        style = _style(rng, layout)
        # mplfinance's own volume panel draws one Rectangle patch per bar (slow); an invisible
        # addplot reserves the panel and _volume_bars fills it with one PolyCollection.
        panel_vol = layout.volume == "pane"
        ratios: list[float] = [float(rng.uniform(3.0, 5.0))]
        addplots: list[Any] = []
        if panel_vol:
            ratios.append(1.0)
            addplots.append(
                mpf.make_addplot(
                    path.volume * 1000.0, panel=1, color="none", width=0.0, ylabel="Volume"
                )
            )
        if layout.indicator != "none":
            ip = len(ratios)
            ratios.append(float(rng.uniform(0.8, 1.4)))
            for j, line in enumerate(indicator_lines(path.ohlc[:, 3], layout.indicator)):
                addplots.append(
                    mpf.make_addplot(
                        line,
                        panel=ip,
                        color=["#7e57c2", "#ff9800"][j],
                        width=1.0,
                        ylabel=layout.indicator.upper(),
                    )
                )
        kwargs: dict[str, Any] = {
            "type": _TYPE[layout.bar_style],
            "style": style,
            "volume": False,
            "figsize": (layout.width / dpi, layout.height / dpi),
            "returnfig": True,
            "xlim": x_limits(n, layout.right_margin),
            "panel_ratios": tuple(ratios) if len(ratios) > 1 else None,
            "scale_padding": {
                "left": float(rng.uniform(0.1, 0.8)),
                "right": float(rng.uniform(0.4, 1.0)),
                "top": float(rng.uniform(0.1, 0.8)),
                "bottom": float(rng.uniform(0.3, 0.8)),
            },
            "tight_layout": bool(rng.random() < 0.7),
            "datetime_format": date_format(rng, layout),
            "xrotation": float(rng.choice([0, 0, 15, 45])),
            "warn_too_much_data": 10_000,
        }
        if not panel_vol and len(ratios) == 1:
            kwargs.pop("panel_ratios")
        if layout.moving_averages:
            kwargs["mav"] = layout.moving_averages
        if addplots:
            kwargs["addplot"] = addplots
        if layout.legend and rng.random() < 0.6:
            kwargs["title"] = f"{layout.symbol} · {layout.timeframe}"
        if layout.bar_style == "candle" and rng.random() < 0.5:
            kwargs["update_width_config"] = {"candle_width": float(rng.uniform(0.4, 0.9))}
        orders = [price_at(path, f) for f in layout.order_lines]
        if orders:
            kwargs["hlines"] = {
                "hlines": orders,
                "colors": [str(rng.choice(["#2962ff", "#f23645", "#089981", "#ff9800"]))]
                * len(orders),
                "linestyle": str(rng.choice(["-", "--"])),
                "linewidths": 1.0,
            }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig, axes = mpf.plot(frame, **kwargs)
        try:
            ax = axes[0]
            if panel_vol:
                _volume_bars(axes[2], path, rng, alpha=0.8, scale=1000.0)
                axes[2].set_ylim(0, path.volume.max() * 1000.0 * 1.05)
            self._decorate(ax, path, rng, layout, orders, n)
            if layout.chrome:
                _window(fig, rng, layout)
            fig.set_dpi(dpi)
            fig.canvas.draw()
            buf = np.asarray(fig.canvas.buffer_rgba())
            img = Image.fromarray(buf[..., :3].copy())
        finally:
            plt.close(fig)
        return img

    @staticmethod
    def _decorate(
        ax: Any,
        path: PricePath,
        rng: np.random.Generator,
        layout: ScreenLayout,
        orders: list[float],
        n: int,
    ) -> None:
        """Overlays mplfinance has no option for: crosshair, order labels, axes, volume overlay."""
        text = "#d1d4dc" if layout.dark else "#131722"
        lo, hi = ax.get_ylim()
        x0, x1 = ax.get_xlim()
        for p in orders:
            ax.text(
                x0 + (x1 - x0) * rng.uniform(0.02, 0.6),
                p,
                f"{rng.choice(_ORDER_KINDS)} {int(rng.integers(1, 20))}  {fmt_price(p)}",
                fontsize=8,
                color=text,
                va="bottom",
            )
        if layout.crosshair is not None:
            fx, fy = layout.crosshair
            ls = "--" if layout.crosshair_dashed else "-"
            ax.axvline(x0 + fx * (x1 - x0), color="#787b86", lw=0.8, ls=ls)
            ax.axhline(lo + fy * (hi - lo), color="#787b86", lw=0.8, ls=ls)
        if layout.price_axis == "both":
            ax.tick_params(labelleft=True, labelright=True, left=True, right=True)
        if not layout.time_labels:
            ax.tick_params(labelbottom=False)
        if layout.volume == "overlay":
            vax = ax.twinx()
            _volume_bars(vax, path, rng, alpha=0.35)
            vax.set_ylim(0, path.volume.max() * rng.uniform(3.5, 6.0))
            vax.set_axis_off()
            vax.set_xlim(x0, x1)
        if layout.last_price_tag:
            c = float(path.ohlc[-1, 3])
            ax.axhline(c, color="#f23645", lw=0.7, ls=":")
        if layout.watermark:
            ax.text(
                0.5,
                0.5,
                layout.symbol,
                transform=ax.transAxes,
                fontsize=48,
                color=text,
                alpha=0.07,
                ha="center",
                va="center",
            )


def _volume_bars(
    ax: Any, path: PricePath, rng: np.random.Generator, alpha: float, scale: float = 1.0
) -> None:
    """Volume as one PolyCollection of bar rectangles, coloured by the bar's direction."""
    from matplotlib.collections import PolyCollection

    n = len(path.volume)
    half = float(rng.uniform(0.25, 0.42))
    x = np.arange(n, dtype=float)
    v = path.volume * scale
    verts = np.stack(
        [
            np.stack([x - half, np.zeros(n)], 1),
            np.stack([x - half, v], 1),
            np.stack([x + half, v], 1),
            np.stack([x + half, np.zeros(n)], 1),
        ],
        1,
    )
    up = path.ohlc[:, 3] >= path.ohlc[:, 0]
    colors = np.where(up[:, None], [[0.15, 0.65, 0.6, alpha]], [[0.94, 0.33, 0.31, alpha]])
    ax.add_collection(PolyCollection(list(verts), facecolors=colors, edgecolors="none"))


def _window(fig: Any, rng: np.random.Generator, layout: ScreenLayout) -> None:
    """Shrink the chart's axes into a window with a tool strip on the left and a watchlist
    on the right, as a full-window screenshot of a desktop platform shows them."""
    left = float(rng.uniform(0.02, 0.04)) if rng.random() < 0.7 else 0.0
    right = float(rng.uniform(0.14, 0.22))
    for ax in list(fig.axes):
        x0, y0, w, h = ax.get_position().bounds
        ax.set_position([left + x0 * (1 - left - right), y0, w * (1 - left - right), h])
    text = "#d1d4dc" if layout.dark else "#131722"
    panel = "#1e222d" if layout.dark else "#f0f3fa"
    side = fig.add_axes((1 - right, 0, right, 1))
    side.set_facecolor(panel)
    side.set_xticks([])
    side.set_yticks([])
    side.text(0.06, 0.97, "Watchlist", color=text, fontsize=9, weight="bold", va="top")
    rows = int(rng.integers(8, 20))
    for k, sym in enumerate(rng.permutation(np.array(SYMBOLS))[:rows]):
        y = 0.92 - k * 0.045
        chg = float(rng.normal(0, 1.2))
        side.text(0.06, y, str(sym), color=text, fontsize=8, va="top")
        side.text(
            0.95,
            y,
            f"{chg:+.2f}%",
            color="#089981" if chg >= 0 else "#f23645",
            fontsize=8,
            va="top",
            ha="right",
        )
    if left:
        tools = fig.add_axes((0, 0, left, 1))
        tools.set_facecolor(panel)
        tools.set_xticks([])
        tools.set_yticks([])
        ys = np.arange(0.95, 0.05, -0.05)
        tools.plot(
            np.full(len(ys), 0.5),
            ys,
            linestyle="none",
            marker=str(rng.choice(["s", "o", "^", "D"])),
            markersize=5,
            markerfacecolor="none",
            markeredgecolor=text,
            markeredgewidth=0.8,
        )
        tools.set_xlim(0, 1)
        tools.set_ylim(0, 1)
