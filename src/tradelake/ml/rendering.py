"""Draw a :class:`~tradelake.ml.charts.PricePath` the way a trading platform's screenshot looks.

Styles are grouped in named *families*, each a set of drawing conventions (palette, bar
type, grid, axes, panes, overlays, decorations). ``TRAIN_STYLES`` are used for training;
``HELD_OUT_STYLE`` uses conventions none of them has (gradient background, dotted grid,
watermark, HLC bars and outlined candles, shaded Bollinger band, crosshair) so that its
score estimates accuracy on charting software the model has never seen.

Every screen-level variable is randomised per image: resolution (800x450 to 1920x1080),
aspect ratio, margins, bar width, padding, axes, labels, volume pane, moving averages,
cropping and JPEG re-encoding. Only Pillow is used, so rendering runs anywhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tradelake.ml.charts import PricePath

RGB = tuple[int, int, int]
TRAIN_STYLES: tuple[str, ...] = ("web", "terminal", "print", "minimal", "random")
HELD_OUT_STYLE = "held_out"
ALL_STYLES: tuple[str, ...] = (*TRAIN_STYLES, HELD_OUT_STYLE)
_SYMBOLS = ("BTCUSD", "ETHUSDT", "AAPL", "EURUSD", "SPX", "NVDA", "XAUUSD", "TSLA", "ES1!", "SOL")


@dataclass
class Spec:
    """Every drawing decision for one image; a family's sampler fills it in."""

    width: int
    height: int
    bg: RGB
    bg2: RGB | None  # vertical gradient end colour
    fg: RGB  # text / axis colour
    grid: RGB
    up: RGB
    down: RGB
    kind: str  # candle | hollow | outlined | ohlc | hlc | line | area
    grid_mode: str = "solid"  # none | solid | dotted
    axis: str = "right"  # right | left | both | none
    time_axis: bool = True
    volume: str = "none"  # none | overlay | pane
    ma_colors: list[RGB] = field(default_factory=list)
    bollinger: bool = False
    watermark: bool = False
    crosshair: bool = False
    last_price: bool = False
    toolbar: bool = False
    legend: bool = True
    line_w: int = 1
    body_frac: float = 0.65
    right_pad: float = 0.03
    jpeg: int | None = None


def _rand_color(rng: np.random.Generator, lo: float = 0.35, hi: float = 1.0) -> RGB:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(lo, hi))
    return int(r * 255), int(g * 255), int(b * 255)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        int(a[0] + (b[0] - a[0]) * t),
        int(a[1] + (b[1] - a[1]) * t),
        int(a[2] + (b[2] - a[2]) * t),
    )


def _jit(rng: np.random.Generator, c: RGB, amount: int = 18) -> RGB:
    return tuple(int(np.clip(v + rng.integers(-amount, amount + 1), 0, 255)) for v in c)  # type: ignore[return-value]


def _size(rng: np.random.Generator) -> tuple[int, int]:
    w = int(rng.integers(800, 1921))
    h = int(np.clip(w / rng.uniform(1.3, 2.3), 450, 1080))
    return w, h


def _common(rng: np.random.Generator, s: Spec) -> Spec:
    s.right_pad = float(rng.choice([0.0, rng.uniform(0.01, 0.12)]))
    s.body_frac = float(rng.uniform(0.4, 0.85))
    s.jpeg = int(rng.integers(35, 96)) if rng.random() < 0.45 else None
    s.line_w = int(rng.choice([1, 1, 2])) if s.width < 1400 else int(rng.choice([1, 2, 2, 3]))
    return s


