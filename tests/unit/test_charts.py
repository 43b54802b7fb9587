"""The synthetic chart generator: labels match the geometric pattern definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tradelake.ml.charts import (
    CLASSES,
    LEGACY_GEOMETRY,
    MIRROR,
    RECENT_BARS,
    SCREEN_GEOMETRY,
    PricePath,
    detect_patterns,
    generate_chart,
    generate_path,
    zigzag,
)
from tradelake.ml.rendering import ALL_STYLES, HELD_OUT_STYLE, TRAIN_STYLES

SEEDS = range(6)


def _close(p: PricePath) -> np.ndarray:
    return np.log(p.ohlc[:, 3])


def _check_pivots(p: PricePath) -> None:
    """Check the generator's own pivots against the textbook definition, on the path."""
    c = _close(p)
    n = len(c)
    v = {k: c[i] for k, i in p.pivots.items()}
    lab = p.label
    sign = -1.0 if lab in ("double_bottom", "inverse_head_and_shoulders", "bull_flag") else 1.0
    s = {k: sign * x for k, x in v.items()}  # fold bottoms onto tops
    last = sign * c[-1]
    if lab in ("double_top", "double_bottom"):
        depth = max(s["peak1"], s["peak2"]) - s["trough"]
        assert depth > 0.02
        assert abs(s["peak1"] - s["peak2"]) <= 0.15 * depth  # peaks within tolerance
        assert s["trough"] <= min(s["peak1"], s["peak2"]) - 0.3 * depth
        assert last < s["trough"]  # closed through the neckline at the right edge
        assert p.pivots["peak2"] - p.pivots["peak1"] >= 4
    elif lab in ("head_and_shoulders", "inverse_head_and_shoulders"):
        neck = 0.5 * (s["neck1"] + s["neck2"])
        h = s["head"] - neck
        assert h > 0.02
        assert s["head"] > s["left_shoulder"] + 0.1 * h
        assert s["head"] > s["right_shoulder"] + 0.1 * h
        assert abs(s["left_shoulder"] - s["right_shoulder"]) <= 0.3 * h
        assert min(s["left_shoulder"], s["right_shoulder"]) > max(s["neck1"], s["neck2"])
        assert last < min(s["neck1"], s["neck2"])
    elif lab in ("bull_flag", "bear_flag"):
        # Folded to a bear flag: pole falls, consolidation retraces part of it, breaks lower.
        pole = s["pole_start"] - s["flag_start"]
        assert pole > 0.02
        flag = sign * c[p.pivots["flag_start"] : n - 1]
        retrace = float(flag.max()) - s["flag_start"]
        assert 0.0 < retrace <= 0.55 * pole
        assert last < flag.min()
    else:
        raise AssertionError(lab)


@pytest.mark.parametrize("label", CLASSES)
def test_every_class_generates_and_is_geometrically_valid(label: str) -> None:
    for seed in SEEDS:
        p = generate_path(np.random.default_rng(seed), label)
        assert p.label == label
        assert p.ohlc.shape[1] == 4 and len(p.ohlc) >= SCREEN_GEOMETRY.bars[0]
        o, h, lo, c = p.ohlc.T
        assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c))
        assert np.all(lo > 0)
        found = detect_patterns(p.ohlc)
        assert found == (set() if label == "none" else {label})
        if label != "none":
            _check_pivots(p)


@pytest.mark.parametrize("label", [c for c in CLASSES if c != "none"])
def test_mirrored_path_is_the_mirrored_pattern(label: str) -> None:
    p = generate_path(np.random.default_rng(7), label)
    o, h, lo, c = p.ohlc.T
    mirrored = np.stack([1 / o, 1 / lo, 1 / h, 1 / c], axis=1)
    assert detect_patterns(mirrored) == {MIRROR[label]}


