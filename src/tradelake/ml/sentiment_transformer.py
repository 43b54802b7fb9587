"""The transformer slot: a FinBERT-class classifier from a local folder or an MLflow URI.

No FinBERT weights can be installed here (no package ships them and model hubs are
unreachable, shared/PITFALLS.md), so nothing uses this by default; a desk that has the weights
sets a feed's ``sentiment_model = "finbert:/models/finbert"`` (a folder written by
``save_pretrained``) or ``"finbert:models:/finbert@champion"`` (an MLflow model whose
artifacts hold such a folder). It never reaches a hub: loading is ``local_files_only``.

``transformers`` is the optional extra ``tradelake[transformer]``. Labels are read from the
model's ``id2label`` (``positive``/``negative``/``neutral`` as FinBERT names them, or
``bullish``/``bearish``); the score is ``P(positive) - P(negative)`` like the linear model's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradelake.errors import SentimentError

_SYNONYMS = {
    "positive": "bullish",
    "bullish": "bullish",
    "pos": "bullish",
    "negative": "bearish",
    "bearish": "bearish",
    "neg": "bearish",
    "neutral": "neutral",
    "neu": "neutral",
}
MAX_TOKENS = 128


def canonical_label(raw: str) -> str:
    """``bullish`` / ``bearish`` / ``neutral`` for a model's own label name."""
    try:
        return _SYNONYMS[raw.strip().lower()]
    except KeyError:
        raise SentimentError(
            f"transformer label {raw!r} is not positive/negative/neutral (or bullish/bearish); "
            "set id2label in the model's config.json"
        ) from None


class TransformerSentimentModel:
    """A sequence classifier with three sentiment labels, scored in batches on CPU."""

    name = "finbert"

    def __init__(self, tokenizer: Any, model: Any, folder: Path, batch_size: int = 32) -> None:
        self.tokenizer, self.model, self.folder = tokenizer, model, folder
        self.batch_size = batch_size
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        self.labels = [canonical_label(id2label[i]) for i in range(len(id2label))]
        if sorted(self.labels) != ["bearish", "bullish", "neutral"]:
            raise SentimentError(f"{folder}: labels {self.labels} are not the three sentiments")
        self._pos, self._neg = self.labels.index("bullish"), self.labels.index("bearish")
        digest = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()[:8]
        self.model_id = f"{self.name}:{folder.name}-{digest}"

    @classmethod
    def load(cls, location: str) -> TransformerSentimentModel:
        """``location``: a ``save_pretrained`` folder, or a ``models:/`` / ``runs:/`` URI."""
        if not location:
            raise SentimentError(
                "the finbert model needs a location: finbert:/path/to/folder or "
                "finbert:models:/NAME@ALIAS"
            )
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise SentimentError(
                "the finbert model needs transformers: pip install 'tradelake[transformer]'"
            ) from exc
        folder = _resolve(location)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(folder), local_files_only=True
        )
        model.eval()
        return cls(tokenizer, model, folder)

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        import torch

        out: list[NDArray[np.float64]] = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = [t or "" for t in texts[i : i + self.batch_size]]
                enc = self.tokenizer(
                    batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
                )
                logits = self.model(**enc).logits
                out.append(torch.softmax(logits.float(), dim=-1).numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))

    def predict(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], list[str]]:
        proba = self.predict_proba(texts)
        scores = np.clip(proba[:, self._pos] - proba[:, self._neg], -1.0, 1.0)
        return scores, [self.labels[i] for i in proba.argmax(axis=1)]

    def score(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return self.predict(texts)[0]


def _resolve(location: str) -> Path:
    """A local folder holding ``config.json``; MLflow URIs are downloaded first."""
    if location.startswith(("models:/", "runs:/", "mlflow-artifacts:")):
        try:
            import mlflow

            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location))
        except Exception as exc:  # MLflow raises several types for a bad URI or store
            raise SentimentError(f"cannot fetch {location} from MLflow ({exc})") from exc
    else:
        local = Path(location).expanduser()
    if (local / "config.json").is_file():
        return local
    found = sorted(p.parent for p in local.rglob("config.json")) if local.is_dir() else []
    if not found:
        raise SentimentError(
            f"{location}: no config.json found; point at a folder written by save_pretrained"
        )
    return found[0]
