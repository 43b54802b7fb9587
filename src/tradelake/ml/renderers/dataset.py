"""Labelled chart sets drawn by one renderer: in memory for training, or as a folder of PNGs.

Every chart ``i`` of a set gets its own generator seeded from ``(seed, i)``, so a set is the
same whatever the worker count, and any one chart can be redrawn from its ``seed`` column in
``labels.csv`` with :func:`render_item`. Classes are balanced: ``per_class`` charts each,
chart ``i`` has label ``CLASSES[i // per_class]``.

The folder layout is what ``tradelake vision evaluate`` reads: ``DIR/<label>/NNNN.png`` plus
``DIR/labels.csv`` with columns ``file,label,renderer,seed`` (``file`` relative to ``DIR``).
"""

from __future__ import annotations

import csv
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tradelake.ml.charts import CLASSES, generate_path

Progress = Callable[[str], None]
Transform = Callable[[Image.Image], Any]
LABELS_CSV = "labels.csv"
LABELS_COLUMNS = ("file", "label", "renderer", "seed")


@dataclass(frozen=True)
class DatasetRow:
    """One written chart: its file (relative to the set's folder), label, renderer and seed."""

    file: str
    label: str
    renderer: str
    seed: int


def item_seed(seed: int, index: int) -> int:
    """The seed of chart ``index`` in a set seeded ``seed`` (independent of the worker count)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def render_item(name: str, label: str, seed: int) -> Image.Image:
    """Draw one verified ``label`` chart with renderer ``name`` from its item seed."""
    from tradelake.ml.renderers import render_chart

    rng = np.random.default_rng(seed)
    return render_chart(name, generate_path(rng, label), rng)


def _labels(per_class: int) -> list[str]:
    return [c for c in CLASSES for _ in range(per_class)]


def _draw(job: tuple[str, str, int, Transform | None]) -> tuple[Any, str]:
    name, label, seed, transform = job
    img = render_item(name, label, seed)
    return (transform(img) if transform is not None else img), label


def _write(job: tuple[str, str, int, str, str]) -> DatasetRow:
    name, label, seed, out, rel = job
    render_item(name, label, seed).save(Path(out) / rel, format="PNG", compress_level=1)
    return DatasetRow(rel, label, name, seed)


def _run(jobs: list[Any], fn: Callable[[Any], Any], workers: int) -> Iterator[Any]:
    if workers <= 1:
        yield from map(fn, jobs)
        return
    # spawn, not fork: vl-convert runs a JavaScript runtime on its own threads, which a fork
    # of an initialised parent would copy half-alive.
    with mp.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(fn, jobs, chunksize=max(1, min(16, len(jobs) // (workers * 4))))


def render_dataset(
    name: str,
    per_class: int,
    seed: int,
    workers: int = 1,
    progress: Progress | None = None,
    transform: Transform | None = None,
) -> list[tuple[Any, str]]:
    """``per_class`` charts of every class drawn by renderer ``name``: ``(RGB image, label)``
    in class order (shuffle before training).

    Images are full-size screenshots (up to ~6 MB each) unless ``transform`` is given: it is
    applied in the worker (e.g. ``functools.partial(ml.vision.preprocess, size=(h, w))``, a
    picklable callable), so only its small result crosses processes and stays in memory.
    """
    from tradelake.ml.renderers import get_renderer

    get_renderer(name)  # fail before spawning workers
    labels = _labels(per_class)
    jobs = [(name, lab, item_seed(seed, i), transform) for i, lab in enumerate(labels)]
    out: list[tuple[Any, str]] = []
    for item in _run(jobs, _draw, workers):
        out.append(item)
        if progress:
            progress(item[1])
    return out


def write_dataset(
    name: str,
    per_class: int,
    seed: int,
    out: Path,
    workers: int = 1,
    progress: Progress | None = None,
) -> list[DatasetRow]:
    """Write ``out/<label>/NNNN.png`` and ``out/labels.csv`` (see the module docstring)."""
    from tradelake.ml.renderers import get_renderer

    get_renderer(name)
    labels = _labels(per_class)
    for c in CLASSES:
        (out / c).mkdir(parents=True, exist_ok=True)
    jobs = [
        (name, lab, item_seed(seed, i), str(out), f"{lab}/{i % per_class:04d}.png")
        for i, lab in enumerate(labels)
    ]
    rows: list[DatasetRow] = []
    for row in _run(jobs, _write, workers):
        rows.append(row)
        if progress:
            progress(row.file)
    write_labels(out / LABELS_CSV, rows)
    return rows


def write_labels(path: Path, rows: Iterable[DatasetRow]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LABELS_COLUMNS)
        for r in rows:
            w.writerow([r.file, r.label, r.renderer, r.seed])
