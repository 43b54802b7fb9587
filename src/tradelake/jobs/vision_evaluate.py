"""``tradelake vision evaluate``: score the chart model on a labelled folder of screenshots.

A desk checks the model on its own screens before trusting it: a folder of screenshots whose
labels come from ``labels.csv`` (columns ``file,label``; ``file`` relative to the CSV's folder;
more columns are ignored) or, without one, from sub-folder names (``DIR/double_top/x.png``).
This is also the folder layout ``python -m tradelake.ml.renderers`` writes.

A label the model does not know, a listed file that does not exist, or a folder with no
labels at all stops the run with one line saying what to fix (nothing is scored). A file that
exists but cannot be decoded is reported per file and left out of the metrics.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradelake.errors import VisionError
from tradelake.jobs.vision import image_files
from tradelake.ml.evaluation import EvaluationReport, evaluate

if TYPE_CHECKING:
    from tradelake.ml.vision import ChartClassifier

Progress = Callable[[str], None]
LABELS_CSV = "labels.csv"


@dataclass(frozen=True)
class Scored:
    """One screenshot's true label and the model's answer (or why it has none)."""

    file: str
    label: str
    predicted: str | None = None
    prob: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"file": self.file, "label": self.label, "error": self.error}
        return {
            "file": self.file,
            "label": self.label,
            "predicted": self.predicted,
            "prob": self.prob,
        }


@dataclass(frozen=True)
class FolderEvaluation:
    report: EvaluationReport
    rows: list[Scored]
    model_version: str
    labels_from: str  # the labels.csv used, or "sub-folders"

    @property
    def errors(self) -> list[Scored]:
        return [r for r in self.rows if r.error is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "model_version": self.model_version,
            "labels_from": self.labels_from,
            "errors": [r.to_dict() for r in self.errors],
        }


def labelled_files(
    folder: Path, labels_csv: Path | None, classes: Sequence[str]
) -> tuple[list[tuple[Path, str]], str]:
    """``(file, label)`` pairs of ``folder`` and where the labels came from.

    ``labels_csv`` defaults to ``folder/labels.csv`` when that exists; otherwise the labels
    are the names of the sub-folders the images sit in.
    """
    if not folder.is_dir():
        raise VisionError(f"{folder} is not a folder; pass the folder of labelled screenshots")
    if labels_csv is None and (folder / LABELS_CSV).is_file():
        labels_csv = folder / LABELS_CSV
    pairs = _from_csv(labels_csv) if labels_csv is not None else _from_subfolders(folder)
    source = str(labels_csv) if labels_csv is not None else "sub-folders"
    if not pairs:
        raise VisionError(
            f"no labelled images in {folder}: put them in sub-folders named by class "
            f"({', '.join(classes)}) or list them in a labels.csv with columns file,label"
        )
    unknown = sorted({lab for _, lab in pairs} - set(classes))
    if unknown:
        raise VisionError(
            f"unknown label(s) {', '.join(map(repr, unknown))} in {source}; "
            f"the model knows {', '.join(classes)}"
        )
    missing = [p for p, _ in pairs if not p.is_file()]
    if missing:
        raise VisionError(
            f"{len(missing)} labelled file(s) do not exist (first: {missing[0]}); "
            f"fix the paths in {source} (they are relative to its folder)"
        )
    return pairs, source


def _from_csv(path: Path) -> list[tuple[Path, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
                raise VisionError(
                    f"{path} needs a header with columns file,label "
                    f"(found {', '.join(reader.fieldnames or []) or 'nothing'})"
                )
            return [
                (path.parent / row["file"].strip(), row["label"].strip())
                for row in reader
                if (row.get("file") or "").strip()
            ]
    except OSError as exc:
        raise VisionError(f"cannot read {path} ({exc.strerror or exc}); check the path") from exc


def _from_subfolders(folder: Path) -> list[tuple[Path, str]]:
    pairs: list[tuple[Path, str]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        pairs.extend((f, sub.name) for f in image_files([sub]))
    return pairs


def evaluate_folder(
    clf: ChartClassifier,
    folder: Path,
    labels_csv: Path | None = None,
    progress: Progress | None = None,
) -> FolderEvaluation:
    """Classify every labelled screenshot of ``folder`` and compute the metrics."""
    pairs, source = labelled_files(folder, labels_csv, clf.classes)
    label_of = dict(pairs)
    rows: list[Scored] = []
    probs: list[list[float]] = []
    truth: list[int] = []
    for path, outcome in clf.classify_files([p for p, _ in pairs]):
        label = label_of[path]
        if isinstance(outcome, VisionError):
            rows.append(Scored(str(path), label, error=str(outcome)))
        else:
            rows.append(Scored(str(path), label, outcome.signal, outcome.prob))
            probs.append([outcome.probs[c] for c in clf.classes])
            truth.append(clf.classes.index(label))
        if progress:
            progress(path.name)
    report = evaluate(
        truth, np.asarray(probs, np.float64).reshape(-1, len(clf.classes)), clf.classes
    )
    return FolderEvaluation(report, rows, clf.model_version, source)
