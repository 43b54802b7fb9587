"""The ink map (renderer-independent model input) and the sketches the chart model trains on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tradelake.ml.charts import CLASSES, MIRROR, generate_path
from tradelake.ml.ink import INK_SIZE, background_colour, ink_map
from tradelake.ml.renderers import render_chart
from tradelake.ml.sketch import sketch
from tradelake.ml.train_sketch import _MIRROR_IDX, augment_ink, sketch_pool


@pytest.fixture(scope="module")
def screenshot() -> Image.Image:
    rng = np.random.default_rng(3)
    return render_chart("pillow", generate_path(rng, "double_top"), rng)


def test_ink_map_ignores_theme_and_palette(screenshot: Image.Image) -> None:
    """Inverting the colours (dark <-> light theme) or swapping channels (green/red candles
    drawn blue/yellow) leaves the ink map unchanged: the model cannot learn a palette."""
    rgb = np.asarray(screenshot)
    base = ink_map(screenshot)
    inverted = ink_map(Image.fromarray(255 - rgb))
    swapped = ink_map(Image.fromarray(np.ascontiguousarray(rgb[..., ::-1])))
    assert base.shape == INK_SIZE and base.dtype == np.uint8
    for other in (inverted, swapped):
        diff = np.abs(base.astype(int) - other)
        # equal up to the rounding of the background colour (one grey level before the
        # tone curve, which is steep near zero)
        assert diff.mean() < 0.5 and diff.max() <= 20
    assert base.max() > 200 and np.median(base) < 40  # strokes bright, background dark


def test_background_is_the_plot_colour_not_the_border() -> None:
    img = np.full((300, 400, 3), 30, np.uint8)  # dark plot
    img[:, :40] = (200, 200, 210)  # a light tool bar along the left border
    img[:12] = (200, 200, 210)
    assert tuple(background_colour(img)) == (30, 30, 30)


def test_ink_map_keeps_the_shape_of_the_path(screenshot: Image.Image) -> None:
    """The brightest rows of the right half of the map rise where the path rises."""
    m = ink_map(screenshot).astype(float)
    rows = np.arange(m.shape[0])[:, None]
    centre = (m * rows).sum(0) / np.maximum(m.sum(0), 1)
    assert np.isfinite(centre).all()
    # a double top: the right part of the chart sits higher (smaller row) than its far left
    assert centre[-60:-10].mean() < centre[10:40].mean()


def test_sketch_is_deterministic_and_varies() -> None:
    path = generate_path(np.random.default_rng(0), "head_and_shoulders")
    a = sketch(path, np.random.default_rng(1))
    b = sketch(path, np.random.default_rng(1))
    c = sketch(path, np.random.default_rng(2))
    assert a.shape == INK_SIZE and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sketch_draws_the_bars_where_the_prices_are() -> None:
    """With no clutter left to chance, the inked rows of each bar column span its low-high."""
    path = generate_path(np.random.default_rng(4), "bull_flag")
    hits = 0
    for seed in range(8):
        m = sketch(path, np.random.default_rng(seed)).astype(float)
        col = m[:, int(m.shape[1] * 0.5)]
        hits += int((col > 100).any())
    assert hits >= 6  # the middle column holds a bar unless a pane/chrome covers it


def test_sketch_pool_is_balanced_and_reproducible() -> None:
    maps, labels = sketch_pool(14, seed=5)
    again, _ = sketch_pool(14, seed=5)
    assert maps.shape == (14, *INK_SIZE)
    assert np.bincount(labels, minlength=len(CLASSES)).tolist() == [2] * len(CLASSES)
    assert np.array_equal(maps, again)


def test_augment_flips_with_the_mirrored_label() -> None:
    x = torch.zeros((len(CLASSES), *INK_SIZE), dtype=torch.uint8)
    x[:, 10:20, :] = 255  # ink near the top
    y = torch.arange(len(CLASSES))
    out, y2 = augment_ink(x, y, torch.Generator().manual_seed(0))
    assert out.shape == (len(CLASSES), 1, *INK_SIZE)
    for i in range(len(CLASSES)):
        top = float(out[i, 0, : INK_SIZE[0] // 2].mean())
        bottom = float(out[i, 0, INK_SIZE[0] // 2 :].mean())
        flipped = bottom > top
        expected = CLASSES.index(MIRROR[CLASSES[i]]) if flipped else i
        assert int(y2[i]) == expected
    assert int(_MIRROR_IDX[CLASSES.index("double_top")]) == CLASSES.index("double_bottom")
