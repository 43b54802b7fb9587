"""``tradelake sentiment train | rescore | score`` and ``tradelake drift``.

Thin like the rest of the CLI: one :class:`~tradelake.platform.Platform` call per command,
output through :class:`~tradelake.console.Console`, ``--json`` for scripts. The signal
ensemble's ``tradelake model ...`` group lives in its own module; drift is generic (any model
that logged a training sample), so it is a top-level command.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from tradelake.cli.common import HELP_MARKUP, HomeOpt, JsonOpt, command, open_platform
from tradelake.console import rows_table

DEFAULT_DATA = Path("../shared/data/tfns/train.csv")

sentiment_app = typer.Typer(
    help="News sentiment: train the shipped model, re-score stored news, score text.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)


def register(app: typer.Typer) -> None:
    """Add ``sentiment`` and ``drift`` to the ``tradelake`` app."""
    app.add_typer(sentiment_app, name="sentiment")
    app.command("drift")(drift)


@sentiment_app.command("train")
def train(
    data: Annotated[
        Path, typer.Option(help="text,label CSV (0 bearish, 1 bullish, 2 neutral).")
    ] = DEFAULT_DATA,
    out: Annotated[
        Path | None, typer.Option(help="Folder for weights and card (default <home>/models).")
    ] = None,
    model: Annotated[
        str, typer.Option(help="tfns_minilm (the default, ~10 min on CPU) or tfns_linear (~1 min).")
    ] = "tfns_minilm",
    folds: Annotated[
        int, typer.Option(min=0, help="Cross-validation folds (0 skips; each fold is one fit).")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split and folds.")] = 0,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Do not log to MLflow.")] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train the news-sentiment model, write its weights and model card, register in MLflow.

    Use the result with a feed option sentiment_model = "<model>:<artefact>", e.g.
    "tfns_minilm:<out>/sentiment_minilm.safetensors".
    """
    with command(json) as console:
        result = open_platform(home).train_sentiment(
            data, out_dir=out, model=model, folds=folds, seed=seed, publish=not no_mlflow,
            progress=console.info if not json else None,
        )  # fmt: skip
        if json:
            console.emit_json(result)
            return
        heldout = result["heldout"]
        assert isinstance(heldout, dict)
        console.info(
            f"held-out macro-F1 {heldout['macro_f1']:.4f}; weights {result['artefact']}; "
            f"card {result['card']}"
        )
        if "mlflow" in result:
            console.info(f"MLflow: {result['mlflow']}")


@sentiment_app.command("rescore")
def rescore(
    model: Annotated[str, typer.Argument(help="Model name, e.g. tfns_linear or lexicon.")],
    days: Annotated[
        float | None, typer.Option(help="Only stories published in the last DAYS.")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Score stored news with MODEL; each story whose model changes gets a new version."""
    with command(json) as console:
        since = datetime.now(UTC) - timedelta(days=days) if days is not None else None
        result = open_platform(home).rescore_news(model, since=since)
        if json:
            console.emit_json(result.to_dict())
            return
        console.info(
            f"{result.stories} stories re-scored by {result.model}: {result.versions} new versions"
        )


@sentiment_app.command("score")
def score(
    texts: Annotated[list[str], typer.Argument(help="Headlines to score.")],
    model: Annotated[str, typer.Option(help="Model name.")] = "tfns_minilm",
    json: JsonOpt = False,
) -> None:
    """Score headlines (no data home needed)."""
    from tradelake.ml.sentiment import score_and_label, sentiment_model

    with command(json) as console:
        m = sentiment_model(model)
        scores, labels = score_and_label(m, texts)
        rows = [
            {"text": t, "score": round(s, 4), "label": lab, "model": m.model_id}
            for t, s, lab in zip(texts, scores, labels, strict=True)
        ]
        if json:
            console.emit_json(rows)
            return
        console.frame(rows_table(rows), title="Sentiment")


def drift(
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Model(s) to check (default: all).")
    ] = None,
    days: Annotated[
        float | None, typer.Option(help="Recent window in days (default [drift] days or 7).")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """PSI and Kolmogorov–Smirnov per feature and on predictions, training vs the last days.

    Results are appended to the model_drift table; breaches go to the alert sinks. Exit code
    3 when any feature breached.
    """
    with command(json) as console:
        reports = open_platform(home).drift(model or None, days=days)
        if json:
            console.emit_json([r.to_dict() for r in reports])
        else:
            for r in reports:
                rows = [
                    {
                        "feature": f.feature,
                        "psi": round(f.psi, 4),
                        "ks": round(f.ks_stat, 4),
                        "ks_p": f"{f.ks_pvalue:.2g}",
                        "train_n": f.train_n,
                        "recent_n": f.recent_n,
                        "breach": "BREACH" if f.breach else "",
                    }
                    for f in r.features
                ]
                console.frame(rows_table(rows), title=f"Drift: {r.model} ({r.model_version})")
                if r.breaches:
                    console.info(f"{len(r.breaches)} breach(es); {r.alerts_sent} alert(s) sent")
        if any(r.breaches for r in reports):
            raise typer.Exit(EXIT_DRIFT)


EXIT_DRIFT = 3
