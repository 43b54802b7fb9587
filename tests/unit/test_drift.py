"""PSI and Kolmogorov–Smirnov on planted drift and on no drift (seeded samples)."""

from __future__ import annotations

import numpy as np
import pytest

from tradelake.errors import DriftError
from tradelake.ml.drift import PREDICTION, Thresholds, TrainingSample, compare, psi


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, 5000)
    assert psi(train, train) == pytest.approx(0.0, abs=1e-12)
    same = psi(train, rng.normal(0, 1, 5000))
    small = psi(train, rng.normal(0.3, 1, 5000))
    large = psi(train, rng.normal(1.0, 1, 5000))
    assert same < 0.02 < small < 0.2 < large
    # Hand-computed: two bins split at 0.5; actual mass 0.9 / 0.1 against 0.5 / 0.5.
    two = psi([0.0, 1.0] * 50, [0.0] * 90 + [1.0] * 10, bins=2)
    assert two == pytest.approx((0.9 - 0.5) * np.log(0.9 / 0.5) + (0.1 - 0.5) * np.log(0.1 / 0.5))


def test_compare_flags_only_the_planted_feature_and_the_prediction() -> None:
    rng = np.random.default_rng(1)
    train = {
        "stable": rng.normal(0, 1, 3000).tolist(),
        "shifted": rng.normal(0, 1, 3000).tolist(),
        PREDICTION: rng.uniform(-1, 1, 3000).tolist(),
    }
    recent = {
        "stable": rng.normal(0, 1, 800).tolist(),
        "shifted": rng.normal(1.5, 1, 800).tolist(),
        PREDICTION: np.clip(rng.normal(0.7, 0.2, 800), -1, 1).tolist(),
    }
    results = {r.feature: r for r in compare(train, recent)}
    assert [r.feature for r in compare(train, recent)] == ["shifted", "stable", PREDICTION]
    assert not results["stable"].breach and results["stable"].psi < 0.05
    assert results["stable"].ks_pvalue > 0.01
    assert results["shifted"].breach and results["shifted"].psi > 1.0
    assert results["shifted"].ks_pvalue < 1e-10 and results["shifted"].ks_stat > 0.4
    assert results[PREDICTION].breach
    assert results["shifted"].recent_mean == pytest.approx(np.mean(recent["shifted"]))


def test_too_few_recent_rows_give_no_verdict_and_no_common_column_is_an_error() -> None:
    (r,) = compare({"x": [0.0, 1.0] * 50}, {"x": [5.0] * 10}, Thresholds(min_rows=30))
    assert not r.breach and np.isnan(r.psi) and r.recent_n == 10
    assert r.to_dict()["psi"] is None and r.to_dict()["ks_pvalue"] is None
    with pytest.raises(DriftError, match="no column in common"):
        compare({"x": [1.0]}, {"y": [1.0]})


def test_training_sample_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sample = TrainingSample("m", "v1", {"a": [1.0, 2.0]}, [0.5], {"end": "x"}, "SELECT 1")
    loaded = TrainingSample.load(sample.save(tmp_path / "s.json"))
    assert loaded == sample
    assert loaded.columns() == {"a": [1.0, 2.0], PREDICTION: [0.5]}
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DriftError, match="not a training sample"):
        TrainingSample.load(tmp_path / "bad.json")
