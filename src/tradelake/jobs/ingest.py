"""The batch ingest job: land → parse → validate → stage → mark processed, per file.

Idempotent at every step, so a crash anywhere followed by a re-run yields the same tables:
landing is content-addressed (same bytes land once), staging files are named after the landing
id and replaced atomically, and the "processed" marker is written only after every table of the
object is staged (by ``Platform.ingest``, only after the refresh that serves it is published).
A file whose marker exists is reported as a duplicate without re-parsing. A broken file stops
only itself: its error is one line, and the rest of the batch goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from tradelake.errors import SourceFormatError, TradelakeError
from tradelake.instruments import InstrumentTable
from tradelake.jobs.faults import crash_point
from tradelake.landing import LandingObject, LandingStore
from tradelake.ops import metrics
from tradelake.ops.observer import NO_OPS, Observer
from tradelake.sources.base import (
    ModelRef,
    ParseContext,
    SourceDef,
    accepted_suffixes,
    source_for_path,
)
from tradelake.staging import StageResult, StagingWriter
from tradelake.staging.quarantine import Quarantine
from tradelake.staging.validate import validate_frame
from tradelake.tables import TABLES

Progress = Callable[[str], None]
# A step within one file: a label ("parsing a.xlsx") and the fraction of the file done before it.
Stages = Callable[[str, float], None]
# Where each step starts within one file: reading is quick, parsing (Excel) the larger part.
PARSE_AT, STAGE_AT = 0.05, 0.6
# The steps of Platform.ingest after the last file.
REFRESH_STAGE, FLUSH_STAGE = "refreshing the feature store", "writing staged files"
logger = logging.getLogger(__name__)


@dataclass
class FileResult:
    """The outcome of one file: what ``tradelake ingest --json`` prints per path."""

    path: str
    landing_id: str | None
    status: str  # ingested | duplicate | error
    rows: int = 0
    quarantined: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # data may be wrong: say so loudly
    tables: dict[str, StageResult] = field(default_factory=dict)
    source: str | None = None  # the landing object's source (lineage names it), not printed

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "landing_id": self.landing_id,
            "status": self.status,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "error": self.error,
            "notes": self.notes,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class IngestEnv:
    """The layers an ingest writes to, and who hears about it (lineage, quality alerts)."""

    landing: LandingStore
    staging: StagingWriter
    instruments: InstrumentTable
    chart_model: ModelRef = field(default_factory=ModelRef)  # scores screenshots
    ops: Observer = NO_OPS


def ingest_paths(
    env: IngestEnv,
    paths: Sequence[Path],
    *,
    timezone: str,
    progress: Progress | None = None,
    zone_is_fallback: bool = False,
    stages: Stages | None = None,
) -> list[FileResult]:
    """Ingest each file independently; one file's failure never stops the others.

    ``zone_is_fallback`` says ``timezone`` was not configured but defaulted: each file whose
    source reads local times (ATAS) and that is parsed now gets a warning naming the setting.
    ``progress`` hears of each file done, ``stages`` of each step within one (reading,
    parsing, staging).
    """
    results = []
    for path in expand_paths(paths):
        result = ingest_path(
            env, path, timezone=timezone, zone_is_fallback=zone_is_fallback, stages=stages
        )
        results.append(result)
        if progress:
            progress(str(path))
    return results


def ingest_path(
    env: IngestEnv,
    path: Path,
    *,
    timezone: str,
    zone_is_fallback: bool = False,
    stages: Stages | None = None,
) -> FileResult:
    """Land and stage one file (see module docstring for the guarantees)."""
    if stages:
        stages(f"reading {path.name}", 0.0)
    if path.is_dir():
        return FileResult(
            str(path),
            None,
            "error",
            error=f"{path} is a folder, not a file; pass the export itself (or the folder "
            "that holds it).",
        )
    try:
        source = source_for_path(path)
        data = _read(path)
    except TradelakeError as exc:
        return FileResult(str(path), None, "error", error=str(exc))
    obj = land(env, source, path, data, timezone=timezone)
    crash_point("after_landing")
    result = process_object(env, obj, data, source, path=str(path), stages=stages)
    if zone_is_fallback and source.local_time and result.status != "duplicate":
        result.warnings.append(fallback_zone_warning(path.name, timezone))
    return result


def fallback_zone_warning(name: str, timezone: str) -> str:
    """What a user must hear when an export's offset-less times were read in the fallback
    zone: a wrong zone moves fills to another session, silently."""
    return (
        f"{name}: no time zone is configured for ATAS exports, so its times were read as "
        f"{timezone}; if it was exported on a machine in another zone, set [sources.atas] "
        "timezone in tradelake.toml (or pass --tz ZONE) before ingesting exports"
    )


def land(
    env: IngestEnv, source: SourceDef, path: Path, data: bytes, *, timezone: str
) -> LandingObject:
    """Put a dropped file's bytes in landing, with the time zone its parse needs (replay reads
    it back from the object's attributes)."""
    return env.landing.put(
        data,
        source=source.name,
        name=path.name,
        content_type=source.content_type,
        attributes={"timezone": timezone},
    ).obj


