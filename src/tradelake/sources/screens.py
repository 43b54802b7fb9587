"""Chart screenshots (PNG, JPEG) → ``img_signals``: one row per frame, scored at parse time.

A screenshot lands like every other producer's payload, then this parser runs the chart
classifier (:mod:`tradelake.ml.vision`) on it. Two ways in:

- a dropped file (``tradelake ingest shot.png``): landing ``source`` is ``screens``; the frame
  id is the first 16 hex characters of the landing id (the sha256 of the bytes, so the same
  screenshot is the same frame), ``device`` is ``file`` and ``ts`` the landing time;
- the real-time path (:func:`tradelake.jobs.vision.ingest_frame`): landing ``source`` is
  ``screen:<device>`` with attributes ``kind = "screens"`` (what replay dispatches on) and
  ``options`` carrying ``frame_id``, ``device`` and ``ts`` (ISO 8601, capture time).

``img_signals`` columns a caller may rely on: ``signal`` is the most likely pattern and
``prob`` its temperature-calibrated probability; ``probs`` holds every class as JSON text
(``{"double_top": 0.01, ...}``, the model's class order) rather than a struct, so a model with
other classes needs no new contract and the same SQL runs on DuckDB (``probs->>'bull_flag'``)
and PostgreSQL (``probs::json->>'bull_flag'``); ``embedding`` is the model's 128-d
L2-normalised vector (DuckDB ``FLOAT[128]``) for similar-setup search; ``model_version`` names
the checkpoint (embeddings of different versions are not comparable). The embedding is left
out of the version hash: the same model on the same frame gives the same signal and probs.

The classifier is loaded once per process per model (:func:`classifier`); which model comes
with each parse (``ParseContext.chart_model``, from the platform's ``[vision] model``).
``tradelake replay`` re-scores
every frame with the model configured *then*, which is how old frames get a new model's
embeddings.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelake.errors import SourceFormatError, VisionError
from tradelake.sources.base import ModelRef, ParseContext, ParseResult, register_parser
from tradelake.staging.quarantine import Quarantine
from tradelake.tables import IMG_SIGNALS

if TYPE_CHECKING:
    from tradelake.ml.vision import ChartClassifier, Prediction

FILE_DEVICE = "file"
SCREEN_SOURCE_PREFIX = "screen:"


_loaded: dict[ModelRef, ChartClassifier] = {}
_lock = threading.Lock()


def model_ref(source: str | None, tracking_uri: str | None = None) -> ModelRef:
    """The reference for ``[vision] model`` (a tracking URI matters only with a model)."""
    return ModelRef(source, tracking_uri if source else None)


def classifier(ref: ModelRef | None = None) -> ChartClassifier:
    """The classifier for ``ref`` (default: the shipped checkpoint), loaded once per process.

    Later calls return the same object, so a promoted ``@champion`` alias is picked up by a new
    process, not by a running one. Raises :class:`VisionError` when the model cannot be loaded.
    """
    ref = ref or ModelRef()
    with _lock:
        if ref not in _loaded:
            try:
                from tradelake.ml.vision import ChartClassifier
            except ImportError as exc:
                raise VisionError(
                    f"chart screenshots need the vision extra ({exc.name} is missing); "
                    "pip install 'tradelake[vision]'"
                ) from exc
            _loaded[ref] = ChartClassifier.load(ref.source, tracking_uri=ref.tracking_uri)
        return _loaded[ref]


@register_parser("screens", suffixes=(".png", ".jpg", ".jpeg"), content_type="image/png")
def parse_screen(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """One screenshot → one ``img_signals`` row; a corrupt image is a :class:`SourceFormatError`."""
    clf = classifier(ctx.chart_model)
    result = clf.predict_many([data])[0]
    if isinstance(result, VisionError):
        raise SourceFormatError(f"{name}: {result}")
    frame = signal_rows(
        [(_frame_id(data, ctx.options), _device(ctx), _capture_time(name, ctx), result)],
        clf.model_version,
    )
    return ParseResult({IMG_SIGNALS.name: frame}, {IMG_SIGNALS.name: Quarantine(IMG_SIGNALS.name)})


def signal_rows(
    scored: Sequence[tuple[str, str, datetime, Prediction]], model_version: str
) -> pl.DataFrame:
    """``img_signals`` content rows for ``(frame_id, device, ts, prediction)`` tuples: the one
    place the row is built, for dropped screenshots and the real-time CV service alike."""
    return pl.DataFrame(
        {
            "frame_id": [s[0] for s in scored],
            "device": [s[1] for s in scored],
            "ts": [s[2] for s in scored],
            "signal": [s[3].signal for s in scored],
            "prob": [s[3].prob for s in scored],
            "probs": [json.dumps(s[3].probs) for s in scored],
            "embedding": [s[3].embedding for s in scored],
            "model_version": [model_version] * len(scored),
        },
        schema=IMG_SIGNALS.content,
    )


def _frame_id(data: bytes, options: Mapping[str, Any]) -> str:
    given = options.get("frame_id")
    return str(given) if given else hashlib.sha256(data).hexdigest()[:16]


def _device(ctx: ParseContext) -> str:
    given = ctx.options.get("device")
    if given:
        return str(given)
    if ctx.source.startswith(SCREEN_SOURCE_PREFIX):
        return ctx.source.removeprefix(SCREEN_SOURCE_PREFIX)
    return FILE_DEVICE


def _capture_time(name: str, ctx: ParseContext) -> datetime:
    """``options.ts`` (ISO 8601; naive means UTC), else the landing time; never the wall clock."""
    given = ctx.options.get("ts")
    if given:
        try:
            ts = datetime.fromisoformat(str(given))
        except ValueError as exc:
            raise SourceFormatError(
                f"{name}: capture time {given!r} is not ISO 8601; send e.g. "
                "2026-11-02T14:30:05.120Z"
            ) from exc
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    if ctx.ingest_ts is None:
        raise SourceFormatError(
            f"{name}: no capture time; pass options ts or parse it through landing"
        )
    return ctx.ingest_ts.astimezone(UTC)
