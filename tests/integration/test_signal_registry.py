"""The signal ensemble in MLflow: register, promote only when better, load back the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from fixtures.signal import trained
from tradelake.ml.model_registry import alias_version, default_tracking_uri, list_versions
from tradelake.ml.signal_card import signal_card
from tradelake.ml.signal_registry import MODEL_NAME, load_signal_model, publish_signal

pytestmark = pytest.mark.slow


def test_promoted_only_when_it_beats_the_champion(home: Path) -> None:
    skilled, rows = trained(300, seed=1, plant_before=True)
    noise, noise_rows = trained(300, seed=2)
    assert skilled.walk_forward.pooled.auc > noise.walk_forward.pooled.auc  # type: ignore[operator]

    first = publish_signal(noise, card=signal_card(noise, noise_rows), home=home)
    assert first.promoted and first.version == "1"  # no champion yet: the first one is
    better = publish_signal(skilled, card=signal_card(skilled, rows), home=home)
    assert better.promoted and better.champion_version == "2"
    worse = publish_signal(noise, card=signal_card(noise, noise_rows), home=home)
    assert not worse.promoted and worse.champion_version == "2"

    uri = default_tracking_uri(home)
    assert alias_version(uri, MODEL_NAME) == "2"
    logged = {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(better.run_id)}
    assert {"MODEL_CARD.md", "walk_forward.json"} <= logged
    run = MlflowClient(tracking_uri=uri).get_run(better.run_id)
    assert run.data.metrics["wf_auc"] == pytest.approx(skilled.walk_forward.pooled.auc)
    listed = list_versions(uri, [MODEL_NAME])
    assert [v.version for v in listed] == ["3", "2", "1"]
    assert listed[1].aliases == ("champion",)
    assert listed[1].metrics["wf_auc"] == pytest.approx(skilled.walk_forward.pooled.auc)

    loaded = load_signal_model(f"models:/{MODEL_NAME}@champion", tracking_uri=uri)
    assert np.allclose(loaded.predict(rows), skilled.model.predict(rows))
    # A request that lacks features or carries an unseen category still scores.
    partial = rows.select("chart_prob", "chart_signal").with_columns(chart_signal=None)
    assert loaded.predict(partial).shape == (rows.height,)
