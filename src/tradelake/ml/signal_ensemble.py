"""The signal ensemble: a LightGBM meta-labeller answering "take this trade?" at entry.

Input: the point-in-time entry rows of :mod:`tradelake.features.entry_features`; label: the
round trip's net P&L > 0. :func:`train_signal` first measures the model out of sample with
purged walk-forward cross-validation (:mod:`tradelake.ml.walk_forward`), then fits the model it
ships on every row. The fitted model, its feature list and the levels of its categorical
columns are saved together (:meth:`SignalModel.save`: ``model.txt`` + ``meta.json``), so a
scorer builds the same matrix whatever columns a request carries: a missing feature is NaN,
an unseen category is NaN, and LightGBM routes both as missing.

Training is deterministic for a given seed (``deterministic=True``, one thread).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl

from tradelake.errors import ModelError
from tradelake.features.entry_features import CATEGORICAL, feature_columns
from tradelake.ml.walk_forward import FoldMetrics, fold_metrics, purged_splits

MODEL_FILE = "model.txt"
META_FILE = "meta.json"
MIN_ROWS = 40
THRESHOLD = 0.5

PARAMS: dict[str, Any] = {
    "objective": "binary",
    # Small, shrunk trees: a desk has a few thousand noisy outcomes, and a deeper model only
    # memorises them (worse log loss than the no-skill forecast out of sample).
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "deterministic": True,
    # One thread: for the desk's few thousand rows, LightGBM's threading costs more than it
    # gains (10 s instead of 0.4 s per fit on a busy 2-core machine, measured here).
    "num_threads": 1,
    "verbose": -1,
}
ROUNDS = 120


@dataclass
class SignalModel:
    """A fitted booster with the feature order and categorical levels it was trained on."""

    booster: lgb.Booster
    features: list[str]
    categories: dict[str, list[str]]
    info: dict[str, Any] = field(default_factory=dict)

    def matrix(self, rows: pl.DataFrame) -> npt.NDArray[np.float64]:
        """``rows`` as the float matrix the booster expects (see module doc)."""
        return feature_matrix(rows, self.features, self.categories)

    def predict(self, rows: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Probability that each entry's round trip ends with net P&L > 0."""
        if rows.height == 0:
            return np.empty(0)
        out: npt.NDArray[np.float64] = np.asarray(
            self.booster.predict(self.matrix(rows)), dtype=np.float64
        )
        return out

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / MODEL_FILE))
        meta = {"features": self.features, "categories": self.categories, "info": self.info}
        (folder / META_FILE).write_text(json.dumps(meta, indent=1, default=str))
        return folder

    @classmethod
    def load(cls, folder: Path) -> SignalModel:
        try:
            meta = json.loads((folder / META_FILE).read_text())
            booster = lgb.Booster(model_file=str(folder / MODEL_FILE))
        except (OSError, ValueError, lgb.basic.LightGBMError) as exc:
            raise ModelError(
                f"{folder} is not a saved signal model ({exc}); was it written by "
                "SignalModel.save (tradelake model train signal)?"
            ) from exc
        return cls(booster, list(meta["features"]), dict(meta["categories"]), meta.get("info", {}))


def feature_matrix(
    rows: pl.DataFrame, features: Sequence[str], categories: Mapping[str, Sequence[str]]
) -> npt.NDArray[np.float64]:
    """Columns ``features`` of ``rows`` as floats: categoricals as their level's index, a
    missing column or an unseen level as NaN."""
    columns = []
    for name in features:
        if name not in rows.columns:
            columns.append(np.full(rows.height, np.nan))
        elif name in categories:
            codes = {level: float(i) for i, level in enumerate(categories[name])}
            values = rows[name].cast(pl.Utf8).to_list()
            columns.append(np.array([codes.get(v, np.nan) for v in values], dtype=np.float64))
        else:
            series = rows[name].cast(pl.Float64, strict=False).fill_null(np.nan)
            columns.append(series.to_numpy().astype(np.float64))
    if not columns:
        return np.empty((rows.height, 0))
    return np.column_stack(columns)


@dataclass(frozen=True)
class WalkForward:
    """Out-of-sample results: per fold and pooled over every tested entry."""

    folds: list[FoldMetrics]
    pooled: FoldMetrics
    embargo: timedelta

    def to_dict(self) -> dict[str, Any]:
        return {
            "embargo_s": self.embargo.total_seconds(),
            "pooled": self.pooled.to_dict(),
            "folds": [f.to_dict() for f in self.folds],
        }


@dataclass(frozen=True)
class TrainedSignal:
    """The model fitted on every row and how it did out of sample before that."""

    model: SignalModel
    walk_forward: WalkForward
    rows: int


