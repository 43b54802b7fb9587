"""``tradelake vision classify | similar | train``: the chart CNN on the command line.

Thin like the rest of the CLI: each command calls one :class:`~tradelake.platform.Platform`
method and prints through :class:`~tradelake.console.Console`. The model is ``[vision] model``
(default: the shipped checkpoint); MLflow is ``[mlflow] tracking_uri`` (default: embedded
SQLite in the data home).

Exit codes: 0 on success, 1 for a setup error (no feature store, no model), 2 when
``classify`` could not read or decode some of the files (the others are still reported).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tradelake.cli.common import (
    EXIT_PARTIAL,
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
    rows_frame,
    write_exports,
)
from tradelake.console import Console, rows_table, shown

vision_app = typer.Typer(
    help="Chart screenshots: classify patterns, find similar setups, train the CNN.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)


def register(app: typer.Typer) -> None:
    """Add the ``vision`` command group to the ``tradelake`` app."""
    app.add_typer(vision_app, name="vision")


@vision_app.command("classify")
def classify(
    paths: Annotated[list[Path], typer.Argument(help="PNG/JPEG screenshots or folders of them.")],
    home: HomeOpt = None,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Classify the chart pattern completing on each screenshot's right edge.

    Prints, per image, the signal, its calibrated probability and every class probability.
    Exit code 2 when any file could not be read or decoded.
    """
    with command(json, wide=wide) as console:
        results = [r.to_dict() for r in open_platform(home).classify_images(paths)]
        _print_classified(console, results)
        write_exports(console, rows_frame(results), Exports(csv, parquet, xlsx))
        if any("error" in r for r in results):
            raise typer.Exit(EXIT_PARTIAL)


@vision_app.command("evaluate")
def evaluate(
    folder: Annotated[Path, typer.Argument(help="Folder of labelled screenshots.")],
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="CSV with columns file,label (paths relative to it). Default: FOLDER/labels.csv "
            "if present, else the sub-folder names.",
        ),
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Score the chart model on labelled screenshots: per-class precision/recall/F1, macro-F1,
    accuracy, confusion matrix (rows true, columns predicted) and calibration error (ECE).

    The exports (--csv/--parquet/--xlsx) hold one row per file: label, prediction, probability.
    Exit code 1 for an unknown label or a missing file (nothing scored), 2 when some files could
    not be decoded (they are left out of the metrics).
    """
    with command(json) as console:
        platform = open_platform(home)
        total = _count_hint(folder, labels)
        with console.progress(total, "evaluating") as advance:
            result = platform.evaluate_images(folder, labels, advance)
        write_exports(
            console, rows_frame([r.to_dict() for r in result.rows]), Exports(csv, parquet, xlsx)
        )
        if json:
            console.emit_json(result.to_dict())
        else:
            _print_evaluation(console, result.to_dict())
        if result.errors:
            raise typer.Exit(EXIT_PARTIAL)


def _count_hint(folder: Path, labels: Path | None) -> int:
    """How many files the progress bar should expect (0: no bar; errors surface later)."""
    from tradelake.jobs.vision import image_files
    from tradelake.jobs.vision_evaluate import LABELS_CSV

    csv_path = labels or (folder / LABELS_CSV)
    try:
        if csv_path.is_file():
            return max(0, sum(1 for _ in csv_path.open(encoding="utf-8-sig")) - 1)
        return len(image_files([folder])) if folder.is_dir() else 0
    except OSError:
        return 0


def _print_evaluation(console: Console, result: dict[str, Any]) -> None:
    for row in result["errors"]:
        console.error(row["error"])
    console.frame(rows_table(result["per_class"]), title="Per class")
    classes = result["classes"]
    confusion = [
        {"true class": c, **dict(zip(classes, row, strict=True))}
        for c, row in zip(classes, result["confusion"], strict=True)
    ]
    console.frame(rows_table(confusion), title="Confusion matrix (rows: true class)")
    console.info(
        f"{result['n']} images: macro-F1 [bold]{result['macro_f1']:.4f}[/], accuracy "
        f"{result['accuracy']:.4f}, ECE {result['ece']:.4f} "
        f"(model {result['model_version']}; labels from {shown(result['labels_from'])})"
    )


@vision_app.command("similar")
def similar(
    image: Annotated[Path, typer.Argument(help="The screenshot to look up.")],
    k: Annotated[int, typer.Option("--k", min=1, help="How many similar frames.")] = 5,
    home: HomeOpt = None,
    json: JsonOpt = False,
    wide: WideOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Find the stored frames (img_signals) whose chart looks most like IMAGE."""
    with command(json, wide=wide) as console:
        result = open_platform(home).similar_setups(image, k=k)
        payload = result.to_dict()
        write_exports(console, rows_frame(payload["matches"]), Exports(csv, parquet, xlsx))
        if json:
            console.emit_json(payload)
            return
        console.info(
            f"{shown(image.name)}: [bold]{result.signal}[/] ({result.prob:.2f}); "
            f"searched {result.searched} frames of model {result.model_version}"
        )
        rows = [
            {
                "frame_id": m.frame_id,
                "score": round(m.score, 4),
                "signal": m.signal,
                "prob": m.prob,
                "device": m.device,
                "ts": m.ts,
            }
            for m in result.matches
        ]
        console.frame(rows_table(rows), title="Similar setups")


@vision_app.command("train")
def train(
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 3,
    n_train: Annotated[int, typer.Option(min=14, help="Synthetic training charts.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed for data, init and shuffling.")] = 0,
    time_budget: Annotated[
        float | None, typer.Option(help="Stop (and still save) after about this many seconds.")
    ] = None,
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train the chart CNN on CPU, evaluate on the held-out style, log and register in MLflow.

    The defaults take a few minutes on two CPU cores and give a far weaker model than the
    shipped one (trained on a GPU on 118k charts, see ml/weights/MODEL_CARD.md), so the new
    version is registered but stays unpromoted; it becomes ``champion`` only if its held-out
    macro-F1 beats the current champion's. An empty registry is first seeded with the
    shipped checkpoint.
    """
    with command(json) as console:
        platform = open_platform(home)
        with console.progress(epochs, "training") as advance:
            report = platform.train_vision(
                epochs=epochs,
                n_train=n_train,
                seed=seed,
                time_budget=time_budget,
                progress=advance,
            )
        if json:
            console.emit_json(report.to_dict())
            return
        if report.baseline_version:
            console.info(f"registered the shipped checkpoint as version {report.baseline_version}")
        verdict = "promoted to champion" if report.promoted else "not promoted"
        console.info(
            f"version {report.version}: held-out macro-F1 {report.heldout_macro_f1:.4f}, "
            f"accuracy {report.heldout_accuracy:.4f}, {verdict} "
            f"(champion: version {report.champion_version}); {report.seconds:.0f} s; "
            f"MLflow {report.tracking_uri}"
        )


def _print_classified(console: Console, results: list[dict[str, Any]]) -> None:
    if console.json_mode:
        console.emit_json(results)
        return
    for row in results:
        if "error" in row:
            console.error(row["error"])
    rows = [
        {"file": r["file"], "signal": r["signal"], "prob": round(r["prob"], 4)}
        for r in results
        if "error" not in r
    ]
    if rows:
        console.frame(rows_table(rows), title="Chart patterns")
