"""The drawing stacks of ``tradelake.ml.renderers``: RGB screens, deterministic, layout-driven."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tradelake.ml.charts import generate_path
from tradelake.ml.renderers import RENDERERS, get_renderer, render_chart, sample_layout
from tradelake.ml.renderers.base import ScreenLayout, rsi, sma, x_limits


@pytest.fixture(scope="module")
def path():  # type: ignore[no-untyped-def]
    return generate_path(np.random.default_rng(3), "double_top")


def _layout(**kw: object) -> ScreenLayout:
    base = replace(sample_layout(np.random.default_rng(11)), panel=1, jpeg_quality=None)
    return replace(base, **{"width": 640, "height": 400, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderer_draws_rgb_screen_of_the_layout_size(name: str, path) -> None:  # type: ignore[no-untyped-def]
    img = render_chart(name, path, np.random.default_rng(0), _layout())
    assert img.mode == "RGB"
    w, h = img.size
    # Pillow's screenshot crop may trim a few per cent; other stacks draw the exact size.
    assert 0.8 * 640 <= w <= 640 and 0.8 * 400 <= h <= 400
    assert np.asarray(img).std() > 5  # something was drawn, not a blank canvas


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderer_is_deterministic_per_seed_and_layout_changes_the_image(name: str, path) -> None:  # type: ignore[no-untyped-def]
    # the panel crop is stack-independent: exercise it on the cheap stacks only
    layout = _layout(panel=2 if name in ("pillow", "svg") else 1, jpeg_quality=60)
    a = np.asarray(render_chart(name, path, np.random.default_rng(7), layout))
    b = np.asarray(render_chart(name, path, np.random.default_rng(7), layout))
    assert a.shape == b.shape and np.array_equal(a, b)
    light = _layout(dark=False, bar_style="candle", volume="none", indicator="none")
    dark = replace(light, dark=True, bar_style="ohlc", volume="pane", indicator="rsi")
    x = np.asarray(render_chart(name, path, np.random.default_rng(1), light))
    y = np.asarray(render_chart(name, path, np.random.default_rng(1), dark))
    assert x.shape != y.shape or np.abs(x.astype(int) - y.astype(int)).mean() > 3


def test_unknown_renderer_names_the_known_ones(path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"expected one of .*pillow"):
        get_renderer("excel")


def test_panel_crops_one_cell_of_a_multi_chart_screen(path) -> None:  # type: ignore[no-untyped-def]
    layout = _layout(panel=4, width=1200, height=800)
    img = render_chart("pillow", path, np.random.default_rng(2), layout)
    # one cell of a 2x2 grid plus at most 3 % of bleed on each side
    assert 560 <= img.size[0] <= 640 and 360 <= img.size[1] <= 430


def test_svg_chrome_narrows_the_chart_and_draws_the_window(path) -> None:  # type: ignore[no-untyped-def]
    from tradelake.ml.renderers.svg import SvgRenderer

    bare = SvgRenderer().svg(path, np.random.default_rng(5), _layout(chrome=False))
    window = SvgRenderer().svg(path, np.random.default_rng(5), _layout(chrome=True))
    assert "Watchlist" not in bare
    assert any(s in window for s in ("Watchlist", "Pine Editor", "Journal", "<circle"))


def test_x_limits_leave_the_requested_empty_margin() -> None:
    lo, hi = x_limits(100, 0.1)
    assert lo == -0.5 and (hi - 99.5) / (hi - lo) == pytest.approx(0.1)
    assert x_limits(100, 0.0) == (-0.5, 99.5)


def test_indicator_maths() -> None:
    x = np.arange(1.0, 11.0)
    assert np.allclose(sma(x, 3)[2:], x[1:-1])
    assert np.isnan(sma(x, 3)[:2]).all()
    up = rsi(np.arange(1.0, 40.0))
    assert np.allclose(up[14:], 100.0)
    flat_down = rsi(np.arange(40.0, 1.0, -1.0))
    assert np.allclose(flat_down[14:], 0.0, atol=1e-6)


@pytest.mark.slow
def test_render_dataset_is_balanced_and_independent_of_workers() -> None:
    from functools import partial

    from PIL import Image

    from tradelake.ml.charts import CLASSES
    from tradelake.ml.renderers.dataset import render_dataset

    small = partial(Image.Image.resize, size=(64, 48))  # picklable, and no torch to import
    one = render_dataset("pillow", 1, seed=3, transform=small)
    assert [lab for _, lab in one] == list(CLASSES)
    assert all(x.size == (64, 48) for x, _ in one)
    two = render_dataset("pillow", 1, seed=3, workers=2, transform=small)
    assert all(a.tobytes() == b.tobytes() for (a, _), (b, _) in zip(one, two, strict=True))
    raw = render_dataset("pillow", 1, seed=4)
    assert all(img.mode == "RGB" for img, _ in raw)
