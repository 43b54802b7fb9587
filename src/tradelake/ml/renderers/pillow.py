"""``pillow``: the project's original renderer (:mod:`tradelake.ml.rendering`) behind the seam.

Its style families (``web``, ``terminal``, ``print``, ``minimal``, ``random``, ``held_out``) keep
their palettes and decorations; the :class:`ScreenLayout` overrides what a :class:`Spec` can
express: size, bar type, right margin, price axis side, time labels, volume pane/overlay, grid,
crosshair and last-price tag. Order lines and indicator panes are not drawn by this stack.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from tradelake.ml.charts import PricePath
from tradelake.ml.renderers.base import ScreenLayout
from tradelake.ml.rendering import ALL_STYLES, render_spec, sample_spec

_KIND = {"candle": "candle", "hollow": "hollow", "ohlc": "ohlc", "line": "line"}


class PillowRenderer:
    """Pillow ``ImageDraw`` drawing, one of the project's style families per chart."""

    name = "pillow"

    def render(
        self, path: PricePath, rng: np.random.Generator, layout: ScreenLayout
    ) -> Image.Image:
        style = str(rng.choice(ALL_STYLES))
        spec = sample_spec(rng, style)
        m = layout.right_margin
        spec = replace(
            spec,
            width=layout.width,
            height=layout.height,
            kind=_KIND[layout.bar_style] if rng.random() < 0.7 else spec.kind,
            right_pad=m / max(1.0 - m, 1e-6),
            axis=layout.price_axis,
            time_axis=layout.time_labels,
            volume=layout.volume,
            grid_mode=spec.grid_mode if layout.grid else "none",
            crosshair=layout.crosshair is not None,
            last_price=layout.last_price_tag,
            jpeg=None,  # render_chart applies the layout's JPEG quality to every stack
        )
        return render_spec(rng, path, spec).convert("RGB")
