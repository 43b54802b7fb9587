"""Ink-map sketches: labelled training charts drawn straight into the model's input space.

Drawing a screenshot with a real stack costs 80-800 ms (Pillow to mplfinance), and every stack
has its own look that a model can memorise. A sketch is drawn with numpy in about 2 ms,
directly as the ink map :func:`tradelake.ml.ink.ink_map` makes of a screenshot, and varies
everything a screen varies, at random and independently: the price pane's place and size,
axes on either side with label-like glyph blocks, time labels, volume (its own pane or under
the bars), indicator panes, bar style (candles, hollow candles, OHLC bars, line), bar width
and ink per direction, moving averages, grid, crosshair, order lines with their tags, a
last-price line, legend text, watermark, a second chart of a multi-chart panel, the window
chrome, blur and noise. So a model trained on sketches has never seen any drawing stack's
pixels, and every real stack is software it has not seen (issue 11).

Everything is drawn on a canvas ``SUPERSAMPLE`` times the map's size and area-averaged down,
which gives thin strokes the fractional coverage a screenshot's box downscale gives them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tradelake.ml.charts import PricePath
from tradelake.ml.ink import _TONE, INK_SIZE

SUPERSAMPLE = 4
FloatArray = NDArray[np.float32]


@dataclass
class _Canvas:
    """A float ink canvas in [0, 1]; every draw keeps the brighter of old and new ink."""

    ink: FloatArray

    @property
    def h(self) -> int:
        return int(self.ink.shape[0])

    @property
    def w(self) -> int:
        return int(self.ink.shape[1])

    def rect(self, x0: float, y0: float, x1: float, y1: float, v: float) -> None:
        xa, xb = _span(x0, x1, self.w)
        ya, yb = _span(y0, y1, self.h)
        if xb > xa and yb > ya:
            view = self.ink[ya:yb, xa:xb]
            np.maximum(view, v, out=view)

    def hline(self, y: float, x0: float, x1: float, v: float, t: int = 1, dash: int = 0) -> None:
        ya, yb = _span(y - t / 2, y + t / 2, self.h)
        xa, xb = _span(x0, x1, self.w)
        if yb <= ya or xb <= xa:
            return
        row = np.full(xb - xa, v, dtype=np.float32)
        if dash:
            row[(np.arange(xb - xa) // dash) % 2 == 1] = 0.0
        view = self.ink[ya:yb, xa:xb]
        np.maximum(view, row[None, :], out=view)

    def vline(self, x: float, y0: float, y1: float, v: float, t: int = 1, dash: int = 0) -> None:
        xa, xb = _span(x - t / 2, x + t / 2, self.w)
        ya, yb = _span(y0, y1, self.h)
        if yb <= ya or xb <= xa:
            return
        col = np.full(yb - ya, v, dtype=np.float32)
        if dash:
            col[(np.arange(yb - ya) // dash) % 2 == 1] = 0.0
        view = self.ink[ya:yb, xa:xb]
        np.maximum(view, col[:, None], out=view)

    def columns(self, x0: int, lo: FloatArray, hi: FloatArray, v: FloatArray | float) -> None:
        """Fill, in each column ``x0 + j``, the rows ``lo[j]..hi[j]`` (vectorised bars)."""
        n = len(lo)
        if n == 0:
            return
        xa, xb = max(0, x0), min(self.w, x0 + n)
        if xb <= xa:
            return
        sl = slice(xa - x0, xb - x0)
        rows = np.arange(self.h, dtype=np.float32)[:, None]
        mask = (rows >= np.floor(lo[sl])[None, :]) & (rows <= np.ceil(hi[sl])[None, :])
        val = np.broadcast_to(np.asarray(v, dtype=np.float32), (n,))[sl]
        view = self.ink[:, xa:xb]
        np.maximum(view, np.where(mask, val[None, :], 0.0), out=view)

    def polyline(self, xs: FloatArray, ys: FloatArray, v: float, t: float = 1.0) -> None:
        """A line through ``(xs, ys)`` (xs increasing), ``t`` pixels thick, no gaps."""
        ok = np.isfinite(ys)
        if ok.sum() < 2:
            return
        xs, ys = xs[ok], ys[ok]
        x0, x1 = int(np.ceil(xs[0])), int(np.floor(xs[-1]))
        if x1 <= x0:
            return
        cx = np.arange(x0, x1 + 1, dtype=np.float32)
        cy = np.interp(cx, xs, ys).astype(np.float32)
        nxt = np.concatenate([cy[1:], cy[-1:]])
        lo = np.minimum(cy, nxt) - t / 2
        hi = np.maximum(cy, nxt) + t / 2
        self.columns(x0, lo, hi, v)

    def segments(
        self, cols: NDArray[np.int64], lo: FloatArray, hi: FloatArray, v: FloatArray | float
    ) -> None:
        """Fill rows ``lo[k]..hi[k]`` of column ``cols[k]`` for every k (one vectorised draw)."""
        keep = (cols >= 0) & (cols < self.w)
        if not keep.any():
            return
        cols, lo, hi = cols[keep], lo[keep], hi[keep]
        val = np.broadcast_to(np.asarray(v, dtype=np.float32), keep.shape)[keep]
        r0 = max(0, int(np.floor(lo.min())))
        r1 = min(self.h, int(np.ceil(hi.max())) + 1)
        if r1 <= r0:
            return
        rows = np.arange(r0, r1, dtype=np.float32)[:, None]
        mask = (rows >= np.floor(lo)[None, :]) & (rows <= np.ceil(hi)[None, :])
        block = self.ink[r0:r1, cols]
        np.maximum(block, np.where(mask, val[None, :], np.float32(0.0)), out=block)
        self.ink[r0:r1, cols] = block

    def label(
        self, rng: np.random.Generator, x: float, y: float, n: int, size: float, v: float
    ) -> None:
        """A text label of ``n`` characters at (x, y) (top-left), ``size`` pixels tall.

        Text is never read, only seen: after the downscale a label is a grey smudge with
        gaps between characters, which is what this draws (one slice, not glyph strokes).
        """
        cw = size * 0.62
        xa, xb = _span(x, x + n * cw, self.w)
        ya, yb = _span(y, y + size, self.h)
        if xb <= xa or yb <= ya:
            return
        cols = np.arange(xb - xa)
        on = (cols % max(2, round(cw))) < cw * 0.75
        dens = rng.uniform(0.3, 0.6, n + 1)[np.minimum((cols / cw).astype(int), n)]
        rows = rng.random(yb - ya) < 0.7
        block = np.where(rows[:, None] & on[None, :], (v * dens)[None, :], 0.0).astype(np.float32)
        view = self.ink[ya:yb, xa:xb]
        np.maximum(view, block, out=view)


def _span(a: float, b: float, limit: int) -> tuple[int, int]:
    lo, hi = (a, b) if a <= b else (b, a)
    return max(0, round(lo)), min(limit, round(hi) + (1 if round(hi) == round(lo) else 0))


def _sma(x: NDArray[np.float64], p: int) -> NDArray[np.float64]:
    out = np.full(len(x), np.nan)
    if p <= len(x):
        c = np.cumsum(np.concatenate([[0.0], x]))
        out[p - 1 :] = (c[p:] - c[:-p]) / p
    return out


def _text_column(
    c: _Canvas,
    rng: np.random.Generator,
    x: float,
    y0: float,
    y1: float,
    v: float,
    size: float,
    right: bool,
) -> None:
    """Price-axis labels: a glyph block every ``gap`` pixels down a column."""
    gap = size * rng.uniform(2.5, 6.0)
    y = y0 + rng.uniform(0, gap)
    n = int(rng.integers(3, 8))
    while y < y1 - size:
        c.label(rng, x, y, n, size, v)
        y += gap


def _text_row(
    c: _Canvas, rng: np.random.Generator, y: float, x0: float, x1: float, v: float, size: float
) -> None:
    gap = size * rng.uniform(5.0, 12.0)
    x = x0 + rng.uniform(0, gap)
    n = int(rng.integers(4, 9))
    while x < x1 - n * size * 0.7:
        c.label(rng, x, y, n, size, v)
        x += gap


def _bar_columns(xs: FloatArray, width: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Canvas columns covered by a ``width``-pixel stroke centred on each of ``xs``: the
    column indices and, for each, which bar it belongs to."""
    k = max(1, round(width))
    offs = np.arange(k) - (k - 1) / 2.0
    cols = np.rint(xs[:, None] + offs[None, :]).astype(np.int64)
    owner = np.repeat(np.arange(len(xs)), k)
    return cols.ravel(), owner


