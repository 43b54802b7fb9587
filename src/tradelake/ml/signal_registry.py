"""The signal ensemble in MLflow: log a trained model, register it, promote it only if better.

A run logs the LightGBM parameters, the pooled walk-forward metrics (``wf_auc``,
``wf_log_loss``, ``wf_brier``, ``wf_pnl_all``, ``wf_pnl_approved``, ...), the per-fold table
and the model card as artifacts, and the model as an MLflow pyfunc whose only artifact is the
folder :meth:`SignalModel.save` writes, so :func:`load_signal_model` reads a registered version
with the same code as a local folder and generic MLflow tooling can still
``mlflow.pyfunc.load_model`` it (input: a DataFrame of entry features; output: probabilities).

Promotion (:func:`tradelake.ml.signal_ensemble.beats`): higher walk-forward AUC and log loss no
worse than the champion's, as recorded on the champion's version when it was registered.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from tradelake.errors import ModelError
from tradelake.ml import model_registry
from tradelake.ml.signal_ensemble import (
    META_FILE,
    SignalModel,
    TrainedSignal,
    beats,
    summary_metrics,
)

MODEL_NAME = "signal_ensemble"
EXPERIMENT = "signal_ensemble"
PIP_REQUIREMENTS = ["lightgbm", "numpy", "polars", "mlflow"]


@dataclass(frozen=True)
class PublishedSignal:
    """Outcome of :func:`publish_signal`."""

    run_id: str
    version: str
    metrics: dict[str, float]
    promoted: bool
    champion_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "version": self.version,
            "metrics": self.metrics,
            "promoted": self.promoted,
            "champion_version": self.champion_version,
        }


class SignalPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """Pyfunc wrapper: entry-feature rows (feature name -> value) in, probabilities out."""

    def load_context(self, context: Any) -> None:
        self.model = SignalModel.load(Path(context.artifacts["model"]))

    def predict(self, context: Any, model_input: list[dict[str, Any]]) -> list[float]:
        import polars as pl

        frame = pl.DataFrame([dict(row) for row in model_input], infer_schema_length=None)
        return [float(p) for p in self.model.predict(frame)]


def publish_signal(
    trained: TrainedSignal,
    *,
    card: str,
    tracking_uri: str | None = None,
    home: str | Path | None = None,
    name: str = MODEL_NAME,
) -> PublishedSignal:
    """Log the run, register a version, move ``champion`` to it iff it beats the champion."""
    uri = model_registry.resolve_uri(tracking_uri, home)
    metrics = summary_metrics(trained.walk_forward)
    params = {k: v for k, v in trained.model.info.get("params", {}).items()}
    with model_registry.tracking(uri) as client:
        model_registry.use_experiment(client, EXPERIMENT, uri, home)
        with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
            mlflow.log_params(
                {**params, "rows": trained.rows, "features": len(trained.model.features)}
            )
            mlflow.log_metrics(metrics)
            folder = trained.model.save(Path(tmp) / "model")
            report = Path(tmp) / "walk_forward.json"
            report.write_text(json.dumps(trained.walk_forward.to_dict(), indent=1))
            card_path = Path(tmp) / "MODEL_CARD.md"
            card_path.write_text(card)
            mlflow.log_artifact(str(report))
            mlflow.log_artifact(str(card_path))
            version = model_registry.register_logged(
                client,
                name=name,
                python_model=SignalPyfunc(),
                artifacts={"model": str(folder)},
                pip_requirements=PIP_REQUIREMENTS,
                metrics=metrics,
            )
        promoted = model_registry.promote_if(client, name, version, metrics, beats)
        champion = model_registry.champion_version(client, name)
    return PublishedSignal(
        run.info.run_id,
        version,
        metrics,
        promoted,
        str(champion.version) if champion is not None else version,
    )


def load_signal_model(model_uri: str, *, tracking_uri: str) -> SignalModel:
    """A registered signal model (``models:/signal_ensemble/3``, ``...@champion``) or a local
    folder written by :meth:`SignalModel.save`."""
    if not model_uri.startswith(("models:/", "runs:/")):
        return SignalModel.load(Path(model_uri))
    try:
        local = model_registry.download(model_uri, tracking_uri)
    except MlflowException as exc:
        raise ModelError(
            f"cannot fetch {model_uri} from {tracking_uri} ({exc.message}); check the name and "
            "version, or train one with `tradelake model train signal`"
        ) from exc
    found = sorted(local.rglob(META_FILE))
    if not found:
        raise ModelError(f"{model_uri} holds no signal model; was it logged by publish_signal?")
    return SignalModel.load(found[0].parent)