def sample_spec(rng: np.random.Generator, style: str) -> Spec:
    """Draw a random :class:`Spec` from the conventions of ``style``."""
    w, h = _size(rng)
    dark = bool(rng.random() < 0.5)
    if style == "web":
        bg = _jit(rng, (19, 23, 34) if dark else (255, 255, 255), 10)
        s = Spec(
            w,
            h,
            bg,
            None,
            (200, 200, 205) if dark else (60, 60, 70),
            _mix(bg, (128, 128, 140), 0.25),
            _jit(rng, (38, 166, 154)),
            _jit(rng, (239, 83, 80)),
            str(rng.choice(["candle"] * 4 + ["hollow", "ohlc"])),
            volume=str(rng.choice(["overlay", "overlay", "none"])),
            ma_colors=[_rand_color(rng) for _ in range(int(rng.integers(0, 3)))],
            last_price=bool(rng.random() < 0.7),
            toolbar=bool(rng.random() < 0.6),
        )
        s.grid_mode = str(rng.choice(["solid", "solid", "none"]))
    elif style == "terminal":
        bg = _jit(rng, (0, 0, 0), 12)
        up, down = [
            ((0, 230, 0), (230, 0, 0)),
            ((255, 255, 255), (255, 60, 60)),
            ((0, 200, 255), (255, 0, 200)),
            ((230, 230, 0), (255, 120, 0)),
        ][int(rng.integers(0, 4))]
        s = Spec(
            w,
            h,
            bg,
            None,
            (180, 180, 180),
            _jit(rng, (45, 45, 45), 15),
            up,
            down,
            str(rng.choice(["ohlc", "ohlc", "candle", "line"])),
            axis=str(rng.choice(["right", "left", "both"])),
            volume=str(rng.choice(["pane", "none"])),
            ma_colors=[_rand_color(rng, 0.7) for _ in range(int(rng.integers(0, 4)))],
        )
    elif style == "print":
        bg = _jit(rng, (255, 255, 255) if not dark else (235, 235, 228), 6)
        s = Spec(
            w,
            h,
            bg,
            None,
            (0, 0, 0),
            _jit(rng, (210, 210, 210), 20),
            (0, 0, 0),
            (0, 0, 0),
            str(rng.choice(["hollow", "hollow", "ohlc", "line"])),
            axis=str(rng.choice(["right", "both", "left"])),
            volume=str(rng.choice(["pane", "none", "none"])),
            ma_colors=[_jit(rng, (90, 90, 90), 60) for _ in range(int(rng.integers(0, 2)))],
        )
        s.grid_mode = str(rng.choice(["solid", "none"]))
    elif style == "minimal":
        bg = _rand_color(rng, 0.0, 0.2) if dark else _mix(_rand_color(rng), (255, 255, 255), 0.9)
        line = _rand_color(rng, 0.6) if dark else _rand_color(rng, 0.3, 0.7)
        s = Spec(
            w,
            h,
            bg,
            None,
            _mix(bg, (128, 128, 128) if dark else (0, 0, 0), 0.8),
            bg,
            line,
            line,
            str(rng.choice(["line", "area", "area", "candle"])),
            grid_mode="none",
            axis=str(rng.choice(["right", "none"])),
            time_axis=bool(rng.random() < 0.5),
            legend=bool(rng.random() < 0.5),
        )
        if s.kind == "candle":
            s.up, s.down = _rand_color(rng, 0.5), _rand_color(rng, 0.5)
    elif style == "random":
        bg = (
            _rand_color(rng, 0.0, 0.25)
            if dark
            else _mix(_rand_color(rng), (255, 255, 255), rng.uniform(0.75, 1.0))
        )
        s = Spec(
            w,
            h,
            bg,
            None,
            _mix(bg, (255, 255, 255) if dark else (0, 0, 0), 0.75),
            _mix(bg, (128, 128, 128), rng.uniform(0.1, 0.4)),
            _rand_color(rng, 0.5),
            _rand_color(rng, 0.5),
            str(rng.choice(["candle", "hollow", "ohlc", "line", "area"])),
            grid_mode=str(rng.choice(["solid", "none"])),
            axis=str(rng.choice(["right", "left", "both", "none"])),
            time_axis=bool(rng.random() < 0.7),
            volume=str(rng.choice(["none", "overlay", "pane"])),
            ma_colors=[_rand_color(rng, 0.5) for _ in range(int(rng.integers(0, 4)))],
            last_price=bool(rng.random() < 0.4),
            toolbar=bool(rng.random() < 0.3),
            legend=bool(rng.random() < 0.6),
        )
    elif style == HELD_OUT_STYLE:
        top = _jit(rng, (28, 36, 60) if dark else (236, 240, 248), 12)
        bot = _mix(top, (0, 0, 0) if dark else (255, 255, 255), 0.6)
        pal = [
            ((33, 150, 243), (255, 152, 0)),
            ((0, 150, 136), (156, 39, 176)),
            ((76, 175, 80), (96, 125, 139)),
        ][int(rng.integers(0, 3))]
        s = Spec(
            w,
            h,
            top,
            bot,
            (220, 225, 235) if dark else (40, 45, 60),
            _mix(top, (150, 160, 190), 0.4),
            pal[0],
            pal[1],
            str(rng.choice(["outlined", "outlined", "hlc"])),
            grid_mode="dotted",
            axis=str(rng.choice(["left", "both"])),
            volume="pane",
            ma_colors=[_rand_color(rng, 0.6) for _ in range(int(rng.integers(0, 2)))],
            bollinger=bool(rng.random() < 0.6),
            watermark=True,
            crosshair=bool(rng.random() < 0.7),
            last_price=True,
        )
    else:
        raise ValueError(f"unknown renderer style {style!r}; expected one of {ALL_STYLES}")
    return _common(rng, s)


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _sma(x: np.ndarray, p: int) -> np.ndarray:
    c = np.cumsum(np.concatenate([[0.0], x]))
    out = np.full(len(x), np.nan)
    out[p - 1 :] = (c[p:] - c[:-p]) / p
    return out


