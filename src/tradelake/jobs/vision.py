"""The chart-vision jobs behind ``tradelake vision``: classify, similar setups, train, frames.

Plain functions over the layers (the platform facade wires them from settings):

- :func:`classify_paths`: screenshots → signal and calibrated probabilities, one result per
  file; a file that cannot be read or decoded gets an error and the others go on.
- :func:`similar_setups`: embed one screenshot and find the closest frames stored in the
  feature store's ``img_signals`` (exact cosine, :class:`~tradelake.ml.similarity.EmbeddingIndex`
  over the cached matrix of :mod:`tradelake.features.embeddings`). Only frames embedded by the
  same model version are searched: two models' embedding spaces are not comparable.
- :func:`train_and_publish`: train on synthetic charts, evaluate on the held-out style, log to
  MLflow, register a version and promote it only if it beats the champion. When the registry
  has no champion yet, the shipped checkpoint is registered first, so a quick CPU run never
  displaces the better GPU-trained model by default.
- :func:`ingest_frame`: the real-time entry: land one captured frame as ``screen:<device>`` and
  stage its ``img_signals`` row (what the CV worker calls per frame).

torch and MLflow are imported inside the functions: ``tradelake --help`` must stay fast and the
rest of the CLI must work where the ``vision`` extra is not installed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from tradelake.errors import ConfigError, FeatureStoreError, VisionError
from tradelake.features import FeatureStore
from tradelake.features.embeddings import load_embeddings
from tradelake.jobs.ingest import FileResult, IngestEnv, process_object
from tradelake.landing import LandingStore, PutResult
from tradelake.sources.base import get_source
from tradelake.sources.screens import IMG_SIGNALS, SCREEN_SOURCE_PREFIX

if TYPE_CHECKING:
    from tradelake.ml.vision import ChartClassifier

Progress = Callable[[str], None]
_DEVICE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ImageResult:
    """One file's classification, or why it has none."""

    file: str
    signal: str | None = None
    prob: float | None = None
    probs: dict[str, float] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"file": self.file, "error": self.error}
        return {"file": self.file, "signal": self.signal, "prob": self.prob, "probs": self.probs}


@dataclass(frozen=True)
class SimilarSetup:
    """A stored frame close to the query; ``score`` is the cosine similarity in [-1, 1]."""

    frame_id: str
    score: float
    signal: str
    prob: float
    device: str
    ts: datetime
    source: str


