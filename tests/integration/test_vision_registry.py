"""MLflow round trip: publish, register, promote only when better, load by URI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from tradelake.ml.charts import generate_chart
from tradelake.ml.registry import (
    CHAMPION,
    MODEL_NAME,
    confusion_image,
    default_tracking_uri,
    publish,
)
from tradelake.ml.vision import WEIGHTS, ChartClassifier, VisionError

pytestmark = pytest.mark.slow


def _variant(tmp: Path, name: str, delta: float, loro_delta: float | None = None) -> Path:
    """The shipped checkpoint with its held-out (and LORO) macro-F1 shifted (weights unchanged)."""
    ckpt = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    ckpt["metrics"]["heldout"]["macro_f1"] += delta
    for rep in (ckpt["metrics"].get("loro") or {}).values():
        rep["macro_f1"] += delta if loro_delta is None else loro_delta
    out = tmp / name
    torch.save(ckpt, out)
    return out


def _pngs() -> list[bytes]:
    rng = np.random.default_rng(9)
    out = []
    for label in ("head_and_shoulders", "bear_flag"):
        buf = io.BytesIO()
        generate_chart(rng, label).image.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def test_publish_promote_and_load_from_registry(home: Path, tmp_path: Path) -> None:
    uri = default_tracking_uri(home)
    first = publish(WEIGHTS, home=home)
    assert first.version == "1" and first.promoted and first.champion_version == "1"
    assert (home / "mlflow.db").is_file() and (home / "mlartifacts").is_dir()

    worse = publish(_variant(tmp_path, "worse.pt", -0.1), home=home)
    assert worse.version == "2" and not worse.promoted and worse.champion_version == "1"
    better = publish(_variant(tmp_path, "better.pt", 0.01), home=home)
    assert better.version == "3" and better.promoted and better.champion_version == "3"
    if "loro" in torch.load(WEIGHTS, weights_only=True)["metrics"]:
        # Better on the held-out style, worse on a renderer it never saw: not promoted.
        style = publish(_variant(tmp_path, "style.pt", 0.05, loro_delta=-0.01), home=home)
        assert not style.promoted and style.champion_version == "3"

    images = _pngs()
    local = ChartClassifier.load(WEIGHTS).predict(images)
    for source in (
        f"models:/{MODEL_NAME}@{CHAMPION}",
        f"models:/{MODEL_NAME}/1",
        f"runs:/{first.run_id}/model",
    ):
        remote = ChartClassifier.load(source, tracking_uri=uri).predict(images)
        for a, b in zip(local, remote, strict=True):
            assert a.signal == b.signal and a.probs == b.probs
            assert np.array_equal(a.embedding, b.embedding)
    same = ChartClassifier.load(f"models:/{MODEL_NAME}/1", tracking_uri=uri)
    assert same.model_version == ChartClassifier.load(WEIGHTS).model_version

    with pytest.raises(VisionError, match="cannot fetch"):
        ChartClassifier.load(f"models:/{MODEL_NAME}@nope", tracking_uri=uri)


def test_confusion_image_is_drawn() -> None:
    img = confusion_image([[5, 1], [0, 6]], ["a", "b"])
    assert img.size[0] > 200 and np.asarray(img).std() > 10
