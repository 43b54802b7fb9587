"""``vega``: Vega-Lite specifications rasterised by vl-convert (Vega's JS runtime, no browser).

A third drawing stack with its own conventions: Vega's layout engine, axis and tick
algorithms, fonts and anti-aliasing, and the vega-themes palettes (``dark``, ``excel``,
``fivethirtyeight``, ``ggplot2``, ``latimes``, ``carbon*`` ...). Candles are a rule (wick)
plus a bar (body), OHLC bars are three rules, volume is a layered bar chart on its own scale
(overlay) or a vconcat sub-chart (pane), as are RSI/MACD panes. Both price axes are one layer
with an independent axis on a shared domain.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from tradelake.ml.charts import PricePath
from tradelake.ml.renderers.base import (
    ScreenLayout,
    bar_times,
    date_format,
    fmt_price,
    indicator_lines,
    price_at,
    sma,
    x_limits,
)

_DARK_THEMES = ("dark", "carbong90", "carbong100", None)
_LIGHT_THEMES = (
    "excel",
    "fivethirtyeight",
    "ggplot2",
    "googlecharts",
    "latimes",
    "powerbi",
    "quartz",
    "urbaninstitute",
    "vox",
    "carbonwhite",
    "carbong10",
    None,
)
_PALETTES = (
    ("#26a69a", "#ef5350"),
    ("#22ab94", "#f7525f"),
    ("#2ca02c", "#d62728"),
    ("#1f77b4", "#ff7f0e"),
    ("#00c853", "#ff1744"),
    ("#3d85c6", "#cc0000"),
)


def _ms(t: Any) -> float:
    return float(t.timestamp() * 1000.0)


class VegaRenderer:
    """A Vega-Lite spec per chart, rendered to PNG by ``vl_convert.vegalite_to_png``."""

    name = "vega"

    def render(
        self, path: PricePath, rng: np.random.Generator, layout: ScreenLayout
    ) -> Image.Image:
        import vl_convert as vlc

        spec, _ = self.spec(path, rng, layout)
        theme = spec.pop("_theme")
        png = (
            vlc.vegalite_to_png(spec, scale=1.0, theme=theme)
            if theme
            else (vlc.vegalite_to_png(spec, scale=1.0))
        )
        img = Image.open(io.BytesIO(png)).convert("RGB")
        # Vega sizes the plot area, not the whole view: fit the few pixels of axes and title.
        if img.size != (layout.width, layout.height):
            img = img.resize((layout.width, layout.height), Image.Resampling.BILINEAR)
        return img

    def spec(
        self, path: PricePath, rng: np.random.Generator, layout: ScreenLayout
    ) -> tuple[dict[str, Any], str]:
        """The Vega-Lite spec (with a ``_theme`` key to pop) and its background colour."""
        o, h, lo, c = (path.ohlc[:, k] for k in range(4))
        n = len(c)
        times = bar_times(layout, n)
        dt = layout.bar_delta.total_seconds() * 1000.0
        t = np.array([_ms(x) for x in times])
        half = float(rng.uniform(0.25, 0.42)) * dt
        up_c, down_c = _PALETTES[int(rng.integers(0, len(_PALETTES)))]
        theme = _DARK_THEMES if layout.dark else _LIGHT_THEMES
        theme_name = theme[int(rng.integers(0, len(theme)))]
        if layout.dark:
            v = int(rng.integers(10, 40))
            bg = f"#{v:02x}{v + int(rng.integers(0, 8)):02x}{v + int(rng.integers(0, 14)):02x}"
            fg, grid = "#c8ccd4", "#363a45"
        else:
            v = int(rng.integers(238, 256))
            bg = f"#{v:02x}{v:02x}{min(255, v + int(rng.integers(0, 6))):02x}"
            fg, grid = "#30343c", "#e3e6ec"
        rows: list[dict[str, Any]] = []
        mas = {p: sma(c, p) for p in layout.moving_averages}
        for i in range(n):
            row = {
                "t": t[i],
                "x0": t[i] - half,
                "x1": t[i] + half,
                "o": o[i],
                "h": h[i],
                "l": lo[i],
                "c": c[i],
                "v": float(path.volume[i]),
                "zero": 0.0,
                "up": bool(c[i] >= o[i]),
            }
            for period, ma in mas.items():
                row[f"ma{period}"] = None if np.isnan(ma[i]) else float(ma[i])
            rows.append(row)
        xlo, xhi = x_limits(n, layout.right_margin)
        x_dom = [t[0] + (xlo - 0.0) * dt, t[0] + xhi * dt]
        span = float(h.max() - lo.min())
        y_dom = [
            float(lo.min() - rng.uniform(0.02, 0.12) * span),
            float(h.max() + rng.uniform(0.02, 0.12) * span),
        ]
        if layout.volume == "overlay":
            y_dom[0] -= 0.15 * span
        fmt = date_format(rng, layout)
        font = int(rng.integers(10, 15))
        x_axis: dict[str, Any] = {
            "format": fmt,
            "title": None,
            "labels": layout.time_labels,
            "grid": layout.grid,
            "tickCount": int(rng.integers(4, 10)),
        }
        x_enc: dict[str, Any] = {
            "field": "t",
            "type": "temporal",
            "scale": {"domain": x_dom},
            "axis": x_axis,
        }
        y_scale = {"domain": y_dom, "zero": False, "nice": False}
        color = {"condition": {"test": "datum.up", "value": up_c}, "value": down_c}
        layers: list[dict[str, Any]] = []
        y_axis = {
            "orient": "left" if layout.price_axis == "left" else "right",
            "title": None,
            "grid": layout.grid,
            "format": ",.2f" if span > 1 else ",.4f",
            "tickCount": int(rng.integers(5, 12)),
        }
        y_enc = {"type": "quantitative", "scale": y_scale, "axis": y_axis}
        if layout.bar_style == "line":
            layers.append(
                {
                    "mark": {
                        "type": "line",
                        "color": up_c,
                        "strokeWidth": float(rng.uniform(1, 2.5)),
                    },
                    "encoding": {"x": x_enc, "y": {"field": "c", **y_enc}},
                }
            )
        else:
            layers.append(
                {
                    "mark": {"type": "rule", "strokeWidth": 1},
                    "encoding": {
                        "x": x_enc,
                        "y": {"field": "l", **y_enc},
                        "y2": {"field": "h"},
                        "color": color,
                    },
                }
            )
            if layout.bar_style == "ohlc":
                for xa, xb, f in (("x0", "t", "o"), ("t", "x1", "c")):
                    layers.append(
                        {
                            "mark": {"type": "rule", "strokeWidth": float(rng.uniform(1, 2))},
                            "encoding": {
                                "x": {"field": xa, "type": "temporal"},
                                "x2": {"field": xb},
                                "y": {"field": f, "type": "quantitative"},
                                "color": color,
                            },
                        }
                    )
            else:
                body: dict[str, Any] = {"type": "bar", "strokeWidth": 1}
                enc: dict[str, Any] = {
                    "x": {"field": "x0", "type": "temporal"},
                    "x2": {"field": "x1"},
                    "y": {"field": "o", "type": "quantitative"},
                    "y2": {"field": "c"},
                    "stroke": color,
                    "fill": color,
                }
                if layout.bar_style == "hollow":
                    enc["fill"] = {"condition": {"test": "datum.up", "value": bg}, "value": down_c}
                layers.append({"mark": body, "encoding": enc})
        ma_colors = ["#f5a623", "#2962ff", "#e040fb", "#00bcd4"]
        for j, period in enumerate(layout.moving_averages):
            layers.append(
                {
                    "mark": {"type": "line", "color": ma_colors[j % 4], "strokeWidth": 1.2},
                    "encoding": {
                        "x": {"field": "t", "type": "temporal"},
                        "y": {"field": f"ma{period}", "type": "quantitative"},
                    },
                }
            )
        for frac in layout.order_lines:
            p = price_at(path, frac)
            col = str(rng.choice(["#2962ff", "#f23645", "#089981", "#ff9800"]))
            layers.append(
                {
                    "mark": {
                        "type": "rule",
                        "color": col,
                        "strokeDash": [6, 4] if rng.random() < 0.5 else [1, 0],
                    },
                    "encoding": {"y": {"datum": p, "type": "quantitative"}},
                }
            )
            layers.append(
                {
                    "mark": {
                        "type": "text",
                        "align": "left",
                        "dy": -7,
                        "color": col,
                        "fontSize": font,
                        "text": f"{rng.choice(['LMT', 'STP', 'TP', 'SL'])}"
                        f" {int(rng.integers(1, 10))} @ {fmt_price(p)}",
                        "x": float(rng.uniform(10, 200)),
                    },
                    "encoding": {"y": {"datum": p, "type": "quantitative"}},
                }
            )
        if layout.last_price_tag:
            col = up_c if c[-1] >= o[-1] else down_c
            layers.append(
                {
                    "mark": {"type": "rule", "color": col, "strokeDash": [2, 2]},
                    "encoding": {"y": {"datum": float(c[-1]), "type": "quantitative"}},
                }
            )
        if layout.crosshair is not None:
            fx, fy = layout.crosshair
            dash = [4, 4] if layout.crosshair_dashed else [1, 0]
            xc = x_dom[0] + fx * (x_dom[1] - x_dom[0])
            yc = y_dom[0] + fy * (y_dom[1] - y_dom[0])
            layers.append(
                {
                    "mark": {"type": "rule", "color": "#8a8f9c", "strokeDash": dash},
                    "encoding": {"x": {"datum": xc, "type": "temporal"}},
                }
            )
            layers.append(
                {
                    "mark": {"type": "rule", "color": "#8a8f9c", "strokeDash": dash},
                    "encoding": {"y": {"datum": yc, "type": "quantitative"}},
                }
            )
        if layout.watermark:
            layers.append(
                {
                    "mark": {
                        "type": "text",
                        "text": layout.symbol,
                        "fontSize": 64,
                        "color": _blend(bg, fg, 0.1),
                        "x": {"expr": "width / 2"},
                        "y": {"expr": "height / 2"},
                    }
                }
            )
        for layer in layers:  # a mark with no field would be drawn once per data row
            if not any("field" in e for e in layer.get("encoding", {}).values()):
                layer["data"] = {"values": [{}]}
        price: dict[str, Any] = {"layer": layers}
        resolve_y: list[dict[str, Any]] = []
        if layout.price_axis == "both":
            resolve_y.append(
                {
                    "mark": {"type": "rule", "opacity": 0},
                    "encoding": {
                        "y": {
                            "field": "c",
                            "type": "quantitative",
                            "scale": y_scale,
                            "axis": {**y_axis, "orient": "left", "grid": False},
                        }
                    },
                }
            )
        if layout.volume == "overlay":
            resolve_y.append(
                {
                    "mark": {"type": "bar", "opacity": 0.35},
                    "encoding": {
                        "x": {"field": "x0", "type": "temporal"},
                        "x2": {"field": "x1"},
                        "y2": {"field": "zero"},
                        "y": {
                            "field": "v",
                            "type": "quantitative",
                            "axis": None,
                            "scale": {
                                "domain": [0, float(path.volume.max() * rng.uniform(3.5, 6))]
                            },
                        },
                        "color": color,
                    },
                }
            )
        if resolve_y:
            price = {
                "layer": [price, *resolve_y],
                "resolve": {"scale": {"y": "independent"}, "axis": {"y": "independent"}},
            }
        axis_w = 70 * (2 if layout.price_axis == "both" else 1)
        width = max(200, layout.width - axis_w - 30)
        sub: list[dict[str, Any]] = []
        sub_h = 0
        small_x = {**x_enc, "axis": {**x_axis, "labels": False}}
        if layout.volume == "pane":
            hh = int(layout.height * rng.uniform(0.12, 0.2))
            sub_h += hh + 10
            sub.append(
                {
                    "height": hh,
                    "width": width,
                    "mark": {"type": "bar"},
                    "encoding": {
                        "x": {
                            "field": "x0",
                            "type": "temporal",
                            "scale": {"domain": x_dom},
                            "axis": small_x["axis"],
                        },
                        "x2": {"field": "x1"},
                        "y2": {"field": "zero"},
                        "y": {
                            "field": "v",
                            "type": "quantitative",
                            "title": None,
                            "axis": {"orient": y_axis["orient"], "tickCount": 3},
                        },
                        "color": color,
                        "opacity": {"value": 0.8},
                    },
                }
            )
        if layout.indicator != "none":
            hh = int(layout.height * rng.uniform(0.12, 0.2))
            sub_h += hh + 10
            lines = indicator_lines(c, layout.indicator)
            ind_rows = [
                {
                    "t": t[i],
                    **{
                        f"k{j}": (None if np.isnan(ln[i]) else float(ln[i]))
                        for j, ln in enumerate(lines)
                    },
                }
                for i in range(n)
            ]
            sub.append(
                {
                    "height": hh,
                    "width": width,
                    "data": {"values": ind_rows},
                    "layer": [
                        {
                            "mark": {
                                "type": "line",
                                "color": ["#7e57c2", "#ff9800"][j],
                                "strokeWidth": 1.2,
                            },
                            "encoding": {
                                "x": small_x,
                                "y": {
                                    "field": f"k{j}",
                                    "type": "quantitative",
                                    "title": layout.indicator.upper(),
                                    "axis": {"orient": y_axis["orient"], "tickCount": 3},
                                },
                            },
                        }
                        for j in range(len(lines))
                    ],
                }
            )
        title_h = 30 if layout.legend else 0
        pad = int(rng.integers(4, 16))
        price_h = max(
            150, layout.height - sub_h - (40 if layout.time_labels else 20) - title_h - 2 * pad
        )
        price.update({"height": price_h, "width": width})
        if sub:
            if layout.time_labels:  # dates under the bottom pane only, as terminals do
                price_axis_off = {**x_enc, "axis": {**x_axis, "labels": False}}
                _replace_x(price, price_axis_off)
                _replace_x(sub[-1], x_enc)
            body_spec: dict[str, Any] = {"vconcat": [price, *sub], "spacing": 4}
        else:
            body_spec = price
        spec: dict[str, Any] = {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "data": {"values": rows},
            "background": bg,
            "padding": pad,
            "config": {
                "view": {"stroke": grid if rng.random() < 0.5 else None},
                "axis": {
                    "labelColor": fg,
                    "gridColor": grid,
                    "domainColor": grid,
                    "tickColor": grid,
                    "labelFontSize": font,
                    "gridDash": [2, 3] if rng.random() < 0.3 else [],
                },
                "font": str(rng.choice(["sans-serif", "monospace", "serif"])),
            },
            **body_spec,
        }
        if layout.legend:
            spec["title"] = {
                "text": f"{layout.symbol} · {layout.timeframe}   O {fmt_price(o[-1])}  "
                f"H {fmt_price(h[-1])}  L {fmt_price(lo[-1])}  C {fmt_price(c[-1])}",
                "anchor": "start",
                "color": fg,
                "fontSize": font + 1,
                "fontWeight": "normal",
            }
        spec["_theme"] = theme_name
        return spec, bg


def _replace_x(view: dict[str, Any], x_enc: dict[str, Any]) -> None:
    """Set the first layer's x encoding (the one that owns the shared x axis)."""
    node = view
    while "layer" in node:
        node = node["layer"][0]
    if "encoding" in node:
        node["encoding"]["x"] = x_enc


def _blend(a: str, b: str, t: float) -> str:
    """Hex colour ``t`` of the way from ``a`` to ``b`` (resvg ignores text opacity here)."""
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{int(x + (y - x) * t):02x}" for x, y in zip(ca, cb, strict=True))
