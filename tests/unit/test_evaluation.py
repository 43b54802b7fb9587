"""The metric maths of ``tradelake.ml.evaluation`` against hand-computed values and sklearn."""

from __future__ import annotations

import numpy as np
import pytest

from tradelake.ml.evaluation import (
    confusion_matrix,
    evaluate,
    expected_calibration_error,
    macro_f1,
    precision_recall_f1,
)

CLASSES = ("a", "b", "c")
# true:  a a a b b c
# pred:  a a b b c c
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_matrix_rows_are_true_classes() -> None:
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_precision_recall_f1_by_hand() -> None:
    prec, rec, f1, support = precision_recall_f1(confusion_matrix(Y_TRUE, Y_PRED, 3))
    # a: P 2/2 R 2/3; b: P 1/2 R 1/2; c: P 1/2 R 1/1
    assert prec == pytest.approx([1.0, 0.5, 0.5])
    assert rec == pytest.approx([2 / 3, 0.5, 1.0])
    assert f1 == pytest.approx([0.8, 0.5, 2 / 3])
    assert support.tolist() == [3, 2, 1]


def test_macro_f1_counts_a_predicted_but_absent_class() -> None:
    # class 2 never occurs but is predicted once: its F1 of 0 is averaged in
    cm = confusion_matrix([0, 0, 1, 1], [0, 2, 1, 1], 3)
    assert macro_f1(cm) == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    # a class neither labelled nor predicted is left out
    cm = confusion_matrix([0, 1], [0, 1], 3)
    assert macro_f1(cm) == 1.0


def test_ece_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins (0.8667, 0.9333]: conf 0.9, acc 0.5 -> 2/4 * 0.4; (0.5333, 0.6]: 0.6 vs 1 -> 1/4 * 0.4;
    # (0.6667, 0.7333]: 0.7 vs 1 -> 1/4 * 0.3
    assert expected_calibration_error(probs, labels) == pytest.approx(0.2 + 0.1 + 0.075)
    assert expected_calibration_error(np.zeros((0, 2)), np.zeros(0, np.int64)) == 0.0


def test_evaluate_report() -> None:
    probs = np.eye(3)[Y_PRED] * 0.8 + 0.2 / 3
    rep = evaluate(Y_TRUE, probs, CLASSES)
    assert rep.n == 6 and rep.accuracy == pytest.approx(4 / 6)
    assert rep.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert [m.support for m in rep.per_class] == [3, 2, 1]
    d = rep.to_dict()
    assert d["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert d["per_class"][0] == {
        "class": "a",
        "precision": 1.0,
        "recall": 0.6667,
        "f1": 0.8,
        "support": 3,
    }
    # every prediction has confidence 0.8667 and 4/6 are right
    assert rep.ece == pytest.approx(abs(0.8 + 0.2 / 3 - 4 / 6))


def test_matches_sklearn_on_random_predictions() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 500)
    logits = rng.normal(size=(500, 7)) + 1.5 * np.eye(7)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pred = probs.argmax(1)
    rep = evaluate(y, probs, [str(i) for i in range(7)])
    assert rep.confusion == metrics.confusion_matrix(y, pred, labels=range(7)).tolist()
    assert rep.macro_f1 == pytest.approx(metrics.f1_score(y, pred, average="macro"))
    assert rep.accuracy == pytest.approx(metrics.accuracy_score(y, pred))
    p, r, f, s = metrics.precision_recall_fscore_support(y, pred, labels=range(7), zero_division=0)
    assert [m.precision for m in rep.per_class] == pytest.approx(p)
    assert [m.recall for m in rep.per_class] == pytest.approx(r)
    assert [m.f1 for m in rep.per_class] == pytest.approx(f)
    assert [m.support for m in rep.per_class] == s.tolist()
