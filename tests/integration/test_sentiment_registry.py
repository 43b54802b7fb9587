"""The sentiment model in MLflow: logged with its card and metrics, registered, promoted only
when better, and the registered weights score exactly like the local ones (the default
``tfns_minilm``, whose pyfunc loads the base MiniLM from its package; and ``tfns_linear``)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from tradelake.ml.registry import CHAMPION, default_tracking_uri
from tradelake.ml.sentiment import sentiment_model
from tradelake.ml.sentiment_registry import MODEL_NAME, publish_sentiment
from tradelake.ml.train_sentiment import TrainConfig, train
from tradelake.ml.train_sentiment_minilm import MiniLMConfig

pytestmark = pytest.mark.slow

HEADLINES = (
    ("{t} plunges after guidance cut", 0),
    ("{t} soars on earnings beat", 1),
    ("{t} files quarterly report", 2),
)


def test_publish_registers_promotes_only_better_and_serves_the_same_scores(
    tmp_path: Path,
) -> None:
    rows = [
        f"${chr(65 + i % 26)}{chr(65 + i // 26 % 26)}X {t.format(t='')},{y}"
        for i in range(120)
        for t, y in [HEADLINES[i % 3]]
    ]
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    home = tmp_path / "home"
    quick = MiniLMConfig(top_layers=1, epochs=2, lr=3e-4, batch_size=16)
    report = train(data, tmp_path / "out", TrainConfig(folds=0, minilm=quick))
    first = publish_sentiment(report, home=home)
    assert first.promoted and first.champion_version == first.version

    worse = train(data, tmp_path / "out2", TrainConfig(model="tfns_linear", folds=0, c=3.0))
    worse.metrics["heldout"]["macro_f1"] = first.macro_f1 - 0.1
    second = publish_sentiment(worse, home=home)
    assert not second.promoted and second.champion_version == first.version

    uri = default_tracking_uri(home)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        _check_registered(uri, first.run_id, first.macro_f1, report.artefact)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def _check_registered(uri: str, run_id: str, macro_f1: float, artefact: Path | None) -> None:
    run = mlflow.get_run(run_id)
    assert run.data.metrics["heldout_macro_f1"] == pytest.approx(macro_f1)
    artifacts = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(run_id)}
    shipped = {"SENTIMENT_MODEL_CARD.md", "sentiment_minilm.safetensors", "confusion_heldout.png"}
    shipped.add("sentiment_tfns.npz")  # the blend partner, beside the MiniLM
    assert shipped <= artifacts

    texts = ["$ABC plunges after guidance cut", "$ABC soars on earnings beat"]
    local = sentiment_model(f"tfns_minilm:{artefact}").score(texts)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
    served = [json.loads(s)["score"] for s in pyfunc.predict(texts)]
    np.testing.assert_allclose(served, local, atol=1e-6)
    assert local[0] < 0 < local[1]
