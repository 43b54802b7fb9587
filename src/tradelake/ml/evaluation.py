"""Classification metrics as pure functions: confusion matrix, per-class P/R/F1, macro-F1, ECE.

Shared by training (:mod:`tradelake.ml.train_vision`) and ``tradelake vision evaluate``, so a
desk's check on its own screenshots and the model card report the same numbers.

Conventions (those of scikit-learn, which the tests compare against):

* the confusion matrix has true classes in rows and predicted classes in columns;
* a class's precision (recall) is 0 when nothing was predicted as (labelled) it;
* macro-F1 averages the F1 of every class that occurs in the labels *or* the predictions, so
  predicting a class the set does not contain costs F1 rather than being ignored;
* ECE (expected calibration error) is the top-label version: over ``bins`` equal-width bins
  of the top-class probability, the size-weighted mean of |accuracy - mean confidence|.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def confusion_matrix(
    y_true: Sequence[int] | IntArray, y_pred: Sequence[int] | IntArray, n_classes: int
) -> IntArray:
    """``cm[i, j]``: how many samples of true class ``i`` were predicted as ``j``."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def precision_recall_f1(cm: IntArray) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """Per-class precision, recall, F1 and support (true count) of a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(0), cm.sum(1)
    prec = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    rec = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = prec + rec
    f1 = np.divide(2 * prec * rec, denom, out=np.zeros_like(tp), where=denom > 0)
    return prec, rec, f1, support.astype(np.int64)


def macro_f1(cm: IntArray) -> float:
    """Mean F1 over the classes that occur in the labels or the predictions (0.0 if none)."""
    _, _, f1, _ = precision_recall_f1(cm)
    seen = (cm.sum(0) + cm.sum(1)) > 0
    return float(f1[seen].mean()) if seen.any() else 0.0


def accuracy(cm: IntArray) -> float:
    total = int(cm.sum())
    return float(np.trace(cm) / total) if total else 0.0


def expected_calibration_error(
    probs: NDArray[np.float64], labels: NDArray[np.int64], bins: int = 15
) -> float:
    """Top-label ECE: mean |accuracy - confidence| over equal-width confidence bins."""
    probs = np.asarray(probs, np.float64)
    if len(probs) == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class EvaluationReport:
    """Everything ``tradelake vision evaluate`` prints; ``confusion`` rows are true classes."""

    classes: tuple[str, ...]
    n: int
    accuracy: float
    macro_f1: float
    ece: float
    per_class: tuple[ClassMetrics, ...]
    confusion: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "ece": round(self.ece, 4),
            "per_class": [
                {
                    "class": m.name,
                    "precision": round(m.precision, 4),
                    "recall": round(m.recall, 4),
                    "f1": round(m.f1, 4),
                    "support": m.support,
                }
                for m in self.per_class
            ],
            "classes": list(self.classes),
            "confusion": self.confusion,
        }


def evaluate(
    y_true: Sequence[int] | IntArray, probs: FloatArray, classes: Sequence[str], bins: int = 15
) -> EvaluationReport:
    """The report for true class indices ``y_true`` and class probabilities ``probs`` (n, k);
    the prediction is the top-probability class."""
    probs = np.asarray(probs, np.float64).reshape(-1, len(classes))
    y = np.asarray(y_true, np.int64)
    pred = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)
    cm = confusion_matrix(y, pred, len(classes))
    prec, rec, f1, support = precision_recall_f1(cm)
    return EvaluationReport(
        classes=tuple(classes),
        n=len(y),
        accuracy=accuracy(cm),
        macro_f1=macro_f1(cm),
        ece=expected_calibration_error(probs, y, bins),
        per_class=tuple(
            ClassMetrics(c, float(prec[i]), float(rec[i]), float(f1[i]), int(support[i]))
            for i, c in enumerate(classes)
        ),
        confusion=cm.tolist(),
    )