def _fmt(v: float, step: float) -> str:
    dec = max(0, int(-np.floor(np.log10(step))) + 1) if step < 1 else 0
    return f"{v:,.{dec}f}"


def _ticks(lo: float, hi: float, n: int) -> np.ndarray:
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    return np.arange(np.ceil(lo / step) * step, hi, step)


def _hline(
    d: ImageDraw.ImageDraw, x0: float, x1: float, y: float, c: RGB, dotted: bool, w: int = 1
) -> None:
    if not dotted:
        d.line([(x0, y), (x1, y)], fill=c, width=w)
        return
    for x in np.arange(x0, x1, 6):
        d.line([(x, y), (min(x + 2, x1), y)], fill=c, width=w)


def _vline(d: ImageDraw.ImageDraw, x: float, y0: float, y1: float, c: RGB, dotted: bool) -> None:
    if not dotted:
        d.line([(x, y0), (x, y1)], fill=c)
        return
    for y in np.arange(y0, y1, 6):
        d.line([(x, y), (x, min(y + 2, y1))], fill=c)


def render(rng: np.random.Generator, path: PricePath, style: str) -> Image.Image:
    """Render ``path`` as an RGB screenshot in renderer style ``style``."""
    s = sample_spec(rng, style)
    return render_spec(rng, path, s)


