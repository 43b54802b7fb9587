"""Which version of each desk model is the champion, and how good it measured.

The desk runs three models: the chart-pattern CNN (``chart_cnn``), news sentiment
(``news_sentiment``) and the signal ensemble (``signal_ensemble``). A model's champion is
the version its MLflow ``champion`` alias names (:mod:`tradelake.ml.model_registry`, what
``tradelake model list`` reads). The CNN and sentiment model also ship inside the package and
serve until a trained version is promoted, so when the registry has no champion for them the
shipped one is reported, with the held-out metrics it was built with (the same numbers as its
model card). The signal ensemble ships no model: without a champion it has none, and says how
to train one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tradelake.ml.model_registry import CHAMPION, VersionInfo

DESK_MODELS = ("chart_cnn", "news_sentiment", "signal_ensemble")
HOW_TO_TRAIN = {
    "chart_cnn": "tradelake vision train",
    "news_sentiment": "tradelake sentiment train",
    "signal_ensemble": "tradelake model train signal",
}
Source = Literal["registry", "shipped", "none"]


@dataclass(frozen=True)
class Shipped:
    """A model packaged with tradelake: its version and held-out metrics."""

    version: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class Champion:
    """One model's champion: ``source`` says where it comes from (``none``: no model)."""

    model: str
    version: str | None
    source: Source
    metrics: dict[str, float] = field(default_factory=dict)
    created_ms: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def champions(versions: Sequence[VersionInfo], shipped: Mapping[str, Shipped]) -> list[Champion]:
    """One row per desk model, then per other registered model, in that order."""
    names = list(DESK_MODELS) + sorted({v.name for v in versions} - set(DESK_MODELS))
    out = []
    for name in names:
        crowned = [v for v in versions if v.name == name and CHAMPION in v.aliases]
        how = HOW_TO_TRAIN.get(name, "its training job")
        if crowned:
            v = crowned[0]
            note = f"{name}@{CHAMPION} in the MLflow registry"
            out.append(Champion(name, v.version, "registry", v.metrics, v.created_ms, note))
        elif name in shipped:
            pack = shipped[name]
            note = f"shipped with tradelake (no {name}@{CHAMPION} yet; `{how}` registers one)"
            out.append(Champion(name, pack.version, "shipped", pack.metrics, None, note))
        else:
            out.append(Champion(name, None, "none", note=f"no model yet; train one with `{how}`"))
    return out


def heldout_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``heldout_macro_f1`` and ``heldout_accuracy`` of a shipped model's metrics (its
    ``heldout`` block), named as the registry tags them."""
    heldout = metrics.get("heldout") or {}
    return {
        f"heldout_{key}": float(heldout[key])
        for key in ("macro_f1", "accuracy")
        if isinstance(heldout.get(key), int | float)
    }
