"""Purged walk-forward cross-validation and the metrics the signal ensemble is judged by.

Walk-forward: entries sorted by time are cut into ``folds + 1`` consecutive blocks; fold ``k``
tests on block ``k`` and trains only on round trips that had *closed* at least ``embargo``
before the block's first entry. The purge (closed before the test starts) removes training
labels that overlap the test period, whose outcome would otherwise leak; the embargo adds a gap
because features such as the trader's recent results are serially correlated. Every entry of
blocks 1..folds gets exactly one out-of-sample prediction.

Metrics are computed with numpy (no scikit-learn here): ROC AUC by ranks (ties averaged),
log loss with probabilities clipped to [1e-15, 1 - 1e-15], Brier score, the same two for the
no-skill forecast (the training set's win rate), and the P&L of taking only the trades the
model approves (``prob >= threshold``) against taking every trade.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

Floats = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]
EPS = 1e-15


@dataclass(frozen=True)
class Split:
    """One fold: positions (in the time-sorted frame) to train on and to test on."""

    train: Indices
    test: Indices


@dataclass(frozen=True)
class FoldMetrics:
    """Out-of-sample results of one fold (or of all folds pooled, ``fold`` = "all")."""

    fold: str
    trades: int
    approved: int
    base_rate: float
    auc: float | None
    log_loss: float
    brier: float
    pnl_all: float
    pnl_approved: float
    baseline_log_loss: float
    baseline_brier: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def purged_splits(
    open_ts: pl.Series, close_ts: pl.Series, *, folds: int, embargo: timedelta
) -> list[Split]:
    """Walk-forward splits of entries sorted by ``open_ts`` (see module doc).

    A fold whose training set would be empty is skipped, so fewer than ``folds`` may return.
    """
    n = open_ts.len()
    if n == 0:
        return []
    opens = open_ts.dt.epoch("us").to_numpy()
    closes = close_ts.dt.epoch("us").to_numpy()
    if np.any(np.diff(opens) < 0):
        raise ValueError("entries must be sorted by open_ts")
    gap = int(embargo.total_seconds() * 1_000_000)
    bounds = np.linspace(0, n, folds + 2).astype(np.int64)
    splits = []
    for k in range(1, folds + 1):
        start, stop = int(bounds[k]), int(bounds[k + 1])
        if stop <= start:
            continue
        first_entry = opens[start]
        train = np.flatnonzero((np.arange(n) < start) & (closes + gap <= first_entry))
        if train.size:
            splits.append(Split(train.astype(np.int64), np.arange(start, stop, dtype=np.int64)))
    return splits


def roc_auc(labels: npt.NDArray[np.bool_], scores: Floats) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks); None with one class."""
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    # Average the ranks of tied scores.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def log_loss(labels: npt.NDArray[np.bool_], probs: Floats) -> float:
    p = np.clip(probs, EPS, 1 - EPS)
    return float(-np.mean(np.where(labels, np.log(p), np.log(1 - p))))


def brier(labels: npt.NDArray[np.bool_], probs: Floats) -> float:
    return float(np.mean((probs - labels.astype(np.float64)) ** 2))


def fold_metrics(
    fold: str,
    labels: npt.NDArray[np.bool_],
    probs: Floats,
    pnl: Floats,
    threshold: float,
    prior: Floats | None = None,
) -> FoldMetrics:
    """Metrics of out-of-sample ``probs`` against ``labels`` and the trades' net P&L.

    ``prior`` is the no-skill forecast per entry (its training set's win rate); its log loss
    and Brier score are the bar a model must clear to be worth anything. Default: 0.5.
    """
    approved = probs >= threshold
    prior = np.full(labels.size, 0.5) if prior is None else prior
    return FoldMetrics(
        fold=fold,
        trades=int(labels.size),
        approved=int(approved.sum()),
        base_rate=float(labels.mean()) if labels.size else 0.0,
        auc=roc_auc(labels, probs),
        log_loss=log_loss(labels, probs),
        brier=brier(labels, probs),
        pnl_all=float(pnl.sum()),
        pnl_approved=float(pnl[approved].sum()),
        baseline_log_loss=log_loss(labels, prior),
        baseline_brier=brier(labels, prior),
    )
