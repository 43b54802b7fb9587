"""``[[screens]]`` and ``[ensemble]``: what the signal ensemble reads from ``tradelake.toml``.

``[[screens]]`` entries (``device``, ``instrument``) say which instrument root each stream
device shows, so a chart signal joins the trades of that root. ``[ensemble]`` holds the
walk-forward settings, the option underlying per root, the label (``label = "pnl"``, the
round trip's net P&L > 0, or ``"triple_barrier"`` with ``profit_take_bps``, ``stop_bps`` and
``horizon_minutes``, see :mod:`tradelake.features.barriers`), and how often
``tradelake serve`` checks ``signal_ensemble@champion`` for a move. A malformed entry stops
with a ConfigError that names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tradelake.config import Settings
from tradelake.errors import ConfigError
from tradelake.features.barriers import Barriers
from tradelake.instruments import parse_symbol

LABELS = ("pnl", "triple_barrier")


@dataclass(frozen=True)
class EnsembleSettings:
    """What the signal ensemble's jobs read: device -> root, root -> option underlying, the
    walk-forward folds and embargo, and serve's alias poll period."""

    devices: Mapping[str, str] = field(default_factory=dict)
    underlyings: Mapping[str, str] = field(default_factory=dict)
    folds: int = 5
    embargo: timedelta = timedelta(hours=1)
    poll_s: float = 1.0
    label: str = "pnl"
    barriers: Barriers = field(default_factory=Barriers)


def ensemble_settings(settings: Settings) -> EnsembleSettings:
    """The checked ``[[screens]]`` and ``[ensemble]`` of ``settings``."""
    section: Mapping[str, Any] = settings.raw.get("ensemble", {}) or {}
    underlyings = section.get("underlyings", {}) or {}
    if not isinstance(underlyings, Mapping) or not all(
        isinstance(v, str) and v for v in underlyings.values()
    ):
        raise ConfigError(
            '[ensemble] underlyings must map roots to option underlyings, e.g. { MES = "SPX" }'
        )
    label = section.get("label", "pnl")
    if label not in LABELS:
        raise ConfigError(f'[ensemble] label = {label!r} must be "pnl" or "triple_barrier"')
    return EnsembleSettings(
        devices=screen_roots(settings.raw.get("screens", []) or []),
        underlyings={str(k): str(v) for k, v in underlyings.items()},
        folds=_number(section, "folds", 5, int, minimum=1),
        embargo=timedelta(minutes=_number(section, "embargo_minutes", 60, float, minimum=0)),
        poll_s=_number(section, "poll_s", 1.0, float, minimum=0.05),
        label=str(label),
        barriers=Barriers(
            profit_take_bps=_number(section, "profit_take_bps", 20.0, float, minimum=0.01),
            stop_bps=_number(section, "stop_bps", 20.0, float, minimum=0.01),
            horizon=timedelta(minutes=_number(section, "horizon_minutes", 60, float, minimum=1)),
        ),
    )


def screen_roots(entries: list[Any]) -> dict[str, str]:
    """``[[screens]]`` as device -> instrument root (an ATAS name such as ``MESZ5@CME``
    is reduced to its root ``MES``)."""
    out: dict[str, str] = {}
    for i, entry in enumerate(entries):
        device = entry.get("device") if isinstance(entry, Mapping) else None
        instrument = entry.get("instrument") if isinstance(entry, Mapping) else None
        if not isinstance(device, str) or not device or not isinstance(instrument, str):
            raise ConfigError(
                f"[[screens]] entry {i + 1} needs device and instrument, e.g. "
                'device = "desk1", instrument = "MES"'
            )
        out[device] = _root(instrument.strip())
    return out


def _root(instrument: str) -> str:
    try:
        return parse_symbol(instrument).root
    except ValueError:
        raise ConfigError(
            f"[[screens]] instrument = {instrument!r} is not a root or ATAS instrument name "
            "(MES, MESZ5@CME)"
        ) from None


def _number(
    section: Mapping[str, Any], key: str, default: Any, kind: type, *, minimum: float
) -> Any:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"[ensemble] {key} = {value!r} must be a number >= {minimum:g}")
    return kind(value)
