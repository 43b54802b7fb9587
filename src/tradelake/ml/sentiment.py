"""News sentiment behind one protocol: a trained linear model, a lexicon, a transformer slot.

:class:`SentimentModel` is the seam: ``score(texts) -> array in [-1, 1]`` plus a ``model_id``
that every scored row records. The news parsers score headline + body at parse time with the
model named by the feed's ``sentiment_model`` option (default :data:`DEFAULT_MODEL`,
``tfns_minilm``: the packaged MiniLM with top layers fine-tuned on TFNS,
:mod:`tradelake.ml.sentiment_minilm`; without the ``tradelake[sentiment]`` extra it logs one
line and scores with the trained ``tfns_linear``). A name is ``kind`` or ``kind:location``:
``tfns_linear:/path/to.npz`` or ``tfns_minilm:/path/to.safetensors`` loads other weights,
``finbert:/models/finbert`` or ``finbert:models:/finbert@champion`` a transformer
(:mod:`tradelake.ml.sentiment_transformer`).
Kinds are registered in :data:`MODELS`; :func:`score_and_label` gives every model a label.

:class:`FinanceLexiconModel` is VADER (``vaderSentiment`` ships its lexicon; ``finvader``
downloads NLTK data at import and fails offline, see shared/PITFALLS.md) with a finance overlay
in the spirit of Loughran & McDonald (2011): general-English lexicons misread finance text,
e.g. VADER gives ``crude`` −2.7, ``gross`` −2.1 and ``shares``/``interest``/``securities``
positive valences, and knows neither ``downgrade``, ``plunge`` nor ``beat``. The overlay
neutralises such words and adds market verbs and multi-word events ("guidance cut", "rate
hike", "beat estimates"), which are rewritten to single tokens before VADER tokenises on
whitespace. Valences use VADER's scale (−4 … +4); ``compound`` is already in [−1, 1].
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# Words whose general-English valence is wrong in market news (Loughran-McDonald's motivating
# examples: commodities, accounting terms, securities vocabulary).
NEUTRAL_IN_FINANCE: tuple[str, ...] = (
    "crude", "gross", "share", "shares", "interest", "credit", "security", "securities",
    "liability", "cancer", "mercy", "fine", "top", "limited", "risk", "risks",
)  # fmt: skip

FINANCE_WORDS: dict[str, float] = {
    "beat": 2.0, "beats": 2.0, "exceeded": 1.8, "exceeds": 1.8, "tops": 1.8,
    "upgrade": 2.2, "upgrades": 2.2, "upgraded": 2.2, "outperform": 2.0, "overweight": 1.2,
    "bullish": 2.0, "rally": 1.8, "rallies": 1.8, "rallied": 1.8, "surge": 2.2, "surges": 2.2,
    "surged": 2.2, "soar": 2.4, "soars": 2.4, "soared": 2.4, "jump": 1.5, "jumps": 1.5,
    "jumped": 1.5, "rebound": 1.4, "rebounds": 1.4, "record": 1.0, "buyback": 1.4,
    "raises": 1.0, "raised": 1.0, "upbeat": 2.0, "dividend": 0.6,
    "miss": -2.0, "misses": -2.0, "missed": -2.0, "downgrade": -2.2, "downgrades": -2.2,
    "downgraded": -2.2, "underperform": -2.0, "underweight": -1.2, "bearish": -2.0,
    "plunge": -2.6, "plunges": -2.6, "plunged": -2.6, "tumble": -2.2, "tumbles": -2.2,
    "tumbled": -2.2, "slump": -2.2, "slumps": -2.2, "slumped": -2.2, "sink": -1.8,
    "sinks": -1.8, "sank": -1.8, "slide": -1.5, "slides": -1.5, "drops": -1.5,
    "dropped": -1.5, "falls": -1.4, "fell": -1.4, "decline": -1.4, "declines": -1.4,
    "declined": -1.4, "bankruptcy": -3.2, "bankrupt": -3.2, "default": -2.4,
    "defaults": -2.4, "layoffs": -2.0, "lawsuit": -1.6, "probe": -1.6,
    "investigation": -1.6, "recall": -1.6, "delisting": -2.6, "delisted": -2.6,
    "writedown": -2.0, "impairment": -1.8, "restatement": -2.0, "warns": -1.6,
    "volatile": -0.8, "inflation": -0.6, "recession": -2.4,
}  # fmt: skip

FINANCE_PHRASES: dict[str, float] = {
    "guidance cut": -2.6, "cuts guidance": -2.6, "lowers guidance": -2.4,
    "profit warning": -2.8, "rate hike": -1.4, "rate hikes": -1.4, "rate cut": 1.0,
    "rate cuts": 1.0, "beat estimates": 2.4, "beats estimates": 2.4, "missed estimates": -2.4,
    "misses estimates": -2.4, "raises guidance": 2.4, "price target cut": -1.8,
    "price target raised": 1.8, "going concern": -2.8, "chapter 11": -3.2,
    "short seller": -1.2, "all-time high": 1.6, "record high": 1.6, "52-week low": -1.4,
    "sell-off": -2.0, "selloff": -2.0,
}  # fmt: skip


class SentimentModel(Protocol):
    """Scores texts in [-1, 1] (negative = bearish); one float per text, same order.

    ``model_id`` (``kind:version``) is what ``news.sentiment_model`` stores, so a re-score with
    another model is a new version of the story (see :data:`tradelake.sources.feed_tables`).
    """

    model_id: str

    def score(self, texts: Sequence[str]) -> NDArray[np.float64]: ...


LABELS: tuple[str, ...] = ("bearish", "bullish", "neutral")
NEUTRAL_BAND = 0.05  # VADER's own convention: |compound| < 0.05 is neutral


def score_and_label(model: SentimentModel, texts: Sequence[str]) -> tuple[list[float], list[str]]:
    """Scores and labels; a model with its own classes (``predict``) labels by them, any other
    by the sign of its score outside :data:`NEUTRAL_BAND`."""
    if not texts:
        return [], []
    predict = getattr(model, "predict", None)
    if callable(predict):
        scores, labels = predict(texts)
        return [float(s) for s in scores], list(labels)
    raw = model.score(texts)
    return [float(s) for s in raw], [_band(float(s)) for s in raw]


def _band(score: float) -> str:
    if score >= NEUTRAL_BAND:
        return "bullish"
    if score <= -NEUTRAL_BAND:
        return "bearish"
    return "neutral"


class FinanceLexiconModel:
    """VADER with the finance overlay; deterministic, offline, about 25 µs per headline here."""

    model_id = "lexicon:1"

    def __init__(
        self,
        words: Mapping[str, float] = FINANCE_WORDS,
        phrases: Mapping[str, float] = FINANCE_PHRASES,
        neutral: Sequence[str] = NEUTRAL_IN_FINANCE,
    ) -> None:
        self._analyzer = SentimentIntensityAnalyzer()
        lexicon = self._analyzer.lexicon
        for word in neutral:
            lexicon.pop(word, None)
        lexicon.update(words)
        self._phrase_tokens = {p: _phrase_token(p) for p in phrases}
        lexicon.update({self._phrase_tokens[p]: v for p, v in phrases.items()})
        self._phrases = _phrase_pattern(phrases)

    def score(self, texts: Sequence[str]) -> NDArray[np.float64]:
        scores = [self._score_one(text) for text in texts]
        return np.clip(np.asarray(scores, dtype=np.float64), -1.0, 1.0)

    def _score_one(self, text: str) -> float:
        if not text or not text.strip():
            return 0.0
        joined = self._phrases.sub(lambda m: self._phrase_tokens[m.group(0).lower()], text)
        return float(self._analyzer.polarity_scores(joined)["compound"])


def _lexicon(_location: str) -> SentimentModel:
    return FinanceLexiconModel()


def _linear(location: str) -> SentimentModel:
    from tradelake.ml.sentiment_linear import LinearSentimentModel

    return LinearSentimentModel.load(location)


def _minilm(location: str) -> SentimentModel:
    from tradelake.ml.sentiment_minilm import load_default

    model: SentimentModel = load_default(location)
    return model


def _transformer(location: str) -> SentimentModel:
    from tradelake.ml.sentiment_transformer import TransformerSentimentModel

    return TransformerSentimentModel.load(location)


# kind -> factory(location); location is "" for the kind's default.
MODELS: dict[str, Callable[[str], SentimentModel]] = {
    "lexicon": _lexicon,
    "tfns_linear": _linear,
    "tfns_minilm": _minilm,
    "finbert": _transformer,
}
DEFAULT_MODEL = "tfns_minilm"


@cache
def sentiment_model(name: str = DEFAULT_MODEL) -> SentimentModel:
    """The shared instance of model ``name`` (``kind`` or ``kind:location``), built once per
    process (weights and VADER's lexicon load once)."""
    kind, _, location = name.partition(":")
    try:
        factory = MODELS[kind]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise KeyError(f"unknown sentiment model {name!r}; registered models: {known}") from None
    return factory(location)


def _phrase_token(phrase: str) -> str:
    # VADER splits on whitespace and strips edge punctuation only, so "guidance_cut" survives
    # as one token and is looked up in the lexicon like any word.
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower())


def _phrase_pattern(phrases: Mapping[str, float]) -> re.Pattern[str]:
    longest_first = sorted(phrases, key=len, reverse=True)
    return re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(p) for p in longest_first) + r")(?![\w-])",
        re.IGNORECASE,
    )
