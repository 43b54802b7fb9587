"""Purged walk-forward splits and the metrics, against brute force."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradelake.ml.walk_forward import brier, fold_metrics, log_loss, purged_splits, roc_auc

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def test_training_labels_close_an_embargo_before_each_test_block() -> None:
    rng = np.random.default_rng(0)
    opens = np.cumsum(rng.integers(60, 600, 400))
    closes = opens + rng.integers(10, 7200, 400)  # some trips run for two hours
    o = pl.Series([T0 + timedelta(seconds=int(s)) for s in opens])
    c = pl.Series([T0 + timedelta(seconds=int(s)) for s in closes])
    embargo = timedelta(minutes=30)
    splits = purged_splits(o, c, folds=5, embargo=embargo)
    assert len(splits) == 5
    tested = np.concatenate([s.test for s in splits])
    assert np.array_equal(tested, np.arange(400 // 6 * 1 + 0, 400)[-tested.size :])
    for split in splits:
        start = opens[split.test[0]]
        assert (closes[split.train] + embargo.total_seconds() <= start).all()
        # purged: a trip that opened earlier but closed inside the gap is left out
        overlapping = np.flatnonzero((np.arange(400) < split.test[0]) & (closes + 1800 > start))
        assert not np.isin(overlapping, split.train).any()
        assert split.train.size + overlapping.size == split.test[0]


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=30))
def test_auc_matches_pair_counting(pairs: list[tuple[bool, int]]) -> None:
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] / 5 for p in pairs], dtype=np.float64)
    pos, neg = scores[labels], scores[~labels]
    got = roc_auc(labels, scores)
    if pos.size == 0 or neg.size == 0:
        assert got is None
        return
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    assert got == pytest.approx(wins / (pos.size * neg.size))


def test_losses_and_pnl() -> None:
    labels = np.array([True, False, True, False])
    probs = np.array([0.9, 0.2, 0.4, 0.6])
    assert log_loss(labels, probs) == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.4])))
    assert brier(labels, probs) == pytest.approx((0.01 + 0.04 + 0.36 + 0.36) / 4)
    m = fold_metrics("1", labels, probs, np.array([10.0, -5.0, 3.0, -7.0]), 0.5)
    assert (m.trades, m.approved, m.pnl_all, m.pnl_approved) == (4, 2, 1.0, 3.0)
    assert m.auc == pytest.approx(0.75)
    assert (m.baseline_log_loss, m.baseline_brier) == pytest.approx((np.log(2), 0.25))
    prior = np.full(4, 0.25)
    m = fold_metrics("1", labels, probs, np.zeros(4), 0.5, prior)
    assert m.baseline_brier == pytest.approx((0.75**2 * 2 + 0.25**2 * 2) / 4)
