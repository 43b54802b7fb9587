"""``svg``: hand-written SVG in the conventions of trading terminals, rasterised by resvg.

A fourth drawing stack that shares no drawing code with the others: the screen is composed
as SVG text (one path per colour for wicks and bodies, as a terminal's canvas batches them)
and rasterised by resvg through ``vl_convert.svg_to_png``. Its conventions are those of
TradingView, NinjaTrader, Sierra Chart, ATAS, thinkorswim and MetaTrader screens: theme
palettes of those products, a right-hand price scale with a coloured last-price tag, order
lines with a label box and a tag on the scale, a crosshair with its price/time tags, the
"SYMBOL, TF  O H L C" legend at the top left inside the pane, a faint symbol watermark, an
optional toolbar, volume overlaid at the bottom of the pane or in its own pane, and RSI/MACD
panes with their reference levels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

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
    sma,
    x_limits,
)


@dataclass(frozen=True)
class Theme:
    """A terminal's palette: background, grid, text, up/down bar colours, outline, scale."""

    name: str
    dark: bool
    bg: str
    grid: str
    text: str
    up: str
    down: str
    outline: str | None  # candle outline colour (None: same as the body)
    scale_bg: str
    font: str


THEMES: tuple[Theme, ...] = (
    Theme(
        "tv-dark",
        True,
        "#131722",
        "#2a2e39",
        "#b2b5be",
        "#089981",
        "#f23645",
        None,
        "#131722",
        "Trebuchet MS, sans-serif",
    ),
    Theme(
        "tv-light",
        False,
        "#ffffff",
        "#f0f3fa",
        "#131722",
        "#089981",
        "#f23645",
        None,
        "#ffffff",
        "Trebuchet MS, sans-serif",
    ),
    Theme(
        "ninja",
        False,
        "#ffffff",
        "#e6e6e6",
        "#000000",
        "#00ff00",
        "#ff0000",
        "#000000",
        "#f4f4f4",
        "Arial, sans-serif",
    ),
    Theme(
        "ninja-dark",
        True,
        "#1e1e1e",
        "#3a3a3a",
        "#d6d6d6",
        "#00c000",
        "#e00000",
        "#bfbfbf",
        "#262626",
        "Arial, sans-serif",
    ),
    Theme(
        "sierra",
        True,
        "#000000",
        "#2b2b2b",
        "#ffffff",
        "#00ff00",
        "#ff0000",
        None,
        "#000000",
        "Courier New, monospace",
    ),
    Theme(
        "atas",
        True,
        "#1b1d23",
        "#2c2f38",
        "#9aa0ac",
        "#4caf50",
        "#e53935",
        None,
        "#22252d",
        "Segoe UI, sans-serif",
    ),
    Theme(
        "tos",
        True,
        "#000000",
        "#1f1f1f",
        "#cfcfcf",
        "#00d000",
        "#ff3030",
        None,
        "#000000",
        "Verdana, sans-serif",
    ),
    Theme(
        "mt4",
        True,
        "#000000",
        "#303030",
        "#ffffff",
        "#00ff00",
        "#00ff00",
        "#00ff00",
        "#000000",
        "Tahoma, sans-serif",
    ),
    Theme(
        "mt5-light",
        False,
        "#ffffff",
        "#d8d8d8",
        "#000000",
        "#ffffff",
        "#000000",
        "#000000",
        "#ffffff",
        "Tahoma, sans-serif",
    ),
    Theme(
        "yahoo",
        False,
        "#ffffff",
        "#f0f0f0",
        "#232a31",
        "#00873c",
        "#eb0f29",
        None,
        "#ffffff",
        "Helvetica, sans-serif",
    ),
)


class _Svg:
    """A tiny SVG builder: appends elements as text, in drawing order."""

    def __init__(self, w: int, h: int, bg: str, font: str) -> None:
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'font-family="{font}"><rect width="{w}" height="{h}" fill="{bg}"/>'
        ]

    def add(self, s: str) -> None:
        self.parts.append(s)

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        col: str,
        w: float = 1,
        dash: str | None = None,
    ) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{col}" stroke-width="{w}"{d}/>'
        )

    def rect(self, x: float, y: float, w: float, h: float, fill: str, rx: float = 0) -> None:
        self.add(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
            f'height="{max(h, 0):.1f}" rx="{rx}" fill="{fill}"/>'
        )

    def text(
        self,
        x: float,
        y: float,
        s: str,
        col: str,
        size: float,
        anchor: str = "start",
        weight: str = "normal",
        opacity: float = 1.0,
    ) -> None:
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" fill="{col}" font-size="{size:.0f}" '
            f'text-anchor="{anchor}" font-weight="{weight}" fill-opacity="{opacity}">'
            f"{escape(s)}</text>"
        )

    def path(
        self, d: str, fill: str = "none", stroke: str = "none", w: float = 1, opacity: float = 1.0
    ) -> None:
        if d:
            self.add(
                f'<path d="{d}" fill="{fill}" stroke="{stroke}" stroke-width="{w}" '
                f'fill-opacity="{opacity}"/>'
            )

    def done(self) -> str:
        return "".join(self.parts) + "</svg>"