def _span(p: PricePath) -> float:
    """Share of the bars from the pattern's first knot to the right edge."""
    return (len(p.ohlc) - min(p.pivots.values())) / len(p.ohlc)


def test_patterns_cover_a_wide_range_of_the_width_and_break_near_the_edge() -> None:
    # Screens show patterns over 20-70 % of the chart; the shipped model only saw <= 65 %
    # with most under 35 %, and called the wide ones `none` (issue 11).
    rng = np.random.default_rng(11)
    spans = [_span(generate_path(rng, lab)) for lab in CLASSES[:-1] for _ in range(12)]
    assert min(spans) >= 0.15 and max(spans) <= 0.75
    assert np.mean(np.array(spans) > 0.45) > 0.25  # wide patterns are common, not rare
    legacy = [_span(generate_path(rng, "double_top", geometry=LEGACY_GEOMETRY)) for _ in range(12)]
    assert max(legacy) <= 0.66


@pytest.mark.parametrize("label", ["double_top", "head_and_shoulders"])
def test_lead_in_trends_either_way(label: str) -> None:
    # The lead-in before a top is not always a rise: the model must not key on it.
    rng = np.random.default_rng(5)
    moves = []
    for _ in range(16):
        p = generate_path(rng, label)
        c = _close(p)
        start = min(p.pivots.values())
        if start > 5:
            moves.append(c[start] - c[0])
    assert min(moves) < 0 < max(moves)


def test_pattern_not_completed_is_not_detected() -> None:
    p = generate_path(np.random.default_rng(3), "double_top")
    # Cut the path before the neckline break: the double top has not completed yet.
    cut = p.ohlc[: p.pivots["peak2"] + 2]
    assert "double_top" not in detect_patterns(cut)


def test_detector_rejects_unequal_peaks() -> None:
    # A clean double top, then the second peak raised far above the first: not a double top.
    t = np.arange(61)
    knots_x, knots_y = [0, 15, 30, 45, 58, 60], [0.0, 0.3, 0.15, 0.3, 0.17, 0.1]
    good = np.exp(np.interp(t, knots_x, knots_y))
    bad = np.exp(np.interp(t, knots_x, [0.0, 0.3, 0.15, 0.45, 0.17, 0.1]))
    as_ohlc = lambda c: np.stack([c, c, c, c], axis=1)  # noqa: E731
    assert detect_patterns(as_ohlc(good)) == {"double_top"}
    assert "double_top" not in detect_patterns(as_ohlc(bad))
    assert detect_patterns(as_ohlc(good[: -RECENT_BARS - 2])) == set()


def test_zigzag_alternates() -> None:
    x = np.sin(np.linspace(0, 6 * np.pi, 200))
    piv = zigzag(x, 0.5)
    kinds = [k for _, _, k in piv]
    assert all(a != b for a, b in itertools.pairwise(kinds))
    assert len(piv) >= 6


@pytest.mark.parametrize("style", ALL_STYLES)
def test_every_style_renders_a_screenshot(style: str) -> None:
    s = generate_chart(np.random.default_rng(11), "head_and_shoulders", style)
    w, h = s.image.size
    assert s.image.mode == "RGB"
    assert 700 <= w <= 1920 and 400 <= h <= 1080
    assert s.style == style and s.label == "head_and_shoulders"
    arr = np.asarray(s.image)
    assert arr.std() > 5  # something was drawn


def test_rendering_is_deterministic_and_held_out_style_is_separate() -> None:
    a = generate_chart(np.random.default_rng(5), "bull_flag")
    b = generate_chart(np.random.default_rng(5), "bull_flag")
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert a.style in TRAIN_STYLES
    assert HELD_OUT_STYLE not in TRAIN_STYLES


def test_unknown_label_and_style_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown label"):
        generate_path(np.random.default_rng(0), "triangle")
    with pytest.raises(ValueError, match="unknown renderer style"):
        generate_chart(np.random.default_rng(0), "none", "excel")
