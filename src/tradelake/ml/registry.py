"""MLflow glue: log a trained chart_cnn checkpoint, register it, promote it if it is better.

The model is logged as an MLflow pyfunc whose only artifact is the checkpoint file, so
``ChartClassifier.load("models:/chart_cnn@champion")`` downloads that file and reads it
with the same code as a local path (identical outputs), and generic MLflow tooling can
still ``mlflow.pyfunc.load_model`` it.

Promotion rule: a new version takes the ``champion`` alias only when it beats the current
champion (or there is none). A champion with a leave-one-renderer-out figure (``metrics["loro"]``
of its checkpoint, see :mod:`tradelake.ml.cross_renderer`) is beaten only by a candidate whose
*worst* held-out-renderer macro-F1 is strictly greater: the figure that says how the model
reads software it never saw (issue 11). A champion without one is compared on the held-out-style
macro-F1, as before; a candidate without one never displaces a champion that has one.

Storage, logging, registration and the alias move are :mod:`tradelake.ml.model_registry`'s,
shared with the signal ensemble; this module says what a chart_cnn run logs and its rule.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image, ImageDraw, ImageFont

from tradelake.errors import VisionError
from tradelake.ml import model_registry
from tradelake.ml.model_registry import CHAMPION, default_tracking_uri
from tradelake.ml.model_registry import resolve_uri as _uri
from tradelake.ml.model_registry import tracking as _tracking

__all__ = ["CHAMPION", "MODEL_NAME", "default_tracking_uri", "publish"]

MODEL_NAME = "chart_cnn"
EXPERIMENT = "chart_cnn"
METRIC = "heldout_macro_f1"
LORO_METRIC = "loro_min_macro_f1"
PIP_REQUIREMENTS = ["torch", "numpy", "pillow", "mlflow"]


@dataclass(frozen=True)
class Published:
    """Outcome of :func:`publish`."""

    run_id: str
    version: str
    macro_f1: float
    promoted: bool
    champion_version: str


class ChartPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """Pyfunc wrapper: input a list of image bytes, output one JSON string per image.

    Each JSON holds ``signal``, ``prob``, ``probs`` and ``embedding``, or ``error``.
    """

    def load_context(self, context: Any) -> None:
        from tradelake.ml.vision import ChartClassifier

        self.clf = ChartClassifier.load(context.artifacts["checkpoint"])

    def predict(self, context: Any, model_input: list[bytes]) -> list[str]:
        out: list[str] = []
        for r in self.clf.predict_many(list(model_input)):
            if isinstance(r, Exception):
                out.append(json.dumps({"error": str(r)}))
            else:
                out.append(
                    json.dumps(
                        {
                            "signal": r.signal,
                            "prob": r.prob,
                            "probs": r.probs,
                            "embedding": r.embedding.tolist(),
                        }
                    )
                )
        return out


def confusion_image(cm: Sequence[Sequence[int]], classes: Sequence[str]) -> Image.Image:
    """Confusion matrix (rows true, columns predicted) as a PNG-ready image, Pillow only."""
    k = len(classes)
    cell, margin = 64, 190
    img = Image.new("RGB", (margin + k * cell + 10, margin + k * cell + 10), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=13)
    for i, row in enumerate(cm):
        total = max(1, sum(row))
        for j, v in enumerate(row):
            t = v / total
            col = (int(255 - 200 * t), int(255 - 120 * t), 255)
            x, y = margin + j * cell, margin + i * cell
            d.rectangle([x, y, x + cell, y + cell], fill=col, outline=(180, 180, 180))
            d.text((x + cell / 2, y + cell / 2), str(v), fill="black", font=font, anchor="mm")
        d.text(
            (margin - 6, margin + i * cell + cell / 2),
            classes[i],
            fill="black",
            font=font,
            anchor="rm",
        )
    for j, c in enumerate(classes):
        lab = Image.new("RGBA", (margin - 10, 18), (255, 255, 255, 0))
        ImageDraw.Draw(lab).text((0, 2), c, fill="black", font=font)
        rot = lab.rotate(90, expand=True)
        img.paste(rot, (margin + j * cell + cell // 2 - 9, 5), rot)
    d.text((5, 5), "rows: true\ncols: predicted", fill="black", font=font)
    return img


def _read_metrics(checkpoint: Path) -> dict[str, Any]:
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    metrics: dict[str, Any] = ckpt.get("metrics") or {}
    return {"version": ckpt.get("version", "0"), "temperature": ckpt["temperature"], **metrics}


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for split in ("heldout", "val"):
        rep = metrics.get(split) or {}
        for key in ("accuracy", "macro_f1", "ece_before", "ece_after"):
            if key in rep:
                flat[f"{split}_{key}"] = float(rep[key])
        for cls, v in (rep.get("per_class_f1") or {}).items():
            flat[f"{split}_f1_{cls}"] = float(v)
    return flat


def loro_score(metrics: Mapping[str, Any]) -> float | None:
    """The worst held-out-renderer macro-F1 of a checkpoint's LORO table, or None."""
    table = metrics.get("loro") or {}
    values = [float(rep["macro_f1"]) for rep in table.values()]
    return min(values) if values else None


