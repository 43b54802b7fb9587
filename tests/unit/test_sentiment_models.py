"""The shipped linear sentiment model, its numpy scorer, training, and the transformer slot.

The scorer is checked against scikit-learn fitted on a seeded synthetic corpus (same analyzers,
so any difference is arithmetic); the shipped weights against obvious headlines, the latency
budget and, when shared/data/tfns is present, the held-out macro-F1 written in its card.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from fixtures.headlines import TFNS, median_single_latency, synthetic
from tradelake.errors import SentimentError
from tradelake.ml import sentiment
from tradelake.ml.sentiment import score_and_label, sentiment_model
from tradelake.ml.sentiment_linear import (
    CLASSES,
    DEFAULT_PATH,
    LinearSentimentModel,
    LinearWeights,
    char_ngrams,
    normalise,
    word_ngrams,
)


def test_normalisation_and_analyzers_match_scikit_learn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = "$AAPL jumps 5.2% to $190 after beat https://t.co/x  Q3 EPS 1,234"
    assert normalise(text) == "tkr jumps pct to num after beat q num eps num"
    ref_char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    ref_word = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b").build_analyzer()
    for sample in (text, "a b", "I", "Déjà vu — stocks rally!", ""):
        assert sorted(char_ngrams(sample)) == sorted(ref_char(normalise(sample)))
        assert sorted(word_ngrams(sample)) == sorted(ref_word(normalise(sample)))


def test_numpy_scorer_reproduces_the_fitted_scikit_learn_pipeline(tmp_path: Path) -> None:
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from tradelake.ml.sentiment import FinanceLexiconModel
    from tradelake.ml.sentiment_linear import lexicon_features

    texts, labels = synthetic(150, seed=3)
    word = TfidfVectorizer(analyzer=word_ngrams, sublinear_tf=True)
    char = TfidfVectorizer(analyzer=char_ngrams, min_df=2, sublinear_tf=True)
    lex = FinanceLexiconModel()
    x = sparse.hstack(
        [
            word.fit_transform(texts),
            char.fit_transform(texts),
            sparse.csr_matrix(lexicon_features(lex.score(texts))),
        ],
        format="csr",
    )
    clf = LogisticRegression(C=3.0, max_iter=2000).fit(x, labels)
    weights = LinearWeights(
        word_vocab=sorted(word.vocabulary_, key=word.vocabulary_.__getitem__),
        word_idf=word.idf_,
        char_vocab=sorted(char.vocabulary_, key=char.vocabulary_.__getitem__),
        char_idf=char.idf_,
        coef=clf.coef_,
        intercept=clf.intercept_,
        meta={"version": "t", "word_ngrams": [1, 2], "char_ngrams": [2, 5]},
    )
    path = weights.save(tmp_path / "w.npz")
    with np.load(path, allow_pickle=False) as z:  # no object arrays: loads without pickle
        assert all(z[k].dtype != object for k in z.files)
    model = LinearSentimentModel.load(path)
    unseen, _ = synthetic(40, seed=4)
    unseen += ["", "completely unrelated words zzz"]
    xu = sparse.hstack(
        [
            word.transform(unseen),
            char.transform(unseen),
            sparse.csr_matrix(lexicon_features(lex.score(unseen))),
        ],
        format="csr",
    )
    np.testing.assert_allclose(model.predict_proba(unseen), clf.predict_proba(xu), atol=2e-5)
    scores, labels_out = model.predict(unseen)
    assert np.all(np.abs(scores) <= 1.0)
    assert labels_out == [CLASSES[i] for i in clf.predict(xu)]


def test_shipped_model_labels_obvious_headlines_and_is_fast() -> None:
    model = sentiment_model("tfns_linear")
    assert re.fullmatch(r"tfns_linear:1\.0\.0", model.model_id)
    texts = [
        "Acme shares plunge after profit warning and analyst downgrade",
        "Acme beats estimates and raises guidance, stock jumps",
        "Acme to present at the Goldman Sachs technology conference",
    ]
    scores, labels = score_and_label(model, texts)
    assert labels == ["bearish", "bullish", "neutral"]
    assert scores[0] < -0.3 and scores[1] > 0.3 and abs(scores[2]) < 0.3
    assert median_single_latency(model, texts) < 0.05  # the 50 ms per headline budget


@pytest.mark.skipif(not TFNS.exists(), reason="shared/data/tfns is not on this machine")
def test_shipped_weights_reproduce_the_held_out_macro_f1_of_their_card() -> None:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split

    from tradelake.ml.train_sentiment import read_dataset

    meta = LinearWeights.load(DEFAULT_PATH).meta["metrics"]
    texts, labels = read_dataset(TFNS)
    assert len(texts) == meta["rows"] == 9543
    idx = np.arange(len(texts))
    _, va = train_test_split(idx, test_size=0.2, stratify=labels, random_state=0)
    model = LinearSentimentModel.load()
    pred = model.predict_proba([texts[i] for i in va]).argmax(axis=1)
    f1 = f1_score(labels[va], pred, average="macro")
    assert f1 == pytest.approx(meta["heldout"]["macro_f1"], abs=1e-9)
    assert f1 > 0.74  # far above always-neutral (about 0.26)
    card = (DEFAULT_PATH.parent / "SENTIMENT_LINEAR_MODEL_CARD.md").read_text()
    assert f"**{f1:.3f}**" in card


def test_training_writes_artefact_card_and_drift_sample(tmp_path: Path) -> None:
    from tradelake.ml.drift import TrainingSample
    from tradelake.ml.train_sentiment import TrainConfig, train

    texts, labels = synthetic(240, seed=5)
    csv = tmp_path / "data.csv"
    rows = [f'"{t}",{y}' for t, y in zip(texts, labels, strict=True)]
    csv.write_text("text,label\n" + "\n".join(rows) + '\n"multi\nline $ZZZ names new CFO",2\n')
    report = train(csv, tmp_path / "out", TrainConfig(model="tfns_linear", folds=2, c=3.0))
    assert report.metrics["rows"] == 241  # the quoted newline did not split a row
    assert report.metrics["heldout"]["macro_f1"] > 0.9
    assert len(report.metrics["cv"]["per_fold"]) == 2
    assert sum(map(sum, report.metrics["heldout"]["confusion"])) == 49
    assert report.artefact is not None and report.card is not None and report.sample is not None
    card = report.card.read_text()
    assert f"**{report.metrics['heldout']['macro_f1']:.3f}**" in card
    sample = TrainingSample.load(report.sample)
    assert sample.model == "sentiment" and len(sample.prediction) == 192
    assert "sentiment_model LIKE 'tfns_linear:%'" in sample.recent_sql
    trained = sentiment_model(f"tfns_linear:{report.artefact}")
    assert score_and_label(trained, ["$ABC soars on earnings beat"])[1] == ["bullish"]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,7\n")
    with pytest.raises(SentimentError, match="label other than 0, 1, 2"):
        train(bad, None, TrainConfig(model="tfns_linear"))


def test_transformer_slot_loads_a_local_sequence_classifier(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "shares", "plunge", "soar", "acme"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
        id2label={0: "positive", 1: "negative", 2: "neutral"},
        label2id={"positive": 0, "negative": 1, "neutral": 2},
    )
    import torch

    torch.manual_seed(0)
    folder = tmp_path / "finbert-tiny"
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    sentiment_model.cache_clear()
    model = sentiment_model(f"finbert:{folder}")
    texts = ["acme shares plunge", "acme shares soar", ""]
    scores, labels = score_and_label(model, texts)
    proba = model.predict_proba(texts)  # type: ignore[attr-defined]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(scores, proba[:, 0] - proba[:, 1], atol=1e-6)
    assert set(labels) <= {"bullish", "bearish", "neutral"}
    assert model.model_id.startswith("finbert:finbert-tiny-")
    with pytest.raises(SentimentError, match=r"no config\.json"):
        sentiment.MODELS["finbert"](str(tmp_path / "missing"))
    sentiment_model.cache_clear()


def test_the_lexicon_stays_registered_as_the_fallback() -> None:
    model = sentiment_model("lexicon")
    scores, labels = score_and_label(model, ["Stocks plunge", "Stocks soar", "Meeting on Monday"])
    assert labels == ["bearish", "bullish", "neutral"] and scores[0] < 0 < scores[1]
    assert json.loads(json.dumps(model.model_id)) == "lexicon:1"


def test_cli_trains_into_a_folder_and_scores_text(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from tradelake.cli import sentiment as sentiment_cli

    texts, labels = synthetic(150, seed=6)
    csv = tmp_path / "d.csv"
    csv.write_text(
        "text,label\n" + "\n".join(f'"{t}",{y}' for t, y in zip(texts, labels, strict=True))
    )
    app = typer.Typer()
    sentiment_cli.register(app)
    runner = CliRunner()
    home = tmp_path / "home"
    home.mkdir()
    args = ["sentiment", "train", "--data", str(csv), "--model", "tfns_linear", "--folds", "0"]
    args.append("--no-mlflow")
    out = runner.invoke(app, [*args, "--home", str(home), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert Path(result["artefact"]) == home / "models" / "sentiment" / "sentiment_tfns.npz"
    assert result["heldout"]["macro_f1"] > 0.9 and "mlflow" not in result
    scored = runner.invoke(
        app, ["sentiment", "score", "$ABC soars on earnings beat", "--model",
              f"tfns_linear:{result['artefact']}", "--json"],
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)[0]["label"] == "bullish"
    bad = runner.invoke(app, ["sentiment", "train", "--data", str(tmp_path / "none.csv")])
    assert bad.exit_code == 1 and "cannot read" in bad.output
