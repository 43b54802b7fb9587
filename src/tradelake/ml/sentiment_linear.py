"""The shipped news-sentiment model: word + character n-gram TF-IDF, the lexicon, a linear head.

Why this shape: 9,543 labelled headlines are too few to fine-tune a transformer on a CPU desk
machine, and no FinBERT weights can be installed here (shared/PITFALLS.md). A sparse linear
model over word 1–2-grams, in-word character 2–5-grams (robust to inflections and
misspellings: "downgrade", "downgraded", "downgrades" share most n-grams) plus the finance
lexicon's score as extra features is fast (well under a millisecond per headline) and small.

The artefact is one ``.npz`` read with ``allow_pickle=False``: vocabularies as unicode arrays,
IDF weights, the coefficient matrix and a JSON ``meta`` string. Loading it runs no code from
the file, unlike a pickled scikit-learn pipeline. Training (:mod:`tradelake.ml.train_sentiment`)
uses scikit-learn with :func:`word_ngrams` / :func:`char_ngrams` as its analyzers, so training
and this numpy-only scorer tokenise identically by construction.

Output: class probabilities in :data:`CLASSES` order (the dataset's label ids: 0 bearish,
1 bullish, 2 neutral); the score is ``P(bullish) - P(bearish)``, in [-1, 1].
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from tradelake.errors import SentimentError

CLASSES: tuple[str, ...] = ("bearish", "bullish", "neutral")
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_PATH = WEIGHTS_DIR / "sentiment_tfns.npz"

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_CASHTAG = re.compile(r"\$[A-Za-z][A-Za-z.]{0,6}\b")
_NUMBER = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?%?")
_TOKEN = re.compile(r"(?u)\b\w+\b")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower-case text with links dropped and tickers / numbers / percentages as placeholders.

    A ticker or a price says nothing about direction by itself and would otherwise become a
    rare feature the model memorises; ``tkr``, ``num`` and ``pct`` keep the shape ("tkr cut
    to sell", "up pct") that does generalise.
    """
    text = _URL.sub(" ", text)
    text = _CASHTAG.sub(" tkr ", text)
    text = _NUMBER.sub(lambda m: " pct " if m.group(0).endswith("%") else " num ", text)
    return _SPACES.sub(" ", text).strip().lower()


