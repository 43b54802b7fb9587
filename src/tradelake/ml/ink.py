"""The ink map: a chart screenshot reduced to "how far is each pixel from the background".

A chart model fed RGB pixels learns the palette, line widths and fonts of the software that
drew its training data (issue 11: macro-F1 0.48 on software it never saw). A pattern is a
*shape* of the price trace, so the model input drops what differs between charting programs
and keeps the shape: each pixel's largest channel distance from the screen's background
colour, area-averaged down to the model input. Dark and light themes, green/red or
black/white candles, and anti-aliasing all map onto the same grey scale: strong strokes
(candles, bars, lines) are bright, faint grid lines dim, and empty background zero.

The map is what :mod:`tradelake.ml.sketch` draws directly for training, so a training chart
needs no drawing stack at all.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageChops

#: (height, width) of the ink map the current chart model reads.
INK_SIZE: tuple[int, int] = (96, 256)

#: Square-root tone curve: a 1-px wick area-averaged over 6 screen pixels keeps ~40 % of a
#: solid stroke's brightness instead of ~16 %, so thin strokes survive the downscale.
_TONE = (np.sqrt(np.arange(256) / 255.0) * 255.0 + 0.5).astype(np.uint8)


def background_colour(rgb: NDArray[np.uint8]) -> NDArray[np.int16]:
    """The most common colour of ``rgb`` (quantised to 5 bits per channel, then averaged).

    The border colour is not used: window chrome and toolbars often frame the chart in
    another colour than the plot's own background, which covers most of a screenshot.
    """
    step = max(1, max(rgb.shape[:2]) // 200)
    view = rgb[::step, ::step].reshape(-1, 3)
    q = (view >> 3).astype(np.int32)
    codes = (q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2]
    top = int(np.bincount(codes, minlength=1 << 15).argmax())
    return view[codes == top].mean(axis=0).round().astype(np.int16)


def ink_of(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Per-pixel largest channel distance (0-255) from the background colour."""
    return np.asarray(_ink_image(Image.fromarray(rgb)))


def _ink_image(img: Image.Image) -> Image.Image:
    """:func:`ink_of` on a PIL RGB image, in Pillow's C loops (about 10x numpy's int16 path)."""
    bg = background_colour(np.asarray(img))
    diff = ImageChops.difference(img, Image.new("RGB", img.size, tuple(int(v) for v in bg)))
    r, g, b = diff.split()
    return ImageChops.lighter(ImageChops.lighter(r, g), b)


def ink_map(img: Image.Image, size: tuple[int, int] = INK_SIZE) -> NDArray[np.uint8]:
    """RGB screenshot -> uint8 ink map ``(height, width)`` of the trimmed chart.

    Steps: integer box reduction to at least 1.5x ``size`` (cheap), trim uniform borders,
    ink relative to the background colour, area (box) resize to ``size``, tone curve.
    """
    from tradelake.ml.vision import _trim_box, reduce_factor

    th, tw = size
    factor = reduce_factor(img.size, size, 1.0)
    small = img.reduce(factor) if factor > 1 else img
    ink = _ink_image(small.crop(_trim_box(small)))
    out = ink.resize((tw, th), Image.Resampling.BOX)
    return _TONE[np.asarray(out, dtype=np.uint8)]