def _draw_bars(
    c: _Canvas,
    rng: np.random.Generator,
    ohlc: NDArray[np.float64],
    xs: FloatArray,
    price_y: Callable[[NDArray[np.float64]], FloatArray],
    spacing: float,
    style: str,
) -> None:
    """Candles / hollow candles / OHLC bars / a close line at bar centres ``xs``."""
    o, hi, lo, cl = (price_y(ohlc[:, k]) for k in range(4))
    up = ohlc[:, 3] >= ohlc[:, 0]
    v_up, v_dn = rng.uniform(0.35, 1.0), rng.uniform(0.35, 1.0)
    if rng.random() < 0.3:
        v_dn = v_up
    val = np.where(up, v_up, v_dn).astype(np.float32)
    if style == "line":
        c.polyline(xs, cl, float(max(v_up, v_dn)), float(rng.uniform(0.8, 3.0) * SUPERSAMPLE / 2))
        if rng.random() < 0.3:  # area chart: a faint fill under the line
            cols, owner = _bar_columns(xs, max(1.0, spacing))
            c.segments(
                cols, cl[owner], np.full(len(cols), c.h, np.float32), float(rng.uniform(0.05, 0.25))
            )
        return
    body_w = max(1.0, spacing * rng.uniform(0.35, 0.85))
    t = max(1.0, rng.uniform(0.2, 0.45) * SUPERSAMPLE)
    top, bot = np.minimum(hi, lo), np.maximum(hi, lo)
    cols, owner = _bar_columns(xs, t)
    c.segments(cols, top[owner], bot[owner], val[owner])  # wicks (the whole bar for OHLC)
    if style == "ohlc":
        tick = max(1.0, body_w / 2)
        for sign, level in ((-1.0, o), (1.0, cl)):
            cols, owner = _bar_columns(xs + sign * tick / 2, tick)
            c.segments(cols, level[owner] - t / 2, level[owner] + t / 2, val[owner])
        return
    btop, bbot = np.minimum(o, cl), np.maximum(np.maximum(o, cl), np.minimum(o, cl) + 1)
    cols, owner = _bar_columns(xs, body_w)
    if style == "hollow" and body_w > 3:
        # up candles: outline only, the inside stays background
        fill = ~up[owner]
        first = np.r_[True, owner[1:] != owner[:-1]]
        last = np.r_[owner[1:] != owner[:-1], True]
        edge = first | last
        c.segments(
            cols[fill | edge],
            btop[owner][fill | edge],
            bbot[owner][fill | edge],
            val[owner][fill | edge],
        )
        hollow = ~fill & ~edge
        c.segments(cols[hollow], btop[owner][hollow], btop[owner][hollow] + t, val[owner][hollow])
        c.segments(cols[hollow], bbot[owner][hollow] - t, bbot[owner][hollow], val[owner][hollow])
    else:
        c.segments(cols, btop[owner], bbot[owner], val[owner])