def word_ngrams(text: str, lo: int = 1, hi: int = 2) -> list[str]:
    """Word ``lo``..``hi``-grams of the normalised text (scikit-learn's word analyzer)."""
    tokens = _TOKEN.findall(normalise(text))
    grams: list[str] = []
    for n in range(lo, hi + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_ngrams(text: str, lo: int = 2, hi: int = 5) -> list[str]:
    """Character n-grams inside space-padded words (scikit-learn's ``char_wb``)."""
    grams: list[str] = []
    for word in normalise(text).split():
        w = f" {word} "
        for n in range(lo, hi + 1):
            if n > len(w):
                if n == lo:
                    grams.append(w)  # a short word counts once, as scikit-learn does
                break
            grams.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return grams


def lexicon_features(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """The lexicon score as 4 columns: raw, positive part, negative part, near-zero flag."""
    s = np.asarray(scores, dtype=np.float64)
    return np.column_stack([s, np.maximum(s, 0.0), np.maximum(-s, 0.0), np.abs(s) < 0.05])


@dataclass(frozen=True)
class LinearWeights:
    """Everything the scorer needs; ``meta`` holds n-gram ranges, scale, metrics, version."""

    word_vocab: Sequence[str]
    word_idf: NDArray[np.float64]
    char_vocab: Sequence[str]
    char_idf: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: NDArray[np.float64]
    meta: Mapping[str, Any]

    def save(self, path: str | Path) -> Path:
        """Write the ``.npz`` (compressed, no pickles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            word_vocab=np.asarray(list(self.word_vocab), dtype=np.str_),
            word_idf=np.asarray(self.word_idf, dtype=np.float32),
            char_vocab=np.asarray(list(self.char_vocab), dtype=np.str_),
            char_idf=np.asarray(self.char_idf, dtype=np.float32),
            coef=np.asarray(self.coef, dtype=np.float32),
            intercept=np.asarray(self.intercept, dtype=np.float64),
            meta=np.asarray(json.dumps(dict(self.meta), sort_keys=True, default=str)),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> LinearWeights:
        path = Path(path)
        if not path.is_file():
            raise SentimentError(
                f"no sentiment weights at {path}; train them with `tradelake sentiment train` "
                "or reinstall tradelake (the default weights ship in the package)"
            )
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    word_vocab=z["word_vocab"].tolist(),
                    word_idf=z["word_idf"].astype(np.float64),
                    char_vocab=z["char_vocab"].tolist(),
                    char_idf=z["char_idf"].astype(np.float64),
                    coef=z["coef"].astype(np.float64),
                    intercept=z["intercept"].astype(np.float64),
                    meta=json.loads(str(z["meta"])),
                )
        except (KeyError, ValueError, OSError) as exc:
            raise SentimentError(
                f"{path} is not a tradelake sentiment artefact ({exc}); retrain it"
            ) from exc


class LinearSentimentModel:
    """Scores with :class:`LinearWeights`; numpy and scipy only, thread-safe (no state)."""

    name = "tfns_linear"

    def __init__(self, weights: LinearWeights, *, source: str = "") -> None:
        from tradelake.ml.sentiment import FinanceLexiconModel

        self.weights = weights
        self.meta = dict(weights.meta)
        self._word = {g: i for i, g in enumerate(weights.word_vocab)}
        self._char = {g: i for i, g in enumerate(weights.char_vocab)}
        self._word_range = tuple(self.meta.get("word_ngrams", (1, 2)))
        self._char_range = tuple(self.meta.get("char_ngrams", (2, 5)))
        self._lex_scale = float(self.meta.get("lexicon_scale", 1.0))
        self._lexicon = FinanceLexiconModel()
        self.model_id = f"{self.name}:{self.meta.get('version', 'dev')}"
        self.source = source

    @classmethod
    def load(cls, path: str | Path = "") -> LinearSentimentModel:
        """The artefact at ``path`` (default: the weights shipped in the package)."""
        target = Path(path) if path else DEFAULT_PATH
        return cls(LinearWeights.load(target), source=str(target))

    def features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The model's input rows: L2-normalised TF-IDF blocks, then the lexicon columns."""
        w = self.weights
        word = _tfidf(texts, self._word, w.word_idf, lambda t: word_ngrams(t, *self._word_range))
        char = _tfidf(texts, self._char, w.char_idf, lambda t: char_ngrams(t, *self._char_range))
        lex = lexicon_features(self._lexicon.score(texts)) * self._lex_scale
        return sparse.hstack([word, char, sparse.csr_matrix(lex)], format="csr")

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """Class probabilities, one row per text, columns in :data:`CLASSES` order."""
        if not texts:
            return np.zeros((0, len(CLASSES)))
        logits = self.features(texts) @ self.weights.coef.T + self.weights.intercept
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def predict(self, texts: Sequence[str]) -> tuple[NDArray[np.float64], list[str]]:
        """Scores in [-1, 1] and labels (the most probable class) in one pass."""
        proba = self.predict_proba(texts)
        scores = np.clip(proba[:, 1] - proba[:, 0], -1.0, 1.0)
        return scores, [CLASSES[i] for i in proba.argmax(axis=1)]

    def score(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return self.predict(texts)[0]


def artefact_version(path: str | Path) -> str:
    """First 12 hex digits of the artefact's sha256: what ``sentiment_model`` rows carry."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def _tfidf(
    texts: Sequence[str],
    vocab: Mapping[str, int],
    idf: NDArray[np.float64],
    analyse: Any,
) -> sparse.csr_matrix:
    """Sublinear TF × IDF, rows L2-normalised: scikit-learn's TfidfVectorizer arithmetic."""
    indptr, indices, values = [0], [], []
    for text in texts:
        counts: dict[int, int] = {}
        for gram in analyse(text or ""):
            j = vocab.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        v = tf * idf[cols]
        norm = float(np.sqrt(v @ v)) if len(v) else 0.0
        indices.append(cols)
        values.append(v / norm if norm > 0 else v)
        indptr.append(indptr[-1] + len(cols))
    return sparse.csr_matrix(
        (
            np.concatenate(values) if values else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, np.int64),
            np.asarray(indptr),
        ),
        shape=(len(texts), len(vocab)),
    )
