from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tradelake.ml import sentiment
from tradelake.ml.sentiment import FinanceLexiconModel, sentiment_model
from tradelake.sources.base import ParseContext
from tradelake.sources.news import parse_finnhub


@pytest.fixture(scope="module")
def model() -> FinanceLexiconModel:
    return FinanceLexiconModel()


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("Apple beats estimates, shares surge to record high", 1),
        ("Nvidia upgraded to outperform; stock rallies", 1),
        ("Retailer raises guidance after strong holiday sales", 1),
        ("Company cuts guidance; stock plunges after profit warning", -1),
        ("Analyst downgrade sends shares tumbling", -1),
        ("Lender files for Chapter 11 bankruptcy", -1),
        ("Fed signals another rate hike as inflation stays hot", -1),
        ("Earnings missed estimates by a wide margin", -1),
    ],
)
def test_finance_headlines_get_the_market_sign(
    model: FinanceLexiconModel, text: str, sign: int
) -> None:
    score = float(model.score([text])[0])
    assert score * sign > 0.3, (text, score)


def test_general_english_false_friends_are_neutral(model: FinanceLexiconModel) -> None:
    neutral = "Crude inventories and gross margin data; shares of the securities firm traded"
    assert float(model.score([neutral])[0]) == 0.0
    plain_vader = SentimentIntensityAnalyzer().polarity_scores(neutral)["compound"]
    assert plain_vader < -0.5  # what the overlay corrects
    assert SentimentIntensityAnalyzer().polarity_scores("Analyst downgrade")["compound"] == 0.0
    assert float(model.score(["Analyst downgrade"])[0]) < -0.3


def test_scores_are_ordered_bounded_and_empty_text_is_neutral(model: FinanceLexiconModel) -> None:
    texts = ["surge surge surge record beat upgrade!!!", "", "plunge bankruptcy default fraud", " "]
    scores = model.score(texts)
    assert scores.dtype == np.float64 and scores.shape == (4,)
    assert scores[0] > 0.9 and scores[2] < -0.9
    assert scores[1] == 0.0 and scores[3] == 0.0
    assert np.all(np.abs(scores) <= 1.0)


class _Constant:
    """A stand-in for a transformer: anything with ``model_id`` and ``score`` fits."""

    model_id = "constant:1"

    def __init__(self, location: str = "") -> None:
        self.location = location

    def score(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return np.full(len(texts), 0.25)


def test_a_registered_model_replaces_the_lexicon_in_the_news_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sentiment.MODELS, "constant", _Constant)
    sentiment_model.cache_clear()
    payload = (
        b'[{"category":"company","datetime":1795000000,"headline":"Shares plunge","id":1,'
        b'"image":"","related":"AAPL","source":"Yahoo","summary":"","url":"https://x.test/1"}]'
    )
    ctx = ParseContext(source="finnhub", options={"sentiment_model": "constant"})
    frame = parse_finnhub(payload, "f.json", ctx).frames["news_raw"]
    assert frame["sentiment"].to_list() == [0.25]
    assert frame["sentiment_label"].to_list() == ["bullish"]  # labelled by the score's sign
    assert frame["sentiment_model"].to_list() == ["constant:1"]
    with pytest.raises(KeyError, match="registered models: constant, finbert, lexicon, tfns"):
        sentiment_model("transformer")
    sentiment_model.cache_clear()