def process_object(
    env: IngestEnv,
    obj: LandingObject,
    data: bytes,
    source: SourceDef,
    *,
    path: str,
    stages: Stages | None = None,
) -> FileResult:
    """Parse, validate and stage one landing object unless it is already processed.

    Tables are independent (versions and files are per table), so each is validated and staged
    on a worker thread, most of it in polars and Parquet writes, off the GIL; a table the parser
    hands over early (:attr:`ParseContext.table_ready`) starts while the parser goes on.
    """
    if env.staging.is_processed(obj.landing_id):
        metrics.observe_file(obj.source, "duplicate", {})
        return FileResult(path, obj.landing_id, "duplicate", source=obj.source)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="stage") as pool:
        early: dict[str, Future[StageResult]] = {}

        def stage_early(table: str, frame: pl.DataFrame, quarantine: Quarantine) -> None:
            early[table] = pool.submit(_stage_table, env, obj, table, frame, quarantine)

        context = replace(
            parse_context(obj, env.instruments, env.chart_model), table_ready=stage_early
        )
        if stages:
            stages(f"parsing {obj.original_name}", PARSE_AT)
        try:
            parsed = source.parse(data, obj.original_name, context)
        except Exception as exc:
            reason = _parse_failure(obj, source, exc)
            _unstage(env, obj, early)
            env.staging.record_file_error(obj.landing_id, obj.source, reason)
            metrics.observe_file(obj.source, "error", {})
            metrics.observe_quarantined_file(obj.source)
            return FileResult(path, obj.landing_id, "error", error=reason, source=obj.source)
        staging = {
            table: early.get(table)
            or pool.submit(_stage_table, env, obj, table, frame, parsed.quarantine[table])
            for table, frame in parsed.frames.items()
        }
        result = FileResult(
            path, obj.landing_id, "ingested", notes=list(parsed.notes), source=obj.source
        )
        if stages:
            stages(f"staging {obj.original_name}", STAGE_AT)
        for table, pending in staging.items():
            table_result = pending.result()
            result.tables[table] = table_result
            result.rows += table_result.rows_in
            result.quarantined += table_result.quarantined
    env.staging.record_quality(obj, result.tables)
    env.staging.mark_processed(obj.landing_id, {t: r.staged for t, r in result.tables.items()})
    crash_point("after_marker")
    metrics.observe_file(obj.source, result.status, result.tables)
    if env.ops.quality is not None:
        env.ops.quality.check_file(obj, result.tables)
    return result


def _parse_failure(obj: LandingObject, source: SourceDef, exc: Exception) -> str:
    """The one-line reason a payload could not be parsed (a parser bug is logged in full)."""
    if isinstance(exc, TradelakeError):
        return str(exc)
    # A parser bug must not lose the payload or stop the batch.
    logger.exception("parser %s failed on landing object %s", source.name, obj.landing_id)
    return (
        f"{obj.original_name}: the {source.name} parser failed ({type(exc).__name__}: {exc}); "
        "the payload is kept in landing — report this as a bug, then run `tradelake replay`."
    )


def _unstage(env: IngestEnv, obj: LandingObject, early: dict[str, Future[StageResult]]) -> None:
    """Remove what tables handed over early staged from an object whose parse then failed."""
    for table, pending in early.items():
        wait([pending])
        env.staging.unstage(TABLES[table], obj)


def _stage_table(
    env: IngestEnv,
    obj: LandingObject,
    table: str,
    frame: pl.DataFrame,
    quarantine: Quarantine,
) -> StageResult:
    """Validate one parsed table and stage its passing rows and its quarantine (staging checks
    the table contract, beside its writes while writing behind)."""
    spec = TABLES[table]
    valid = validate_frame(spec, frame, quarantine, env.instruments, contract=False)
    staged = env.staging.stage(spec, valid, obj, quarantine)
    crash_point(f"after_stage:{table}")
    return staged


def parse_context(
    obj: LandingObject, instruments: InstrumentTable, chart_model: ModelRef | None = None
) -> ParseContext:
    """Rebuild the parse settings recorded with the object when it landed (replay-safe); the
    chart model is the caller's (replay re-scores screenshots with the one configured now)."""
    return ParseContext(
        timezone=obj.attributes.get("timezone", "UTC"),
        instruments=instruments,
        source=obj.source,
        options=json.loads(obj.attributes.get("options", "{}")),
        ingest_ts=obj.ingest_ts,
        chart_model=chart_model or ModelRef(),
    )


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, directories walked (sorted, hidden and Office lock files skipped).

    A folder named like a data file (``x.xlsx/``) is not walked but returned as it is, so that
    the ingest reports it instead of skipping it without a word.
    """
    suffixes = accepted_suffixes()
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and path.suffix.lower() not in suffixes:
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if _visible(p)
                and (p.is_file() or (p.is_dir() and p.suffix.lower() in suffixes))
                and not _inside_data_named_folder(p, path, suffixes)
            )
        else:
            files.append(path)
    return files


def _inside_data_named_folder(path: Path, root: Path, suffixes: frozenset[str]) -> bool:
    """Whether ``path`` lies in a folder named like a data file below ``root`` (reported as a
    whole, never walked)."""
    return any(part.suffix.lower() in suffixes for part in path.relative_to(root).parents[:-1])


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "~$"))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceFormatError(f"{path}: cannot read the file ({exc.strerror}).") from exc
