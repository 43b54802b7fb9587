"""``tradelake model train signal | list | score``: the registered models on the command line.

Thin like the rest of the CLI: each command calls one :class:`~tradelake.platform.Platform`
method and prints through :class:`~tradelake.console.Console`. MLflow is ``[mlflow]
tracking_uri`` (default: embedded SQLite in the data home). ``model train`` is a group so
other models add their own ``train`` subcommand beside ``signal``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tradelake.cli.common import (
    HELP_MARKUP,
    CsvOpt,
    Exports,
    HomeOpt,
    JsonOpt,
    ParquetOpt,
    WideOpt,
    XlsxOpt,
    command,
    open_platform,
    show,
)
from tradelake.console import Console, rows_table

model_app = typer.Typer(
    help="Registered models: train the signal ensemble, list versions, score round trips.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
train_app = typer.Typer(
    help="Train a model, log it to MLflow, register it; promote it only if it is better.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)
model_app.add_typer(train_app, name="train")


def register(app: typer.Typer) -> None:
    """Add the ``model`` command group to the ``tradelake`` app."""
    app.add_typer(model_app, name="model")


@train_app.command("signal")
def train_signal(
    seed: Annotated[int, typer.Option(help="Seed of LightGBM's bagging.")] = 0,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train the signal ensemble (meta-labelling: will this round trip end in profit?).

    Builds a point-in-time feature row for every round trip's entry, measures the model with
    purged walk-forward cross-validation ([ensemble] folds, embargo_minutes), fits it on every
    row, writes the model card (models/signal_ensemble/MODEL_CARD.md in the data home), logs
    the run to MLflow and registers a version. The version becomes champion only if its
    walk-forward AUC beats the champion's with a log loss no worse.
    """
    with command(json) as console:
        platform = open_platform(home)
        with console.working("building entry features and walk-forward training"):
            report = platform.train_signal(seed=seed)
        if json:
            console.emit_json(report.to_dict())
            return
        verdict = "promoted to champion" if report.promoted else "not promoted"
        auc = report.metrics.get("wf_auc")
        shown_auc = "n/a" if auc is None else f"{auc:.3f}"
        console.info(
            f"signal_ensemble version {report.version}: {report.rows:,} round trips, "
            f"walk-forward AUC {shown_auc}, log loss {report.metrics['wf_log_loss']:.3f}, "
            f"Brier {report.metrics['wf_brier']:.3f}; {verdict} "
            f"(champion: version {report.champion_version}); {report.seconds:.0f} s"
        )
        folds = [
            {"fold": fold["fold"]} | {k: v for k, v in fold.items() if k != "fold"}
            for fold in [*report.walk_forward["folds"], report.walk_forward["pooled"]]
        ]
        console.frame(rows_table(folds), title="Walk-forward (out of sample)")
        console.info(f"model card: {report.card}")


@model_app.command("list")
def list_models(
    name: Annotated[
        str | None, typer.Option(help="Only this model (e.g. signal_ensemble).")
    ] = None,
    champions: Annotated[
        bool,
        typer.Option(
            "--champions",
            help="One row per desk model: its champion (registry, else the shipped model).",
        ),
    ] = False,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Every registered model version, newest first, with its aliases and headline metrics."""
    with command(json) as console:
        if champions:
            _print_champions(console, [c.to_dict() for c in open_platform(home).model_champions()])
            return
        versions = [v.to_dict() for v in open_platform(home).models(name)]
        if json:
            console.emit_json(versions)
            return
        if not versions:
            console.info("no registered models yet; train one with `tradelake model train signal`")
            return
        rows = [
            {
                "name": v["name"],
                "version": v["version"],
                "aliases": ", ".join(v["aliases"]),
                "metrics": ", ".join(f"{k}={m:.4g}" for k, m in sorted(v["metrics"].items())),
            }
            for v in versions
        ]
        console.frame(rows_table(rows), title="Registered models")


@model_app.command("score")
def score(
    round_trips: Annotated[
        list[str] | None, typer.Argument(help="Round trip ids (default: the newest entries).")
    ] = None,
    last: Annotated[int, typer.Option(min=1, help="How many of the newest entries.")] = 20,
    version: Annotated[
        str | None, typer.Option(help="A signal_ensemble version (default: the champion).")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Score round trips with the signal ensemble: the probability each ends in profit, from
    what was known at its entry, and whether the model would take it."""
    with command(json, wide=wide) as console:
        platform = open_platform(home)
        frame = platform.score_signal(round_trips or (), last=last, version=version)
        show(console, frame, Exports(csv, parquet, xlsx), title="Signal ensemble scores")


def _print_champions(console: Console, rows: list[dict[str, Any]]) -> None:
    if console.json_mode:
        console.emit_json(rows)
        return
    shown = [
        {
            "model": r["model"],
            "version": r["version"] or "—",
            "source": r["source"],
            "metrics": ", ".join(f"{k}={m:.4g}" for k, m in sorted(r["metrics"].items())),
        }
        for r in rows
    ]
    console.frame(rows_table(shown), title="Champions")
    for r in rows:
        console.info(f"{r['model']}: {r['note']}")


@model_app.command("drift")
def drift(
    home: HomeOpt = None,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Each model's latest drift check (what `tradelake drift` recorded), one row per feature."""
    with command(json, wide=wide) as console:
        frame = open_platform(home).model_drift()
        if frame.is_empty() and not json:
            console.note("no drift checks yet; run `tradelake drift`")
            return
        show(console, frame, Exports(csv, parquet, xlsx), title="Latest drift check per model")