def _mix(a: str, b: str, t: float) -> str:
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{int(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))


class SvgRenderer:
    """Terminal-style screens composed as SVG and rasterised by resvg (vl-convert)."""

    name = "svg"

    def render(
        self, path: PricePath, rng: np.random.Generator, layout: ScreenLayout
    ) -> Image.Image:
        import vl_convert as vlc

        png = vlc.svg_to_png(self.svg(path, rng, layout))
        img = Image.open(io.BytesIO(png)).convert("RGB")
        if img.size != (layout.width, layout.height):
            img = img.resize((layout.width, layout.height), Image.Resampling.BILINEAR)
        return img

    def svg(self, path: PricePath, rng: np.random.Generator, layout: ScreenLayout) -> str:
        """The screen as SVG text."""
        pool = [t for t in THEMES if t.dark == layout.dark]
        th = pool[int(rng.integers(0, len(pool)))]
        w, h = layout.width, layout.height
        fs = float(np.clip(h / rng.uniform(55, 75), 10, 16))
        g = _Svg(w, h, th.bg, th.font)
        o, hi, lo, c = (path.ohlc[:, k] for k in range(4))
        n = len(c)

        # ---- screen geometry: toolbar, price scale(s), time scale, panes
        top = 0.0
        if rng.random() < 0.5:
            tb = fs * rng.uniform(2.2, 3.0)
            g.rect(0, 0, w, tb, _mix(th.bg, th.text, 0.06))
            g.line(0, tb, w, tb, th.grid)
            g.text(10, tb * 0.65, layout.symbol, th.text, fs * 1.05, weight="bold")
            x = 10 + fs * 5
            for label in ("1m", "5m", "15m", "1h", "4h", "D", "W", "ƒx", "Indicators"):
                col = "#2962ff" if label.startswith(layout.timeframe[:1]) else th.text
                g.text(x, tb * 0.65, label, col, fs * 0.9)
                x += fs * (len(label) * 0.6 + 1.4)
            top = tb + 2
        off_l = off_r = off_b = 0.0
        if layout.chrome:
            off_l, off_r, off_b = _chrome(g, rng, th, layout, w, h, top, fs)
        scale_w = fs * rng.uniform(4.8, 6.5)
        left = off_l + (scale_w if layout.price_axis in ("left", "both") else 0.0)
        right = w - off_r - (scale_w if layout.price_axis in ("right", "both") else fs * 0.5)
        bottom = h - off_b - (fs * 2.0 if layout.time_labels else fs * 0.4)
        panes: list[tuple[str, float, float]] = []
        y = bottom
        if layout.indicator != "none":
            ph = (bottom - top) * rng.uniform(0.14, 0.22)
            panes.append((layout.indicator, y - ph, y))
            y -= ph
        if layout.volume == "pane":
            ph = (bottom - top) * rng.uniform(0.12, 0.2)
            panes.append(("volume", y - ph, y))
            y -= ph
        p_top, p_bot = top + fs * 0.3, y
        for _, y0, _y1 in panes:
            g.line(left, y0, right, y0, _mix(th.bg, th.text, 0.35), 1.5)

        # ---- scales
        xlo, xhi = x_limits(n, layout.right_margin)

        def px(i: np.ndarray | float) -> np.ndarray:
            return left + (np.asarray(i, dtype=float) - xlo) / (xhi - xlo) * (right - left)

        span = float(hi.max() - lo.min())
        pad_t, pad_b = rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.15)
        if layout.volume == "overlay":
            pad_b += 0.18
        pmin, pmax = float(lo.min()) - pad_b * span, float(hi.max()) + pad_t * span

        def py(v: np.ndarray | float) -> np.ndarray:
            return p_top + (pmax - np.asarray(v, dtype=float)) / (pmax - pmin) * (p_bot - p_top)

        xs = px(np.arange(n))
        bw = (xs[1] - xs[0]) if n > 1 else 5.0
        half = max(bw * rng.uniform(0.3, 0.42), 0.5)
        ticks = _nice_ticks(pmin, pmax, int(rng.integers(6, 12)))
        grid_dash = "1,3" if rng.random() < 0.3 else None
        t_idx = list(range(int(rng.integers(0, 8)), n, max(1, n // int(rng.integers(5, 10)))))
        if layout.grid:
            for t in ticks:
                g.line(left, float(py(t)), right, float(py(t)), th.grid, 1, grid_dash)
            for i in t_idx:
                g.line(float(xs[i]), p_top, float(xs[i]), bottom, th.grid, 1, grid_dash)
        if layout.watermark:
            g.text(
                (left + right) / 2,
                (p_top + p_bot) / 2 + fs * 2,
                layout.symbol,
                _mix(th.bg, th.text, 0.12),
                fs * rng.uniform(4, 7),
                anchor="middle",
                weight="bold",
            )

        # ---- volume
        up = c >= o
        if layout.volume != "none":
            if layout.volume == "pane":
                vy0, vy1 = next((a, b) for k, a, b in panes if k == "volume")
                vy0 += fs * 0.3
            else:
                vy1 = p_bot
                vy0 = p_bot - (p_bot - p_top) * rng.uniform(0.15, 0.25)
            vh = path.volume / path.volume.max() * (vy1 - vy0)
            alpha = 0.45 if layout.volume == "overlay" else 0.8
            vol_up = "#8c8c8c" if th.up == "#ffffff" else th.up
            for mask, col in ((up, vol_up), (~up, th.down)):
                d = "".join(
                    f"M{xs[i] - half:.1f} {vy1:.1f}h{2 * half:.1f}v{-vh[i]:.1f}h{-2 * half:.1f}Z"
                    for i in np.flatnonzero(mask)
                )
                g.path(d, fill=col, opacity=alpha)

        # ---- bars
        yo, yh, yl, yc = py(o), py(hi), py(lo), py(c)
        lw = 1.0 if bw < 8 else float(rng.choice([1.0, 1.5]))
        if layout.bar_style == "line":
            pts = " ".join(f"{xs[i]:.1f},{yc[i]:.1f}" for i in range(n))
            if rng.random() < 0.5:
                g.add(
                    f'<polygon points="{xs[0]:.1f},{p_bot:.1f} {pts} {xs[-1]:.1f},{p_bot:.1f}" '
                    f'fill="{th.up}" fill-opacity="0.15"/>'
                )
            g.add(
                f'<polyline points="{pts}" fill="none" stroke="#2962ff" '
                f'stroke-width="{rng.uniform(1.5, 2.5):.1f}"/>'
            )
        else:
            for mask, col in ((up, th.up), (~up, th.down)):
                idx = np.flatnonzero(mask)
                edge = th.outline or col
                if layout.bar_style == "ohlc":
                    d = "".join(
                        f"M{xs[i]:.1f} {yh[i]:.1f}V{yl[i]:.1f}M{xs[i] - half:.1f} {yo[i]:.1f}"
                        f"H{xs[i]:.1f}M{xs[i]:.1f} {yc[i]:.1f}H{xs[i] + half:.1f}"
                        for i in idx
                    )
                    g.path(d, stroke=col, w=lw)
                    continue
                wick = "".join(f"M{xs[i]:.1f} {yh[i]:.1f}V{yl[i]:.1f}" for i in idx)
                g.path(wick, stroke=edge, w=1)
                body = "".join(
                    f"M{xs[i] - half:.1f} {min(yo[i], yc[i]):.1f}h{2 * half:.1f}"
                    f"v{max(abs(yo[i] - yc[i]), 1):.1f}h{-2 * half:.1f}Z"
                    for i in idx
                )
                hollow = layout.bar_style == "hollow" and col == th.up and mask is up
                g.path(body, fill=th.bg if hollow else col, stroke=edge, w=1)

        # ---- moving averages
        for j, period in enumerate(layout.moving_averages):
            ma = sma(c, period)
            ok = np.flatnonzero(~np.isnan(ma))
            if ok.size > 1:
                pts = " ".join(f"{xs[i]:.1f},{float(py(ma[i])):.1f}" for i in ok)
                col = ("#2962ff", "#ff9800", "#e91e63", "#00bcd4")[j % 4]
                g.add(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="1.3"/>')

        # ---- indicator pane
        for kind, y0, y1 in panes:
            if kind == "volume":
                continue
            lines = indicator_lines(c, kind)
            vals = np.concatenate([ln[~np.isnan(ln)] for ln in lines])
            vmin, vmax = (0.0, 100.0) if kind == "rsi" else (float(vals.min()), float(vals.max()))
            vmax = vmax if vmax > vmin else vmin + 1

            def iy(
                v: np.ndarray | float,
                y0: float = y0,
                y1: float = y1,
                vmin: float = vmin,
                vmax: float = vmax,
            ) -> np.ndarray:
                return y1 - fs * 0.3 - (np.asarray(v) - vmin) / (vmax - vmin) * (y1 - y0 - fs)

            if kind == "rsi":
                for lvl in (30, 70):
                    g.line(left, float(iy(lvl)), right, float(iy(lvl)), th.grid, 1, "4,3")
            for j, ln in enumerate(lines):
                ok = np.flatnonzero(~np.isnan(ln))
                pts = " ".join(f"{xs[i]:.1f},{float(iy(ln[i])):.1f}" for i in ok)
                g.add(
                    f'<polyline points="{pts}" fill="none" stroke="{("#7e57c2", "#ff6d00")[j]}" '
                    'stroke-width="1.2"/>'
                )
            g.text(
                left + 6,
                y0 + fs * 1.1,
                "RSI 14 close" if kind == "rsi" else "MACD 12 26 9",
                th.text,
                fs * 0.85,
            )

        # ---- price scale(s), last price, order lines, crosshair
        for side in ("left", "right"):
            if layout.price_axis not in (side, "both"):
                continue
            x_ax = left if side == "left" else right
            g.rect(
                x_ax - scale_w if side == "left" else x_ax, top, scale_w, bottom - top, th.scale_bg
            )
            g.line(x_ax, top, x_ax, bottom, _mix(th.bg, th.text, 0.3))
            for t in ticks:
                ty = float(py(t))
                if p_top + fs < ty < p_bot - fs * 0.5:
                    tx = x_ax + 6 if side == "right" else x_ax - 6
                    g.text(
                        tx,
                        ty + fs * 0.35,
                        fmt_price(float(t)),
                        th.text,
                        fs * 0.9,
                        anchor="start" if side == "right" else "end",
                    )
        tag_x = right if layout.price_axis != "left" else left - scale_w

        def tag(yv: float, label: str, col: str, fg: str = "#ffffff") -> None:
            g.rect(tag_x + 1, yv - fs * 0.7, scale_w - 2, fs * 1.4, col, rx=2)
            g.text(tag_x + 5, yv + fs * 0.35, label, fg, fs * 0.9)

        for frac in layout.order_lines:
            p = price_at(path, frac)
            col = str(rng.choice(["#2962ff", "#f23645", "#089981", "#ff9800"]))
            yv = float(py(p))
            g.line(left, yv, right, yv, col, 1, "6,4" if rng.random() < 0.5 else None)
            bx = left + (right - left) * rng.uniform(0.05, 0.6)
            kind = str(rng.choice(["LMT", "STP", "TP", "SL", "BUY", "SELL"]))
            qty = int(rng.integers(1, 20))
            g.rect(bx, yv - fs * 0.7, fs * 6.5, fs * 1.4, col, rx=2)
            g.text(bx + 4, yv + fs * 0.35, f"{kind} {qty}", "#ffffff", fs * 0.85)
            tag(yv, fmt_price(p), col)
        if layout.last_price_tag:
            col = th.up if c[-1] >= o[-1] else th.down
            yv = float(yc[-1])
            g.line(left, yv, right, yv, col, 1, "1,2")
            tag(yv, fmt_price(float(c[-1])), col, "#000000" if col in ("#00ff00",) else "#ffffff")
        times = bar_times(layout, n)
        fmt = date_format(rng, layout)
        if layout.crosshair is not None:
            fx, fy = layout.crosshair
            cx, cy = left + fx * (right - left), p_top + fy * (p_bot - p_top)
            col = _mix(th.bg, th.text, 0.6)
            dash = "5,4" if layout.crosshair_dashed else None
            g.line(cx, top, cx, bottom, col, 1, dash)
            g.line(left, cy, right, cy, col, 1, dash)
            cp = pmax - (cy - p_top) / (p_bot - p_top) * (pmax - pmin)
            tag(cy, fmt_price(cp), "#363a45" if th.dark else "#131722")
        if layout.time_labels:
            g.line(left, bottom, right, bottom, _mix(th.bg, th.text, 0.3))
            for i in t_idx:
                g.text(
                    float(xs[i]),
                    bottom + fs * 1.3,
                    times[i].strftime(fmt),
                    th.text,
                    fs * 0.85,
                    anchor="middle",
                )
        if layout.legend:
            chg = (c[-1] / c[-2] - 1) * 100 if n > 1 else 0.0
            col = th.up if chg >= 0 else th.down
            lx, ly = left + 8, p_top + fs * 1.2
            g.text(lx, ly, f"{layout.symbol} · {layout.timeframe}", th.text, fs, weight="bold")
            g.text(
                lx + fs * 7,
                ly,
                f"O{fmt_price(o[-1])} H{fmt_price(hi[-1])} "
                f"L{fmt_price(lo[-1])} C{fmt_price(c[-1])} {chg:+.2f}%",
                col,
                fs * 0.95,
            )
            for j, period in enumerate(layout.moving_averages):
                g.text(
                    lx,
                    ly + fs * 1.4 * (j + 1),
                    f"SMA {period}",
                    ("#2962ff", "#ff9800", "#e91e63", "#00bcd4")[j % 4],
                    fs * 0.85,
                )
        return g.done()


def _chrome(
    g: _Svg,
    rng: np.random.Generator,
    th: Theme,
    layout: ScreenLayout,
    w: int,
    h: int,
    top: float,
    fs: float,
) -> tuple[float, float, float]:
    """The platform window around the chart: a drawing-tool bar on the left, a watchlist on
    the right, tabs at the bottom (each sometimes). Returns the space each takes."""
    panel_bg = _mix(th.bg, th.text, 0.05)
    edge = _mix(th.bg, th.text, 0.2)
    off_l = off_r = off_b = 0.0
    if rng.random() < 0.8:
        off_l = fs * rng.uniform(2.4, 3.2)
        g.rect(0, top, off_l, h - top, panel_bg)
        g.line(off_l, top, off_l, h, edge)
        y = top + fs * 1.5
        while y < h - fs * 2:
            kind = int(rng.integers(0, 4))
            cx, r = off_l / 2, fs * 0.45
            if kind == 0:
                g.line(cx - r, y + r, cx + r, y - r, th.text, 1.2)
            elif kind == 1:
                g.add(
                    f'<circle cx="{cx:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="none" '
                    f'stroke="{th.text}" stroke-width="1.2"/>'
                )
            elif kind == 2:
                g.add(
                    f'<rect x="{cx - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" '
                    f'height="{2 * r:.1f}" fill="none" stroke="{th.text}" stroke-width="1.2"/>'
                )
            else:
                g.text(
                    cx,
                    y + r * 0.8,
                    str(rng.choice(["T", "✎", "≡", "+"])),
                    th.text,
                    fs,
                    anchor="middle",
                )
            y += fs * rng.uniform(2.0, 2.6)
    if rng.random() < 0.7:
        off_r = w * rng.uniform(0.14, 0.24)
        x0 = w - off_r
        g.rect(x0, top, off_r, h - top, panel_bg)
        g.line(x0, top, x0, h, edge, 2)
        g.text(x0 + fs * 0.6, top + fs * 1.5, "Watchlist", th.text, fs, weight="bold")
        y = top + fs * 3.2
        for sym in rng.permutation(np.array(SYMBOLS))[: int((h - top) / (fs * 1.8)) - 2]:
            chg = rng.normal(0, 1.2)
            g.text(x0 + fs * 0.6, y, str(sym), th.text, fs * 0.9)
            g.text(
                w - fs * 4.5,
                y,
                fmt_price(float(np.exp(rng.uniform(0, 8)))),
                th.text,
                fs * 0.9,
                anchor="end",
            )
            g.text(
                w - fs * 0.5,
                y,
                f"{chg:+.2f}%",
                th.up if chg >= 0 else th.down,
                fs * 0.9,
                anchor="end",
            )
            y += fs * 1.8
    if rng.random() < 0.6:
        off_b = fs * rng.uniform(1.8, 2.4)
        y0 = h - off_b
        g.rect(0, y0, w - off_r, off_b, panel_bg)
        g.line(0, y0, w - off_r, y0, edge)
        x = off_l + fs
        for tab in (
            "Stock Screener",
            "Pine Editor",
            "Strategy Tester",
            "Trading Panel",
            "Journal",
            "DOM",
        ):
            if rng.random() < 0.7:
                g.text(x, y0 + off_b * 0.65, tab, th.text, fs * 0.85)
                x += fs * (len(tab) * 0.55 + 1.5)
    return off_l, off_r, off_b


def _nice_ticks(lo: float, hi: float, n: int) -> np.ndarray:
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    return np.arange(np.ceil(lo / step) * step, hi, step)