@dataclass(frozen=True)
class SimilarResult:
    """The query image's own prediction and its nearest stored frames, best first."""

    file: str
    signal: str
    prob: float
    model_version: str
    searched: int
    matches: list[SimilarSetup] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainReport:
    """What ``tradelake vision train`` did; ``baseline_version`` is set when it seeded the
    registry with the shipped checkpoint."""

    run_id: str
    version: str
    promoted: bool
    champion_version: str
    heldout_macro_f1: float
    heldout_accuracy: float
    champion_macro_f1: float | None
    epochs: int
    n_train: int
    seconds: float
    tracking_uri: str
    baseline_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories walked (sorted) for the screenshot suffixes only."""
    suffixes = set(get_source("screens").suffixes)
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
            )
        else:
            files.append(path)
    return files


def classify_paths(clf: ChartClassifier, paths: Sequence[Path]) -> list[ImageResult]:
    """Classify every screenshot under ``paths``, in order; errors are per file."""
    results: list[ImageResult] = []
    for path, outcome in clf.classify_files(image_files(paths)):
        if isinstance(outcome, VisionError):
            results.append(ImageResult(str(path), error=str(outcome)))
        else:
            results.append(ImageResult(str(path), outcome.signal, outcome.prob, outcome.probs))
    return results


def similar_setups(
    clf: ChartClassifier, store: FeatureStore, image: Path, k: int = 5
) -> SimilarResult:
    """The ``k`` stored frames most similar to ``image`` under the same model version.

    Warm calls touch no DuckDB connection: the matrix and the frames' columns come from the
    memory-mapped cache of :func:`~tradelake.features.embeddings.load_embeddings`.
    """
    try:
        data = image.read_bytes()
    except OSError as exc:
        raise VisionError(f"cannot read {image} ({exc.strerror or exc}); check the path") from exc
    return similar_to(clf, store, data, str(image), k)


def classify_bytes(clf: ChartClassifier, data: bytes, name: str) -> ImageResult:
    """One screenshot given as bytes (an upload), classified as :func:`classify_paths` does
    a file; an undecodable image gets an error result."""
    outcome = clf.predict_many([data])[0]
    if isinstance(outcome, VisionError):
        return ImageResult(name, error=str(outcome))
    return ImageResult(name, outcome.signal, outcome.prob, outcome.probs)


def similar_to(
    clf: ChartClassifier, store: FeatureStore, data: bytes, name: str, k: int = 5
) -> SimilarResult:
    """:func:`similar_setups` of an image given as bytes (``name`` labels it in errors)."""
    from tradelake.ml.similarity import EmbeddingIndex

    query = clf.predict_many([data])[0]
    if isinstance(query, VisionError):
        raise VisionError(f"{name}: {query}")
    found = load_embeddings(
        store,
        table=IMG_SIGNALS.latest,
        columns=("signal", "prob", "device", "ts", "source"),
        where=("model_version = ?", [clf.model_version]),
    )
    if len(found) == 0:
        raise _no_frames(store, clf.model_version)
    hits = EmbeddingIndex(found.matrix, normalized=True).search(query.embedding, k)
    # Row slices are zero-copy; Table.take would first concatenate a million-row column.
    rows = [found.rows.slice(position, 1).to_pylist()[0] for position, _ in hits]
    matches = [SimilarSetup(score=score, **row) for row, (_, score) in zip(rows, hits, strict=True)]
    return SimilarResult(name, query.signal, query.prob, clf.model_version, len(found), matches)


def train_and_publish(
    *,
    home: Path,
    tracking_uri: str,
    epochs: int,
    n_train: int,
    seed: int = 0,
    time_budget: float | None = None,
    progress: Progress | None = None,
) -> TrainReport:
    """Train on CPU-sized data, log and register the model, promote it only if better."""
    try:
        from tradelake.ml import registry
        from tradelake.ml.train_vision import train
        from tradelake.ml.vision import WEIGHTS
    except ImportError as exc:
        raise VisionError(
            f"training needs the vision extra ({exc.name} is missing); "
            "pip install 'tradelake[vision]'"
        ) from exc

    baseline = None
    with _quiet_mlflow():
        if registry.current_champion(tracking_uri=tracking_uri, home=home) is None:
            seeded = registry.publish(
                WEIGHTS, tracking_uri=tracking_uri, home=home, params={"origin": "shipped"}
            )
            baseline = seeded.version
        champion = registry.current_champion(tracking_uri=tracking_uri, home=home)

    def epoch_done(row: dict[str, float]) -> None:
        if progress is not None:
            progress(f"epoch {int(row['epoch'])} loss {row['loss']:.3f} val {row['val_acc']:.3f}")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chart_cnn-") as tmp:
        out = Path(tmp) / "chart_cnn.pt"
        result = train(
            epochs,
            n_train,
            seed,
            "cpu",
            workers=os.cpu_count() or 1,
            time_budget=time_budget,
            out=out,
            log=False,
            on_epoch=epoch_done,
        )
        params = {"origin": "tradelake vision train", "epochs": epochs, "n_train": n_train}
        with _quiet_mlflow():
            published = registry.publish(out, tracking_uri=tracking_uri, home=home, params=params)
    heldout = result.metrics["heldout"]
    return TrainReport(
        run_id=published.run_id,
        version=published.version,
        promoted=published.promoted,
        champion_version=published.champion_version,
        heldout_macro_f1=float(heldout["macro_f1"]),
        heldout_accuracy=float(heldout["accuracy"]),
        champion_macro_f1=champion[1] if champion else None,
        epochs=len(result.history),
        n_train=int(result.metrics["n_train"]),
        seconds=round(time.monotonic() - started, 1),
        tracking_uri=tracking_uri,
        baseline_version=baseline,
    )


def ingest_frame(
    env: IngestEnv,
    data: bytes,
    *,
    device: str,
    frame_id: str | None = None,
    ts: datetime | None = None,
) -> FileResult:
    """Land one captured frame as ``screen:<device>`` and stage its ``img_signals`` row.

    ``ts`` is the capture time (UTC; naive means UTC); ``frame_id`` defaults to the first 16 hex
    characters of the bytes' sha256. The options travel in the landing attributes, so
    ``tradelake replay`` rebuilds the same row. The feature store is not refreshed here: a
    stream refreshes in batches.
    """
    put = land_frame(env.landing, data, device=device, frame_id=frame_id, ts=ts)
    name = f"{frame_id or 'frame'}.png"
    return process_object(env, put.obj, data, get_source("screens"), path=name)


def land_frame(
    landing: LandingStore,
    data: bytes,
    *,
    device: str,
    frame_id: str | None = None,
    ts: datetime | None = None,
) -> PutResult:
    """Land one captured frame as ``screen:<device>`` with the options its parse needs
    (``frame_id``, ``device``, ``ts``), without scoring it: the gateway's half of
    :func:`ingest_frame` (the CV service scores it later). Same bytes land once."""
    if not _DEVICE_NAME.match(device):
        raise ConfigError(
            f"device name {device!r} is not usable in paths; use 1-64 letters, digits, . _ -"
        )
    options: dict[str, str] = {"device": device}
    if frame_id:
        options["frame_id"] = frame_id
    if ts is not None:
        stamp = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        options["ts"] = stamp.isoformat()
    source = get_source("screens")
    return landing.put(
        data,
        source=f"{SCREEN_SOURCE_PREFIX}{device}",
        name=f"{frame_id or 'frame'}.png",
        content_type=source.content_type,
        attributes={"kind": source.name, "options": json.dumps(options, sort_keys=True)},
    )


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Hide MLflow's INFO logs and its ``eprint`` chatter ("Created version ..."), which would
    interleave with the progress bar; its errors still raise."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _no_frames(store: FeatureStore, model_version: str) -> VisionError:
    """Why there is nothing to search: no frames at all, or none from this model."""
    con = store.connect(read_only=True)
    try:
        total = con.execute(f'SELECT count(*) FROM "{IMG_SIGNALS.latest}"').fetchall()[0][0]
    except duckdb.CatalogException:  # a store refreshed before img_signals existed
        total = 0
    except duckdb.Error as exc:
        raise FeatureStoreError(f"cannot read {IMG_SIGNALS.latest}: {exc}") from exc
    finally:
        con.close()
    if not total:
        return VisionError(
            f"no chart frames in {store.path} yet; ingest screenshots first "
            "(`tradelake ingest shot.png`)"
        )
    return VisionError(
        f"none of the {total} stored frames was embedded by model {model_version}; run "
        "`tradelake replay` to re-score them with the configured model"
    )