def beats_champion(new: Mapping[str, float], old: Mapping[str, float]) -> bool:
    """The promotion rule of the module docstring, on ``metric.<key>`` tag dicts."""
    if LORO_METRIC in old:
        return LORO_METRIC in new and new[LORO_METRIC] > old[LORO_METRIC]
    return new.get(METRIC, float("-inf")) > old.get(METRIC, float("-inf"))


def champion_score(client: MlflowClient, name: str = MODEL_NAME) -> tuple[str, float] | None:
    """``(version, heldout macro-F1)`` of the current champion, or None."""
    mv = model_registry.champion_version(client, name)
    if mv is None:
        return None
    # ``metric.<key>`` tags (model_registry), else the bare tag versions logged before it.
    tag = model_registry.version_metrics(mv).get(METRIC, (mv.tags or {}).get(METRIC))
    if tag is not None:
        return str(mv.version), float(tag)
    run = client.get_run(str(mv.run_id))
    return str(mv.version), float(run.data.metrics.get(METRIC, float("-inf")))


def promote_if_better(
    client: MlflowClient,
    version: str,
    score: float,
    name: str = MODEL_NAME,
    loro: float | None = None,
) -> bool:
    """Move ``champion`` to ``version`` iff it beats the current champion
    (:func:`beats_champion`; ``score`` is the held-out-style macro-F1, ``loro`` the worst
    held-out-renderer macro-F1)."""
    current = model_registry.champion_version(client, name)
    old: dict[str, float] = {}
    if current is not None:
        old = model_registry.version_metrics(current)
        if METRIC not in old:  # versions logged before metric tags: the run's metric
            found = champion_score(client, name)
            if found is not None:
                old[METRIC] = found[1]
    new = {METRIC: score, **({LORO_METRIC: loro} if loro is not None else {})}
    return model_registry.promote_if(
        client, name, version, new, lambda n, _o: current is None or beats_champion(n, old)
    )


def current_champion(
    *, tracking_uri: str | None = None, home: str | Path | None = None, name: str = MODEL_NAME
) -> tuple[str, float] | None:
    """``(version, held-out macro-F1)`` of the registered champion, or None if there is none."""
    with _tracking(_uri(tracking_uri, home)) as client:
        return champion_score(client, name)


def publish(
    checkpoint: str | Path,
    *,
    tracking_uri: str | None = None,
    home: str | Path | None = None,
    name: str = MODEL_NAME,
    experiment: str = EXPERIMENT,
    params: dict[str, Any] | None = None,
) -> Published:
    """Log params/metrics/confusion matrix and the model, register a version, maybe promote."""
    checkpoint = Path(checkpoint)
    uri = _uri(tracking_uri, home)
    m = _read_metrics(checkpoint)
    score = float((m.get("heldout") or {}).get("macro_f1", float("-inf")))
    loro = loro_score(m)
    tags = {METRIC: score, **({LORO_METRIC: loro} if loro is not None else {})}
    with _tracking(uri) as client:
        model_registry.use_experiment(client, experiment, uri, home)
        with mlflow.start_run() as run:
            scalar = {k: v for k, v in m.items() if isinstance(v, str | int | float)}
            mlflow.log_params({**scalar, **(params or {})})
            mlflow.log_metrics({**_flat(m), **tags})
            with tempfile.TemporaryDirectory() as tmp:
                metrics_path = Path(tmp) / "metrics.json"
                metrics_path.write_text(json.dumps(m, indent=1, default=str))
                mlflow.log_artifact(str(metrics_path))
                cm = (m.get("heldout") or {}).get("confusion")
                if cm:
                    png = Path(tmp) / "confusion_heldout.png"
                    from tradelake.ml.charts import CLASSES

                    confusion_image(cm, CLASSES).save(png)
                    mlflow.log_artifact(str(png))
            version = model_registry.register_logged(
                client,
                name=name,
                python_model=ChartPyfunc(),
                artifacts={"checkpoint": str(checkpoint)},
                pip_requirements=PIP_REQUIREMENTS,
                metrics=tags,
            )
        promoted = promote_if_better(client, version, score, name, loro)
        champ = champion_score(client, name)
    return Published(run.info.run_id, version, score, promoted, champ[0] if champ else version)


def download_checkpoint(model_uri: str, *, tracking_uri: str | None = None) -> Path:
    """Download a logged chart_cnn model (``models:/...``, ``runs:/...``); return its .pt file.

    Temporarily sets MLflow's global tracking/registry URIs: not safe to run concurrently
    with other MLflow calls in the same process that rely on different URIs.
    """
    uri = tracking_uri or mlflow.get_tracking_uri()
    try:
        local = model_registry.download(model_uri, uri)
    except MlflowException as exc:
        raise VisionError(
            f"cannot fetch {model_uri} from {uri} ({exc.message}); check the "
            "name/alias and the tracking URI"
        ) from exc
    if local.is_file():
        return local
    found = sorted(local.rglob("*.pt"))
    if not found:
        raise VisionError(
            f"{model_uri} holds no .pt checkpoint; was it logged by tradelake.ml.registry.publish?"
        )
    return found[0]
