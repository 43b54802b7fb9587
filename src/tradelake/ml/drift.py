"""Distribution drift of a model's inputs and outputs: PSI and two-sample Kolmogorov–Smirnov.

Why both: PSI (population stability index) is what model-risk teams read (rule of thumb: < 0.1
stable, 0.1–0.25 moderate, > 0.25 major shift) and is insensitive to sample size; KS has a
p-value but flags trivial shifts on large samples. A feature *breaches* when PSI reaches
``psi_threshold`` or KS is significant (p < ``ks_alpha``) with a statistic of at least
``ks_min_stat``. No drift library installs cleanly with numpy 2 / pandas 3 here
(shared/PITFALLS.md); scipy + numpy suffice.

A *training sample* (:class:`TrainingSample`) is what a model logs when it is trained: a seeded
sample of each feature and of its predictions over the training window, and optionally the SQL
that selects the same columns from the feature store for a recent window (``?`` = the window
start). :mod:`tradelake.jobs.drift` compares the two and records the results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from tradelake.errors import DriftError

PREDICTION = "prediction"
EPS = 1e-4


@dataclass(frozen=True)
class Thresholds:
    """When a feature counts as drifted."""

    psi: float = 0.2
    ks_alpha: float = 0.01
    ks_min_stat: float = 0.1
    min_rows: int = 30


@dataclass(frozen=True)
class FeatureDrift:
    """One feature (or the prediction) compared between the two windows."""

    feature: str
    psi: float
    ks_stat: float
    ks_pvalue: float
    train_n: int
    recent_n: int
    train_mean: float
    recent_mean: float
    breach: bool

    def to_dict(self) -> dict[str, Any]:
        """Fields, NaN (no verdict: too few rows) as None so the JSON is strict."""
        return {
            k: (None if isinstance(v, float) and v != v else v) for k, v in asdict(self).items()
        }


@dataclass
class TrainingSample:
    """A model's logged training-window distributions (see the module doc)."""

    model: str
    version: str
    features: dict[str, list[float]] = field(default_factory=dict)
    prediction: list[float] = field(default_factory=list)
    window: dict[str, Any] = field(default_factory=dict)
    recent_sql: str = ""

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> TrainingSample:
        try:
            raw = json.loads(Path(path).read_text())
            return cls(
                model=str(raw["model"]),
                version=str(raw.get("version", "")),
                features={k: [float(x) for x in v] for k, v in raw.get("features", {}).items()},
                prediction=[float(x) for x in raw.get(PREDICTION, [])],
                window=dict(raw.get("window", {})),
                recent_sql=str(raw.get("recent_sql", "")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DriftError(f"{path} is not a training sample ({exc}); retrain the model") from exc

    def columns(self) -> dict[str, list[float]]:
        """Every compared column: the features, then ``prediction``."""
        out = dict(self.features)
        if self.prediction:
            out[PREDICTION] = self.prediction
        return out


def psi(expected: ArrayLike, actual: ArrayLike, bins: int = 10) -> float:
    """Population stability index over ``bins`` quantile bins of ``expected``.

    Bin edges are the expected sample's quantiles (open-ended outer bins), so each expected
    bin holds about 1/bins of the mass; empty bins get :data:`EPS` so the log stays finite.
    Ties (a discrete feature) collapse to unique edges.
    """
    e = _finite(expected)
    a = _finite(actual)
    if len(e) == 0 or len(a) == 0:
        return float("nan")
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)[1:-1]))
    pe = np.bincount(np.searchsorted(edges, e, side="right"), minlength=len(edges) + 1) / len(e)
    pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
    pe, pa = np.clip(pe, EPS, None), np.clip(pa, EPS, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def compare(
    train: Mapping[str, Sequence[float]],
    recent: Mapping[str, Sequence[float]],
    thresholds: Thresholds | None = None,
) -> list[FeatureDrift]:
    """PSI and KS for every column present in both windows (sorted by name, prediction last)."""
    t = thresholds or Thresholds()
    names = sorted(set(train) & set(recent), key=lambda n: (n == PREDICTION, n))
    if not names:
        raise DriftError(
            f"no column in common between the training sample ({sorted(train)}) and the "
            f"recent window ({sorted(recent)})"
        )
    out: list[FeatureDrift] = []
    for name in names:
        e, a = _finite(train[name]), _finite(recent[name])
        if len(e) == 0 or len(a) < t.min_rows:
            ks_stat, ks_p, value = float("nan"), float("nan"), float("nan")
        else:
            ks = stats.ks_2samp(e, a)
            ks_stat, ks_p, value = float(ks.statistic), float(ks.pvalue), psi(e, a)
        breach = bool(
            value >= t.psi or (ks_p < t.ks_alpha and ks_stat >= t.ks_min_stat)
        )  # NaN compares False: too few rows is no verdict, not a breach
        out.append(
            FeatureDrift(
                feature=name,
                psi=value,
                ks_stat=ks_stat,
                ks_pvalue=ks_p,
                train_n=len(e),
                recent_n=len(a),
                train_mean=float(e.mean()) if len(e) else float("nan"),
                recent_mean=float(a.mean()) if len(a) else float("nan"),
                breach=breach,
            )
        )
    return out


def _finite(values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]
