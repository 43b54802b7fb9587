"""Independent chart-drawing stacks for training and evaluating the chart model.

``RENDERERS`` maps a name to a :class:`~tradelake.ml.renderers.base.Renderer`; adding a stack is
one module plus one line here. :func:`render_chart` samples a
:class:`~tradelake.ml.renderers.base.ScreenLayout` and draws a path with one stack, including
the multi-chart panel crop and JPEG re-encoding that apply to every stack alike.
:func:`render_dataset` and ``python -m tradelake.ml.renderers`` (see :mod:`.dataset`) build
labelled sets from verified :func:`tradelake.ml.charts.generate_path` paths.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tradelake.ml.charts import PricePath
from tradelake.ml.renderers.base import Renderer, ScreenLayout, random_walk_path, sample_layout
from tradelake.ml.renderers.matplotlib import MatplotlibRenderer
from tradelake.ml.renderers.pillow import PillowRenderer
from tradelake.ml.renderers.svg import SvgRenderer
from tradelake.ml.renderers.vega import VegaRenderer

RENDERERS: dict[str, Renderer] = {
    "pillow": PillowRenderer(),
    "matplotlib": MatplotlibRenderer(),
    "vega": VegaRenderer(),
    "svg": SvgRenderer(),
}


def get_renderer(name: str) -> Renderer:
    """The registered renderer ``name``; ``ValueError`` lists the known ones."""
    try:
        return RENDERERS[name]
    except KeyError:
        raise ValueError(
            f"unknown renderer {name!r}; expected one of {', '.join(sorted(RENDERERS))}"
        ) from None


def render_chart(
    name: str,
    path: PricePath,
    rng: np.random.Generator,
    layout: ScreenLayout | None = None,
) -> Image.Image:
    """Draw ``path`` with renderer ``name`` on a sampled (or given) screen layout, RGB."""
    renderer = get_renderer(name)
    layout = sample_layout(rng) if layout is None else layout
    if layout.panel > 1:
        img = _panel(renderer, path, rng, layout)
    else:
        img = renderer.render(path, rng, layout).convert("RGB")
    if layout.jpeg_quality is not None:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=layout.jpeg_quality)
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


def _panel(
    renderer: Renderer, path: PricePath, rng: np.random.Generator, layout: ScreenLayout
) -> Image.Image:
    """Draw a screen of ``layout.panel`` charts and crop the labelled one back out.

    The other cells show unrelated random walks; the crop is the labelled cell plus a sliver
    (0-3 %) of its neighbours and the gap between cells, as a hand-made screenshot would be.
    """
    cols, rows = {2: (2, 1), 3: (3, 1), 4: (2, 2)}[layout.panel]
    if layout.panel == 2 and rng.random() < 0.5:
        cols, rows = 1, 2
    gap = int(rng.integers(1, 6))
    cw, ch = (layout.width - gap * (cols - 1)) // cols, (layout.height - gap * (rows - 1)) // rows
    target = int(rng.integers(0, cols * rows))
    screen = Image.new(
        "RGB", (layout.width, layout.height), (60, 60, 66) if layout.dark else (200, 200, 205)
    )
    cell_layout = layout.resized(cw, ch)
    boxes = []
    for k in range(cols * rows):
        x0, y0 = (k % cols) * (cw + gap), (k // cols) * (ch + gap)
        boxes.append((x0, y0))
        p = path if k == target else random_walk_path(rng)
        img = renderer.render(p, rng, cell_layout).convert("RGB").resize((cw, ch))
        screen.paste(img, (x0, y0))
    x0, y0 = boxes[target]
    bw, bh = int(rng.uniform(0, 0.03) * cw), int(rng.uniform(0, 0.03) * ch)
    box = (
        max(0, x0 - bw),
        max(0, y0 - bh),
        min(layout.width, x0 + cw + int(rng.uniform(0, 0.03) * cw)),
        min(layout.height, y0 + ch + int(rng.uniform(0, 0.03) * ch)),
    )
    return screen.crop(box)


__all__ = [
    "RENDERERS",
    "Renderer",
    "ScreenLayout",
    "get_renderer",
    "render_chart",
    "sample_layout",
]
