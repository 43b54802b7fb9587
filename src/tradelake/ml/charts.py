"""Synthetic labelled price paths for the chart-pattern classifier, and their geometric checks.

A sample is a random-walk lead-in followed by a pattern that *completes on the last bars*
(the neckline or flag channel is broken 0-3 bars before the right edge); the pattern covers
20-70 % of the bars and the lead-in trends either way (:class:`Geometry`). Labels are not trusted
by construction alone: every generated path is re-checked with :func:`detect_patterns`,
a rule-based detector that works on the closes only, and is kept only when the detector
finds exactly its label (or nothing, for ``none``). Tests use the same detector, so the
ground truth is the geometric definition, not the generator's intent.

All geometry works on log prices, so "x %" tolerances are differences of logs and a
pattern's height is independent of the price level. The screenshot itself is drawn by
:mod:`tradelake.ml.rendering`; :func:`generate_chart` ties both together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from PIL import Image

CLASSES: tuple[str, ...] = (
    "double_top",
    "double_bottom",
    "head_and_shoulders",
    "inverse_head_and_shoulders",
    "bull_flag",
    "bear_flag",
    "none",
)
#: Label of the vertically mirrored chart: a flipped double top is a double bottom.
MIRROR: dict[str, str] = {
    "double_top": "double_bottom",
    "double_bottom": "double_top",
    "head_and_shoulders": "inverse_head_and_shoulders",
    "inverse_head_and_shoulders": "head_and_shoulders",
    "bull_flag": "bear_flag",
    "bear_flag": "bull_flag",
    "none": "none",
}
#: A completed pattern's first close beyond its neckline/channel is within this many bars:
#: the breakout bar is 0-3 bars before the right edge, as on a screen captured just after it.
RECENT_BARS = 4

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PricePath:
    """Ground truth of one sample: OHLC (n, 4) in price units, volume, and pattern pivots.

    ``pivots`` maps names such as ``"peak1"``/``"trough"``/``"head"`` to bar indices of the
    generated pattern (empty for most ``none`` samples).
    """

    label: str
    ohlc: FloatArray
    volume: FloatArray
    pivots: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ChartSample:
    """A rendered screenshot plus its ground truth and the renderer style that drew it."""

    image: Image.Image
    path: PricePath
    style: str

    @property
    def label(self) -> str:
        return self.path.label


# --------------------------------------------------------------------------- detection


def zigzag(x: FloatArray, threshold: float) -> list[tuple[int, float, int]]:
    """Alternating swing pivots ``(index, value, +1 high / -1 low)`` of ``x``.

    A swing is confirmed once price reverses by ``threshold``; the last pivot is the
    running extreme since the last confirmed one (provisional, usually the last bar).
    """
    n = len(x)
    if n < 2:
        return []
    hi_i = lo_i = 0
    trend = 0
    pivots: list[tuple[int, float, int]] = []
    ext = 0
    for i in range(1, n):
        v = x[i]
        if trend == 0:
            if v > x[hi_i]:
                hi_i = i
            if v < x[lo_i]:
                lo_i = i
            if x[hi_i] - x[lo_i] >= threshold:
                if hi_i > lo_i:
                    pivots.append((lo_i, float(x[lo_i]), -1))
                    trend, ext = 1, hi_i
                else:
                    pivots.append((hi_i, float(x[hi_i]), 1))
                    trend, ext = -1, lo_i
        elif trend == 1:
            if v > x[ext]:
                ext = i
            elif x[ext] - v >= threshold:
                pivots.append((ext, float(x[ext]), 1))
                trend, ext = -1, i
        else:
            if v < x[ext]:
                ext = i
            elif v - x[ext] >= threshold:
                pivots.append((ext, float(x[ext]), -1))
                trend, ext = 1, i
    if trend != 0:
        pivots.append((ext, float(x[ext]), trend))
    return pivots


def _first_cross(x: FloatArray, start: int, level: FloatArray | float, below: bool) -> int:
    """Index of the first close after ``start`` beyond ``level`` (len(x) if none)."""
    seg = x[start + 1 :]
    lv = level[start + 1 :] if isinstance(level, np.ndarray) else level
    hit = seg < lv if below else seg > lv
    idx = np.flatnonzero(hit)
    return start + 1 + int(idx[0]) if idx.size else len(x)


def _double_top(x: FloatArray, piv: list[tuple[int, float, int]], min_h: float) -> bool:
    if len(piv) < 5 or piv[-1][2] != -1:
        return False
    (_, t0, _), (i1, p1, _), (_it, t1, _), (i2, p2, _), _ = piv[-5:]
    depth = max(p1, p2) - t1
    n = len(x)
    if depth < min_h or abs(p1 - p2) > 0.12 * depth or i2 - i1 < 4:
        return False
    if p1 - t0 < 0.7 * depth or x[-1] > t1 - 0.03 * depth:
        return False
    return _first_cross(x, i2, t1, below=True) >= n - RECENT_BARS


def _head_shoulders(x: FloatArray, piv: list[tuple[int, float, int]], min_h: float) -> bool:
    if len(piv) < 7 or piv[-1][2] != -1:
        return False
    (_, t0, _), (_, ls, _), (in1, n1, _), (_, hd, _), (in2, n2, _), (irs, rs, _), _ = piv[-7:]
    h = hd - 0.5 * (n1 + n2)
    if h < min_h or hd - max(ls, rs) < 0.18 * h or abs(ls - rs) > 0.3 * h:
        return False
    if min(ls, rs) - max(n1, n2) < 0.15 * h or abs(n1 - n2) > 0.35 * h or ls - t0 < 0.3 * h:
        return False
    n = len(x)
    neck = n1 + (n2 - n1) * (np.arange(n) - in1) / max(in2 - in1, 1)
    if x[-1] > neck[-1] - 0.03 * h:
        return False
    return _first_cross(x, irs, neck, below=True) >= n - RECENT_BARS


def _bull_flag(x: FloatArray, min_h: float) -> bool:
    n = len(x)
    for k in range(1, RECENT_BARS + 1):  # bars since the breakout
        for f in range(5, 41):  # flag (consolidation) length
            s = n - k - f
            if s < 4:
                break
            flag = x[s : n - k]
            top, flag_hi = x[s], float(flag.max())
            post = x[n - k :]
            if post.min() <= flag_hi:
                continue
            retrace = top - float(flag.min())
            t = np.arange(f) - (f - 1) / 2.0
            slope = float(t @ (flag - flag.mean()) / (t @ t))
            for p in range(3, 26):
                b = s - p
                if b < 0:
                    break
                pole = top - x[b]
                if pole < min_h or x[b] > x[b : s + 1].min() + 1e-12:
                    continue
                if flag_hi > top + 0.1 * pole or not 0.08 * pole <= retrace <= 0.5 * pole:
                    continue
                if slope > 0.1 * pole / f or pole / p < 2.0 * abs(slope):
                    continue
                if float(np.mean(np.diff(x[b : s + 1]) > 0)) < 0.6:
                    continue
                return True
    return False


def detect_patterns(ohlc: FloatArray) -> set[str]:
    """Patterns (from :data:`CLASSES`, never ``none``) that complete on the last bars.

    Works on log closes. A pattern must be visible: its height at least 12 % of the
    chart's log-price range and 5 robust noise sigmas. Swing pivots are tried at several
    zigzag thresholds and windows, so a pattern is found whatever the surrounding noise.

    * double top: two peaks within 12 % of the pattern depth, separated by >= 4 bars and
      a trough, a prior rise of >= 70 % of the depth, and the first close below the trough
      within the last ``RECENT_BARS`` bars (the mirror for double bottom);
    * head and shoulders: head >= 18 % of the height above both shoulders, shoulders
      within 30 %, both >= 15 % above the neckline, neckline slope bounded, and the first
      close below the (sloped) neckline within the last ``RECENT_BARS`` bars;
    * bull flag: a steep, mostly rising pole of 3-25 bars, a 5-40 bar consolidation that
      retraces 8-50 % of it without rising, then closes above the consolidation's high on
      the last 1-``RECENT_BARS`` bars (mirrored for the bear flag).
    """
    close = np.log(np.asarray(ohlc, dtype=np.float64)[:, 3])
    found: set[str] = set()
    n = len(close)
    if n < 12:
        return found
    sigma = 1.4826 * float(np.median(np.abs(np.diff(close)))) + 1e-12
    min_h = max(0.12 * float(np.ptp(close)), 5.0 * sigma)
    for sign, (dt, hs, flag) in (
        (1.0, ("double_top", "head_and_shoulders", "bear_flag")),
        (-1.0, ("double_bottom", "inverse_head_and_shoulders", "bull_flag")),
    ):
        x = sign * close  # tops on x are tops on price for sign=+1, bottoms for sign=-1
        for w in sorted({min(n, 50), min(n, 90), n}):
            xw = x[n - w :]
            r = float(np.ptp(xw))
            for frac in (0.1, 0.16, 0.24, 0.34):
                piv = zigzag(xw, frac * r)
                if dt not in found and _double_top(xw, piv, min_h):
                    found.add(dt)
                if hs not in found and _head_shoulders(xw, piv, min_h):
                    found.add(hs)
        if _bull_flag(-x, min_h):  # bull flag on -x is a bear flag on the price
            found.add(flag)
    return found


# --------------------------------------------------------------------------- generation


def _bridge(
    rng: np.random.Generator,
    knots_x: list[int],
    knots_y: list[float],
    sigma: float,
) -> FloatArray:
    """Piecewise-linear path through the knots plus Brownian-bridge noise pinned at knots."""
    xs = np.arange(knots_x[-1] + 1)
    base = np.interp(xs, knots_x, knots_y)
    noise = np.zeros_like(base)
    for a, b in itertools.pairwise(knots_x):
        m = b - a
        if m < 2:
            continue
        walk = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sigma, m))])
        noise[a : b + 1] = walk - np.linspace(0.0, 1.0, m + 1) * walk[-1]
    return base + noise


def _spaced(rng: np.random.Generator, length: int, fracs: list[tuple[float, float]]) -> list[int]:
    """Increasing integer positions in [0, length) drawn from per-knot fraction ranges."""
    out: list[int] = []
    for lo, hi in fracs:
        v = round(rng.uniform(lo, hi) * (length - 1))
        out.append(max(v, out[-1] + 2) if out else v)
    return out


@dataclass(frozen=True)
class Geometry:
    """Where a pattern sits on the chart, and how long it may be.

    ``span`` is the share of the chart's bars the pattern covers, drawn uniformly; real
    screens show a head and shoulders over the last 40 % of the chart as often as over the
    last 15 %, and a model that only ever saw narrow patterns calls a wide one ``none``
    (issue 11). ``breakout_bars`` bounds how many bars the break may lie before the right
    edge (at most :data:`RECENT_BARS`). ``lead_in_move`` bounds the net move, in pattern
    heights, of the random-walk lead-in before the pattern, in either direction.
    ``legacy`` reproduces the original generator (patterns over at most 65 % of the bars,
    a rising lead-in into tops, the break on the last 1-2 bars), which the shipped model's
    held-out-style figures were measured on.
    """

    span: tuple[float, float] = (0.2, 0.7)
    breakout_bars: int = RECENT_BARS
    lead_in_move: float = 2.5
    bars: tuple[int, int] = (30, 300)
    legacy: bool = False


SCREEN_GEOMETRY = Geometry()
LEGACY_GEOMETRY = Geometry(span=(0.0, 0.65), breakout_bars=2, bars=(60, 220), legacy=True)


def _tail_break(
    rng: np.random.Generator,
    xs: list[int],
    ys: list[float],
    level: float,
    below: bool,
    h: float,
    geo: Geometry,
) -> None:
    """Append knots that approach ``level`` and cross it only on the last bars."""
    k = int(rng.integers(1, geo.breakout_bars + 1))
    last = xs[-1]
    end = last + int(rng.integers(3, 9)) + k
    sgn = -1.0 if below else 1.0
    xs += [end - k, end]
    ys += [level - sgn * rng.uniform(0.03, 0.12) * h, level + sgn * rng.uniform(0.1, 0.35) * h]


def _pattern(
    rng: np.random.Generator, label: str, h: float, geo: Geometry = SCREEN_GEOMETRY
) -> tuple[list[int], list[float], dict[str, int]]:
    """Knots (bar offsets, log-price offsets) of a *top-side* pattern of height ``h``."""
    wide = not geo.legacy
    if label == "double_top":
        length = int(rng.integers(16, 90) if wide else rng.integers(18, 55))
        d = rng.uniform(0.45, 1.0) * h
        xs = [0, *_spaced(rng, length, [(0.2, 0.35), (0.45, 0.6), (0.75, 0.9)])]
        ys = [h - d - rng.uniform(0.2, 0.6) * h, h, h - d, h + rng.uniform(-0.04, 0.04) * d]
        _tail_break(rng, xs, ys, h - d, True, d, geo)
        return xs, ys, {"start": 0, "peak1": xs[1], "trough": xs[2], "peak2": xs[3]}
    if label == "head_and_shoulders":
        length = int(rng.integers(24, 110) if wide else rng.integers(28, 70))
        neck = rng.uniform(0.2, 0.4) * h
        s1 = rng.uniform(0.62, 0.76) * h
        s2 = s1 + rng.uniform(-0.06, 0.06) * h
        knots = [(0.12, 0.2), (0.28, 0.36), (0.45, 0.55), (0.63, 0.7), (0.78, 0.88)]
        xs = [0, *_spaced(rng, length, knots)]
        n1, n2 = neck + rng.uniform(-0.04, 0.04) * h, neck + rng.uniform(-0.04, 0.04) * h
        ys = [rng.uniform(-0.2, 0.1) * h, s1, n1, h, n2, s2]
        _tail_break(rng, xs, ys, min(n1, n2), True, h - neck, geo)
        return (
            xs,
            ys,
            {
                "start": 0,
                "left_shoulder": xs[1],
                "neck1": xs[2],
                "head": xs[3],
                "neck2": xs[4],
                "right_shoulder": xs[5],
            },
        )
    if label == "bear_flag":
        pole = int(rng.integers(4, 20) if wide else rng.integers(4, 11))
        flag = min(pole + int(rng.integers(3, 21 if wide else 13)), 36)
        retr = rng.uniform(0.15, 0.4) * h
        xs = [0, pole, pole + flag]
        ys = [h, 0.0, retr]
        k = int(rng.integers(1, geo.breakout_bars + 1))
        xs += [pole + flag + k]
        ys += [-rng.uniform(0.08, 0.25) * h]
        return xs, ys, {"pole_start": 0, "flag_start": pole, "breakout": pole + flag + 1}
    raise ValueError(f"no template for {label!r}")


_TOP_SIDE = {
    "double_top": ("double_top", 1.0),
    "double_bottom": ("double_top", -1.0),
    "head_and_shoulders": ("head_and_shoulders", 1.0),
    "inverse_head_and_shoulders": ("head_and_shoulders", -1.0),
    "bear_flag": ("bear_flag", 1.0),
    "bull_flag": ("bear_flag", -1.0),
}


def _flag_channel(rng: np.random.Generator, y: FloatArray, piv: dict[str, int], h: float) -> None:
    """Give a flag a wiggly channel instead of a straight drift (in place)."""
    a, b = piv["flag_start"], piv["breakout"] - 1
    m = b - a
    if m > 3:
        amp = rng.uniform(0.04, 0.1) * h
        period = rng.uniform(3.0, 7.0)
        y[a + 1 : b] += amp * np.sin(2 * np.pi * np.arange(1, m) / period)


def _ohlc(
    rng: np.random.Generator,
    logc: FloatArray,
    sigma: float,
    price0: float,
) -> tuple[FloatArray, FloatArray]:
    close = price0 * np.exp(logc - logc[-1])
    n = len(close)
    gap = rng.normal(0.0, 0.25 * sigma, n)
    open_ = np.empty(n)
    open_[0] = close[0] * np.exp(gap[0])
    open_[1:] = close[:-1] * np.exp(gap[1:])
    wick = np.abs(rng.normal(0.0, rng.uniform(0.3, 1.0) * sigma, (2, n)))
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    body = np.abs(np.diff(np.concatenate([[logc[0]], logc])))
    volume = rng.lognormal(0.0, 0.35, n) * (1.0 + 8.0 * body / (body.mean() + 1e-12))
    return np.stack([open_, high, low, close], axis=1), volume


def _none_core(rng: np.random.Generator, h: float, geo: Geometry) -> tuple[list[int], list[float]]:
    """Knots for a hard negative: a pattern cut before its break, or broken long ago."""
    kind = rng.choice(["truncated", "old", "failed", "range"])
    label = str(rng.choice(list(_TOP_SIDE)))
    base, sign = _TOP_SIDE[label]
    xs, ys, _ = _pattern(rng, base, h, geo)
    ys = [sign * v for v in ys]
    if kind == "truncated":
        cut = int(rng.integers(max(2, len(xs) - 3), len(xs)))
        return xs[:cut], ys[:cut]
    if kind == "failed":
        xs.append(xs[-1] + int(rng.integers(2, 5)))
        ys.append(ys[-3])
        return xs, ys
    if kind == "old":
        x, y = xs[-1], ys[-1]
        for _ in range(int(rng.integers(2, 4))):
            x += int(rng.integers(5, 14))
            y += rng.uniform(-0.5, 0.5) * h
            xs.append(x)
            ys.append(y)
        return xs, ys
    width = int(rng.integers(25, 70))
    pts = np.sort(rng.choice(np.arange(3, width), size=4, replace=False)).tolist()
    return [0, *pts, width], [rng.uniform(-0.4, 0.4) * h for _ in range(6)]


def _bar_count(rng: np.random.Generator, core: int, label: str, geo: Geometry) -> int:
    """Bars on the chart so that the pattern's ``core`` bars cover ``geo.span`` of them."""
    lo, hi = geo.bars
    if label == "none" and core <= 2:  # a plain random walk: any zoom
        return int(rng.integers(lo, hi))
    share = rng.uniform(*geo.span)
    return max(core + 1, min(hi, max(lo, round(core / share))))