def fit(
    rows: pl.DataFrame, features: Sequence[str], *, seed: int = 0, rounds: int = ROUNDS
) -> SignalModel:
    """Fit LightGBM on ``rows`` (which carry ``label``)."""
    categories = {
        c: sorted(v for v in rows[c].cast(pl.Utf8).unique().to_list() if v is not None)
        for c in features
        if c in CATEGORICAL
    }
    x = feature_matrix(rows, features, categories)
    y = rows["label"].cast(pl.Int64).to_numpy()
    cat_idx = [i for i, c in enumerate(features) if c in categories]
    data = lgb.Dataset(
        x,
        label=y,
        feature_name=list(features),
        categorical_feature=cat_idx or "auto",
        free_raw_data=True,
    )
    leaf = min(PARAMS["min_data_in_leaf"], max(2, rows.height // 10))
    params = {**PARAMS, "seed": seed, "min_data_in_leaf": leaf}
    booster = lgb.train(params, data, num_boost_round=rounds)
    return SignalModel(booster, list(features), categories)


def walk_forward(
    rows: pl.DataFrame,
    features: Sequence[str],
    *,
    folds: int = 5,
    embargo: timedelta = timedelta(hours=1),
    seed: int = 0,
    threshold: float = THRESHOLD,
) -> WalkForward:
    """Purged walk-forward evaluation of :func:`fit` on ``rows`` sorted by entry."""
    # A label is known at close (P&L) or at its barrier touch (triple barrier): purge on that.
    ends = rows["label_end_ts"] if "label_end_ts" in rows.columns else rows["close_ts"]
    splits = purged_splits(rows["open_ts"], ends, folds=folds, embargo=embargo)
    if not splits:
        raise ModelError(
            f"{rows.height} entries leave no walk-forward fold with a closed training set "
            f"(embargo {embargo}); ingest more history or shorten the embargo"
        )
    labels = rows["label"].to_numpy().astype(bool)
    pnl = rows["net_pnl"].to_numpy().astype(np.float64)
    results, tested, probs, priors = [], [], [], []
    for k, split in enumerate(splits, start=1):
        model = fit(rows[split.train], features, seed=seed)
        p = model.predict(rows[split.test])
        prior = np.full(split.test.size, labels[split.train].mean())
        results.append(
            fold_metrics(str(k), labels[split.test], p, pnl[split.test], threshold, prior)
        )
        tested.append(split.test)
        probs.append(p)
        priors.append(prior)
    index = np.concatenate(tested)
    pooled = fold_metrics(
        "all", labels[index], np.concatenate(probs), pnl[index], threshold, np.concatenate(priors)
    )
    return WalkForward(results, pooled, embargo)


def train_signal(
    rows: pl.DataFrame,
    *,
    folds: int = 5,
    embargo: timedelta = timedelta(hours=1),
    seed: int = 0,
) -> TrainedSignal:
    """Walk-forward evaluation, then the model fitted on every row."""
    check_trainable(rows)
    features = feature_columns(rows)
    report = walk_forward(rows, features, folds=folds, embargo=embargo, seed=seed)
    model = fit(rows, features, seed=seed)
    model.info.update(
        {
            "rows": rows.height,
            "trained_from": str(rows["open_ts"].min()),
            "trained_to": str(rows["open_ts"].max()),
            "walk_forward": report.to_dict(),
            "params": {**PARAMS, "rounds": ROUNDS, "seed": seed},
        }
    )
    return TrainedSignal(model, report, rows.height)


def check_trainable(rows: pl.DataFrame) -> None:
    """Refuse (with what to do) too few entries or a single outcome."""
    if rows.height < MIN_ROWS:
        raise ModelError(
            f"only {rows.height} round trips to learn from (need {MIN_ROWS}); ingest more ATAS "
            "history (or run `tradelake demo`) first"
        )
    wins = int(rows["label"].sum())
    if wins in (0, rows.height):
        raise ModelError(
            f"every one of the {rows.height} round trips {'won' if wins else 'lost'}: there is "
            "nothing to tell apart; ingest more history"
        )


def summary_metrics(report: WalkForward) -> dict[str, float]:
    """Flat MLflow metrics of a walk-forward report (pooled, prefixed ``wf_``)."""
    pooled = report.pooled
    out = {
        "wf_log_loss": pooled.log_loss,
        "wf_brier": pooled.brier,
        "wf_pnl_all": pooled.pnl_all,
        "wf_pnl_approved": pooled.pnl_approved,
        "wf_trades": float(pooled.trades),
        "wf_approved": float(pooled.approved),
        "wf_baseline_log_loss": pooled.baseline_log_loss,
        "wf_baseline_brier": pooled.baseline_brier,
    }
    if pooled.auc is not None:
        out["wf_auc"] = pooled.auc
    return out


def beats(new: Mapping[str, float], champion: Mapping[str, float]) -> bool:
    """Promotion rule: higher walk-forward AUC, and log loss no worse (a model that ranks
    better but is miscalibrated would mislead the desk's "take it?" probability)."""
    auc_new, auc_old = new.get("wf_auc"), champion.get("wf_auc")
    if auc_new is None:
        return False
    if auc_old is None:
        return True
    return auc_new > auc_old and new["wf_log_loss"] <= champion.get("wf_log_loss", np.inf)