def render_spec(rng: np.random.Generator, path: PricePath, s: Spec) -> Image.Image:
    """Render ``path`` with the fully specified drawing decisions ``s``."""
    w, h = s.width, s.height
    img = Image.new("RGB", (w, h), s.bg)
    d = ImageDraw.Draw(img)
    if s.bg2 is not None:
        for y in range(0, h, 4):
            d.rectangle([0, y, w, y + 4], fill=_mix(s.bg, s.bg2, y / h))
    fs = int(np.clip(h / rng.uniform(50, 75), 9, 22))
    font = _font(fs)
    top = int(rng.uniform(0.06, 0.09) * h) if s.toolbar else int(rng.uniform(0.01, 0.04) * h)
    if s.toolbar:
        d.rectangle([0, 0, w, top - 4], fill=_mix(s.bg, s.fg, 0.08))
        for i in range(int(rng.integers(4, 12))):
            x = 10 + i * fs * 3
            d.rectangle([x, top * 0.3, x + fs * 2, top * 0.65], outline=_mix(s.bg, s.fg, 0.4))
    ax_w = int(fs * rng.uniform(4.5, 6.5))
    left = ax_w if s.axis in ("left", "both") else int(rng.uniform(0.005, 0.03) * w)
    right = w - (ax_w if s.axis in ("right", "both") else int(rng.uniform(0.005, 0.03) * w))
    bottom = h - (int(fs * 2.2) if s.time_axis else int(rng.uniform(0.01, 0.03) * h))
    vol_top = bottom
    if s.volume == "pane":
        vol_top = bottom - int(rng.uniform(0.14, 0.25) * (bottom - top))
        d.line([(0, vol_top - 3), (w, vol_top - 3)], fill=_mix(s.bg, s.fg, 0.35), width=2)
    price_bottom = vol_top - 6 if s.volume == "pane" else bottom

    o, hi, lo, c = (path.ohlc[:, i] for i in range(4))
    n = len(c)
    pmin, pmax = float(lo.min()), float(hi.max())
    span = pmax - pmin
    pad_t, pad_b = rng.uniform(0.04, 0.2), rng.uniform(0.04, 0.2)
    if s.volume == "overlay":
        pad_b += 0.2
    pmin, pmax = pmin - pad_b * span, pmax + pad_t * span

    def py(v: np.ndarray | float) -> np.ndarray:
        return top + (pmax - np.asarray(v)) / (pmax - pmin) * (price_bottom - top)

    dx = (right - left) / (n + s.right_pad * n + 0.5)
    xs = left + (np.arange(n) + 0.5) * dx
    ticks = _ticks(pmin, pmax, int(rng.integers(5, 11)))
    step = float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    dotted = s.grid_mode == "dotted"
    if s.grid_mode != "none":
        for t in ticks:
            _hline(d, left, right, float(py(t)), s.grid, dotted)
        for i in range(0, n, max(1, n // int(rng.integers(4, 9)))):
            _vline(d, float(xs[i]), top, bottom, s.grid, dotted)
    if s.watermark:
        wm = _font(int(h / 7))
        d.text(
            (w * rng.uniform(0.2, 0.4), h * rng.uniform(0.3, 0.5)),
            str(rng.choice(_SYMBOLS)),
            fill=_mix(s.bg, s.fg, 0.12),
            font=wm,
        )
    vol = path.volume
    if s.volume != "none":
        vh = (bottom - vol_top) if s.volume == "pane" else 0.18 * (bottom - top)
        vb = bottom
        vy = vb - vol / vol.max() * vh * 0.95
        alpha = 0.35 if s.volume == "overlay" else 0.7
        for i in range(n):
            col = _mix(s.bg, s.up if c[i] >= o[i] else s.down, alpha)
            d.rectangle(
                [xs[i] - dx * s.body_frac / 2, vy[i], xs[i] + dx * s.body_frac / 2, vb], fill=col
            )
    if s.bollinger and n > 20:
        mid = _sma(c, 20)
        sd = np.array([c[max(0, i - 19) : i + 1].std() for i in range(n)])
        ok = ~np.isnan(mid)
        upper = py(mid + 2 * sd)
        lower = py(mid - 2 * sd)
        poly = [(float(x), float(y)) for x, y in zip(xs[ok], upper[ok], strict=True)]
        poly += [(float(x), float(y)) for x, y in zip(xs[ok][::-1], lower[ok][::-1], strict=True)]
        band = _jit(rng, (100, 120, 200))
        d.polygon(poly, fill=_mix(s.bg, band, 0.15))
        d.line(poly[: int(ok.sum())], fill=_mix(s.bg, band, 0.6))
        d.line(poly[int(ok.sum()) :], fill=_mix(s.bg, band, 0.6))
    _draw_bars(d, s, xs, dx, py(o), py(hi), py(lo), py(c), c >= o, float(py(pmin)))
    for col in s.ma_colors:
        p = int(rng.integers(5, 60))
        if p < n:
            ma = _sma(c, p) if rng.random() < 0.5 else _ema(c, p)
            ok = ~np.isnan(ma)
            d.line(
                list(zip(xs[ok].tolist(), py(ma[ok]).tolist(), strict=True)),
                fill=col,
                width=s.line_w,
            )
    last_y = float(py(c[-1]))
    if s.last_price:
        col = s.up if c[-1] >= o[-1] else s.down
        _hline(d, left, right, last_y, col, True)
    if s.crosshair:
        cx, cy = rng.uniform(left, right), rng.uniform(top, price_bottom)
        _hline(d, left, right, cy, _mix(s.bg, s.fg, 0.5), True)
        _vline(d, cx, top, bottom, _mix(s.bg, s.fg, 0.5), True)
    for side in ("left", "right"):
        if s.axis not in (side, "both"):
            continue
        x_ax = left if side == "left" else right
        d.line([(x_ax, top), (x_ax, bottom)], fill=_mix(s.bg, s.fg, 0.3))
        for t in ticks:
            ty = float(py(t))
            if top + fs < ty < price_bottom - fs:
                txt = _fmt(float(t), step)
                tx = x_ax + 6 if side == "right" else x_ax - 6 - d.textlength(txt, font=font)
                d.text((tx, ty - fs / 2), txt, fill=s.fg, font=font)
        if s.last_price:
            col = s.up if c[-1] >= o[-1] else s.down
            tx = x_ax + 2 if side == "right" else 2
            d.rectangle([tx, last_y - fs * 0.7, tx + ax_w - 4, last_y + fs * 0.7], fill=col)
            d.text((tx + 3, last_y - fs / 2), _fmt(float(c[-1]), step), fill=s.bg, font=font)
    if s.time_axis:
        k = int(rng.integers(1, 28))
        for j, i in enumerate(range(0, n, max(1, n // int(rng.integers(4, 9))))):
            d.text(
                (float(xs[i]) - fs, bottom + fs * 0.4),
                f"{(k + j * 3) % 28 + 1:02d}",
                fill=s.fg,
                font=font,
            )
    if s.legend:
        sym = str(rng.choice(_SYMBOLS))
        d.text(
            (left + 8, top + 4),
            f"{sym} · {rng.choice(['1m', '5m', '1h', '4h', '1D'])}  "
            f"O {_fmt(float(o[-1]), step)} H {_fmt(float(hi[-1]), step)} "
            f"L {_fmt(float(lo[-1]), step)} C {_fmt(float(c[-1]), step)}",
            fill=s.fg,
            font=font,
        )
    return _finish(rng, img, s, int(xs[-1] + dx))


def _ema(x: np.ndarray, p: int) -> np.ndarray:
    a = 2.0 / (p + 1)
    out = np.empty(len(x))
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = a * x[i] + (1 - a) * out[i - 1]
    out[: p // 2] = np.nan
    return out


def _draw_bars(
    d: ImageDraw.ImageDraw,
    s: Spec,
    xs: np.ndarray,
    dx: float,
    yo: np.ndarray,
    yh: np.ndarray,
    yl: np.ndarray,
    yc: np.ndarray,
    up: np.ndarray,
    y_floor: float,
) -> None:
    half = max(dx * s.body_frac / 2, 0.5)
    lw = s.line_w
    if s.kind in ("line", "area"):
        pts = list(zip(xs.tolist(), yc.tolist(), strict=True))
        if s.kind == "area":
            d.polygon(
                [*pts, (float(xs[-1]), y_floor), (float(xs[0]), y_floor)],
                fill=_mix(s.bg, s.up, 0.25),
            )
        d.line(pts, fill=s.up, width=max(lw, 2))
        return
    for i in range(len(xs)):
        col = s.up if up[i] else s.down
        x = float(xs[i])
        top_b, bot_b = sorted((float(yo[i]), float(yc[i])))
        bot_b = max(bot_b, top_b + 1)
        if s.kind in ("ohlc", "hlc"):
            d.line([(x, yh[i]), (x, yl[i])], fill=col, width=lw)
            if s.kind == "ohlc":
                d.line([(x - half, yo[i]), (x, yo[i])], fill=col, width=lw)
            d.line([(x, yc[i]), (x + half, yc[i])], fill=col, width=lw)
            continue
        d.line([(x, yh[i]), (x, yl[i])], fill=col, width=1)
        box = [x - half, top_b, x + half, bot_b]
        if s.kind == "candle" or (s.kind == "hollow" and not up[i]):
            d.rectangle(box, fill=col)
        elif s.kind == "hollow":
            d.rectangle(box, fill=s.bg, outline=col)
        else:  # outlined: light fill, dark outline
            d.rectangle(
                box, fill=_mix(col, (255, 255, 255), 0.35), outline=_mix(col, (0, 0, 0), 0.45)
            )


def _finish(rng: np.random.Generator, img: Image.Image, s: Spec, last_x: int) -> Image.Image:
    """Random screenshot crop (never cutting the last bar) and optional JPEG re-encoding."""
    w, h = img.size
    if rng.random() < 0.5:
        x0 = int(rng.uniform(0, 0.06) * w)
        y0 = int(rng.uniform(0, 0.05) * h)
        x1 = w - int(rng.uniform(0, 1) * max(0, w - last_x - 2))
        y1 = h - int(rng.uniform(0, 0.05) * h)
        img = img.crop((x0, y0, max(x1, last_x + 2), y1))
    if s.jpeg is not None:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=s.jpeg)
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img