def _lead_in(
    rng: np.random.Generator, label: str, n_pre: int, h: float, sigma: float, geo: Geometry
) -> FloatArray:
    """Random-walk steps before the pattern (summed backwards from its first bar)."""
    if geo.legacy:
        drift = rng.uniform(0.0, 0.012) * h
        if label in ("double_bottom", "inverse_head_and_shoulders"):
            drift = -drift
        elif label not in ("double_top", "head_and_shoulders"):
            drift = rng.normal(0.0, 0.006) * h
    else:  # any direction: a trend into the pattern, against it, or flat
        drift = rng.uniform(-geo.lead_in_move, geo.lead_in_move) * h / max(n_pre, 1)
    return rng.normal(drift, sigma * rng.uniform(1.0, 1.8), n_pre)


def generate_path(
    rng: np.random.Generator,
    label: str,
    max_tries: int = 200,
    geometry: Geometry = SCREEN_GEOMETRY,
) -> PricePath:
    """Draw a price path whose right edge shows ``label``, verified by :func:`detect_patterns`.

    ``geometry`` places the pattern (see :class:`Geometry`); the default varies it like real
    screens. Raises ``RuntimeError`` if no valid path is found in ``max_tries`` (never seen
    in practice: acceptance rates are 20-90 % depending on the class).
    """
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}; expected one of {CLASSES}")
    geo = geometry
    for _ in range(max_tries):
        if geo.legacy:
            n_bars = int(rng.integers(*geo.bars))  # drawn first, as the shipped model's data
        h = rng.uniform(0.06, 0.3)
        sigma = h * rng.uniform(0.02, 0.055)
        pivots: dict[str, int] = {}
        if label == "none":
            if rng.random() < 0.55:
                xs, ys = _none_core(rng, h, geo)
            else:
                xs, ys = [0, 1], [0.0, rng.normal(0.0, sigma)]
            sign = 1.0
        else:
            base, sign = _TOP_SIDE[label]
            xs, ys, pivots = _pattern(rng, base, h, geo)
        core = sign * _bridge(rng, xs, ys, sigma * (0.45 if "flag" in label else 0.8))
        if label in ("bull_flag", "bear_flag"):
            _flag_channel(rng, core, pivots, sign * h)
        if geo.legacy:
            n_bars = max(n_bars, int(len(core) / 0.65) + 1)
        else:
            n_bars = _bar_count(rng, len(core), label, geo)
        n_pre = n_bars - len(core)
        steps = _lead_in(rng, label, n_pre, h, sigma, geo)
        pre = core[0] - np.cumsum(steps[::-1])[::-1]
        logc = np.concatenate([pre, core])
        ohlc, vol = _ohlc(rng, logc, sigma, float(np.exp(rng.uniform(0.0, 8.0))))
        found = detect_patterns(ohlc)
        if (label == "none" and not found) or found == {label}:
            shifted = {k: v + n_pre for k, v in pivots.items()}
            return PricePath(label=label, ohlc=ohlc, volume=vol, pivots=shifted)
    raise RuntimeError(f"could not generate a valid {label!r} path in {max_tries} tries")


def generate_chart(
    rng: np.random.Generator,
    label: str,
    style: str | None = None,
    geometry: Geometry = SCREEN_GEOMETRY,
) -> ChartSample:
    """A rendered screenshot of a verified ``label`` path in ``style`` (random training style
    if None; see :data:`tradelake.ml.rendering.TRAIN_STYLES` / ``HELD_OUT_STYLE``)."""
    from tradelake.ml.rendering import TRAIN_STYLES, render

    path = generate_path(rng, label, geometry=geometry)
    name = style if style is not None else str(rng.choice(TRAIN_STYLES))
    return ChartSample(image=render(rng, path, name), path=path, style=name)