def sketch(
    path: PricePath,
    rng: np.random.Generator,
    size: tuple[int, int] = INK_SIZE,
    background: PricePath | None = None,
) -> NDArray[np.uint8]:
    """The uint8 ink map (``size``) of a screenshot of ``path`` on a randomly sampled screen.

    ``background`` (optional) is an unrelated path drawn as another chart of a multi-chart
    panel when the sampled layout has one next to the chart.
    """
    s = SUPERSAMPLE
    th, tw = size
    c = _Canvas(np.zeros((th * s, tw * s), dtype=np.float32))
    W, H = float(c.w), float(c.h)
    text_v = float(rng.uniform(0.3, 1.0))
    glyph = float(rng.uniform(0.012, 0.03) * H)

    # window chrome and panel neighbours shrink the chart's own box
    left, top, right, bottom = 0.0, 0.0, W, H
    if rng.random() < 0.25:  # chrome: tool bar on the left, watchlist on the right, tabs below
        tb = rng.uniform(0.02, 0.05) * W
        for y in np.arange(rng.uniform(0.05, 0.1) * H, H * 0.8, rng.uniform(0.05, 0.09) * H):
            c.rect(tb * 0.25, y, tb * 0.75, y + tb * 0.5, text_v * rng.uniform(0.4, 1.0))
        left += tb
        if rng.random() < 0.6:
            wl = rng.uniform(0.12, 0.25) * W
            c.vline(W - wl, 0, H, float(rng.uniform(0.1, 0.5)), s)
            if rng.random() < 0.5:  # a panel of its own colour
                c.rect(W - wl, 0, W, H, float(rng.uniform(0.05, 0.35)))
            for y in np.arange(
                rng.uniform(0.02, 0.06) * H, H - glyph, glyph * rng.uniform(1.6, 2.4)
            ):
                c.label(rng, W - wl + glyph, y, int(rng.integers(3, 7)), glyph * 0.8, text_v)
                c.label(rng, W - glyph * 5, y, 4, glyph * 0.8, text_v * rng.uniform(0.5, 1.0))
            right -= wl
        if rng.random() < 0.5:
            tabs = rng.uniform(0.04, 0.08) * H
            c.hline(H - tabs, 0, W, float(rng.uniform(0.1, 0.5)), s)
            _text_row(c, rng, H - tabs * 0.7, left, right, text_v, glyph * 0.8)
            bottom -= tabs
        if rng.random() < 0.5:
            bar = rng.uniform(0.03, 0.06) * H
            _text_row(c, rng, bar * 0.3, left, right, text_v, glyph * 0.8)
            c.hline(bar, 0, W, float(rng.uniform(0.1, 0.5)), s)
            top += bar
    if background is not None and rng.random() < 0.5:
        # a neighbour of a multi-chart panel cut into the crop along one edge
        cut = rng.uniform(0.04, 0.12)
        if rng.random() < 0.5:
            box = (left, top, left + cut * W, bottom)
            left += cut * W + s * 2
        else:
            box = (left, bottom - cut * H, right, bottom)
            bottom -= cut * H + s * 2
        _mini_chart(c, rng, background, box)

    # axes strips and panes inside the chart box
    axis = str(
        rng.choice(["right", "right", "left", "both", "none"], p=[0.45, 0.15, 0.15, 0.15, 0.1])
    )
    ax_w = rng.uniform(0.05, 0.11) * W
    pl, pr = left + rng.uniform(0.0, 0.02) * W, right - rng.uniform(0.0, 0.02) * W
    if axis in ("left", "both"):
        pl += ax_w
    if axis in ("right", "both"):
        pr -= ax_w
    pt = top + rng.uniform(0.0, 0.06) * H
    pb = bottom
    if rng.random() < 0.85:  # time labels
        tl = glyph * rng.uniform(1.6, 2.4)
        _text_row(c, rng, bottom - tl + glyph * 0.3, pl, pr, text_v, glyph)
        pb -= tl
    panes: list[tuple[float, float]] = []
    volume = str(rng.choice(["none", "pane", "overlay"], p=[0.35, 0.35, 0.3]))
    n_ind = int(rng.choice([0, 1, 2], p=[0.65, 0.27, 0.08]))
    for _ in range(n_ind + (volume == "pane")):
        hgt = rng.uniform(0.12, 0.22) * (pb - pt)
        panes.append((pb - hgt, pb))
        pb -= hgt + rng.uniform(0.0, 0.02) * H
    sep_v = float(rng.uniform(0.1, 0.6))
    frame = rng.random() < 0.5
    for y0, _y1 in panes:
        c.hline(y0 - s, pl, pr, sep_v, s)
    if frame:
        fv = float(rng.uniform(0.15, 0.7))
        c.vline(pl, pt, bottom, fv, s)
        c.vline(pr, pt, bottom, fv, s)
        c.hline(pb, pl, pr, fv, s)
    for side, x in (("left", pl - ax_w + glyph * 0.4), ("right", pr + glyph * 0.4)):
        if axis in (side, "both"):
            _text_column(c, rng, x, pt, pb, text_v, glyph, side == "right")
            for y0, y1 in panes:
                _text_column(c, rng, x, y0, y1, text_v, glyph, side == "right")

    # grid
    if rng.random() < 0.7:
        gv = float(rng.uniform(0.04, 0.3))
        dash = int(rng.choice([0, 0, 2 * s, 3 * s]))
        for y in np.arange(
            pt + rng.uniform(0, 0.15) * (pb - pt), pb, rng.uniform(0.08, 0.2) * (pb - pt)
        ):
            c.hline(y, pl, pr, gv, max(1, s // 2), dash)
        for x in np.arange(pl + rng.uniform(0, 0.1) * W, pr, rng.uniform(0.06, 0.18) * W):
            c.vline(x, pt, bottom if panes else pb, gv, max(1, s // 2), dash)

    # the price pane
    n = len(path.ohlc)
    margin = float(rng.choice([0.0, rng.uniform(0.0, 0.15)]))
    spacing = (pr - pl) * (1.0 - margin) / n
    xs = (pl + spacing * (np.arange(n) + 0.5)).astype(np.float32)
    lo, hi = float(path.ohlc[:, 2].min()), float(path.ohlc[:, 1].max())
    pad_t, pad_b = rng.uniform(0.02, 0.12), rng.uniform(0.02, 0.12)
    if volume == "overlay":
        pad_b += rng.uniform(0.1, 0.25)
    span_y = (pb - pt) * (1.0 - pad_t - pad_b)

    def price_y(p: NDArray[np.float64]) -> FloatArray:
        return (
            pb - (pb - pt) * pad_b - (np.asarray(p) - lo) / max(hi - lo, 1e-12) * span_y
        ).astype(np.float32)

    if volume != "none":
        vy0, vy1 = (
            panes[-1]
            if volume == "pane" and panes
            else (pb - (pb - pt) * rng.uniform(0.12, 0.3), pb)
        )
        vol = path.volume / max(float(path.volume.max()), 1e-12)
        vv = float(rng.uniform(0.1, 0.6))
        cols, owner = _bar_columns(xs, max(1.0, spacing * rng.uniform(0.4, 0.85)))
        tops = (vy1 - vol * (vy1 - vy0) * 0.95).astype(np.float32)
        c.segments(cols, tops[owner], np.full(len(cols), vy1, np.float32), vv)
    for k in range(n_ind):
        y0, y1 = panes[k]
        wave = np.cumsum(rng.normal(0, 1, n))
        wave = (wave - wave.min()) / max(float(np.ptp(wave)), 1e-9)
        iv = float(rng.uniform(0.3, 0.9))
        c.polyline(
            xs, (y1 - 0.1 * (y1 - y0) - wave * 0.8 * (y1 - y0)).astype(np.float32), iv, s * 0.6
        )
        if rng.random() < 0.6:
            for lvl in (0.3, 0.7):
                c.hline(y0 + lvl * (y1 - y0), pl, pr, iv * 0.4, max(1, s // 2), 2 * s)

    if rng.random() < 0.25:  # watermark: big faint symbol text behind the bars
        wv = float(rng.uniform(0.03, 0.15))
        size_w = rng.uniform(0.08, 0.2) * H
        c.label(
            rng,
            pl + rng.uniform(0.15, 0.4) * (pr - pl),
            pt + rng.uniform(0.3, 0.5) * (pb - pt),
            int(rng.integers(3, 7)),
            size_w,
            wv,
        )
    style = str(rng.choice(["candle", "hollow", "ohlc", "line"], p=[0.55, 0.15, 0.2, 0.1]))
    for period in rng.choice([9, 20, 21, 50, 100], int(rng.choice([0, 0, 1, 2, 3]))):
        ma = _sma(path.ohlc[:, 3], int(period))
        c.polyline(xs, price_y(ma), float(rng.uniform(0.25, 0.9)), float(rng.uniform(0.6, 1.6)))
    _draw_bars(c, rng, path.ohlc, xs, price_y, spacing, style)

    if rng.random() < 0.6:  # last-price line and tag
        y = float(price_y(path.ohlc[-1:, 3])[0])
        lv = float(rng.uniform(0.3, 0.8))
        c.hline(y, pl, pr, lv, max(1, s // 2), int(rng.choice([0, s, 2 * s])))
        if axis != "none":
            x = pr if axis in ("right", "both") else pl - ax_w
            c.rect(x, y - glyph * 0.7, x + ax_w, y + glyph * 0.7, lv)
    for _ in range(int(rng.choice([0, 0, 0, 1, 2, 3]))):  # order lines with their tags
        y = pt + rng.uniform(0.1, 0.9) * (pb - pt)
        ov = float(rng.uniform(0.4, 1.0))
        c.hline(y, pl, pr, ov, int(rng.choice([s // 2, s])), int(rng.choice([0, 0, s, 2 * s])))
        tx = pl + rng.uniform(0.05, 0.6) * (pr - pl)
        c.rect(tx, y - glyph * 0.7, tx + glyph * rng.uniform(4, 9), y + glyph * 0.7, ov)
    if rng.random() < 0.35:  # crosshair
        cv = float(rng.uniform(0.25, 0.8))
        dash = int(rng.choice([0, s, 2 * s]))
        cx, cy = pl + rng.uniform(0.05, 0.95) * (pr - pl), pt + rng.uniform(0.05, 0.95) * (pb - pt)
        c.vline(cx, pt, bottom, cv, max(1, s // 2), dash)
        c.hline(cy, pl, pr, cv, max(1, s // 2), dash)
    if rng.random() < 0.6:  # legend: symbol, timeframe, OHLC values
        _text_row(
            c,
            rng,
            pt + glyph * 0.3,
            pl + glyph * 0.5,
            pl + (pr - pl) * rng.uniform(0.3, 0.7),
            text_v,
            glyph,
        )

    return _finish(c.ink, rng, size)


def _mini_chart(
    c: _Canvas, rng: np.random.Generator, path: PricePath, box: tuple[float, float, float, float]
) -> None:
    """An unrelated chart squeezed into ``box`` (the neighbour of a multi-chart panel)."""
    x0, y0, x1, y1 = box
    n = len(path.ohlc)
    xs = np.linspace(x0, x1, n).astype(np.float32)
    lo, hi = float(path.ohlc[:, 2].min()), float(path.ohlc[:, 1].max())

    def py(p: NDArray[np.float64]) -> FloatArray:
        return (y1 - (np.asarray(p) - lo) / max(hi - lo, 1e-12) * (y1 - y0) * 0.9).astype(
            np.float32
        )

    _draw_bars(c, rng, path.ohlc, xs, py, (x1 - x0) / n, "candle")


def _finish(ink: FloatArray, rng: np.random.Generator, size: tuple[int, int]) -> NDArray[np.uint8]:
    """Area-average to ``size``, blur and noise like a screenshot's, tone curve, uint8."""
    s = SUPERSAMPLE
    th, tw = size
    small = ink.reshape(th, s, tw, s).mean(axis=(1, 3))
    if rng.random() < 0.3:  # JPEG-like softening
        k = np.array([0.25, 0.5, 0.25], dtype=np.float32)
        small = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, small)
        small = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 0, small)
    small = small * rng.uniform(0.7, 1.0)
    if rng.random() < 0.3:
        small = small + rng.normal(0, rng.uniform(0.002, 0.008), small.shape).astype(np.float32)
    u8 = (np.clip(small, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return _TONE[u8]
