"""Write a validated frame to staging: versioned, partitioned, atomic, idempotent.

Layout (DESIGN §5)::

    <staging>/<table>/date=YYYY-MM-DD/source=<src>/part-<landing_id>.parquet   (daily tables)
    <staging>/<table>/month=YYYY-MM/source=<src>/part-<landing_id>.parquet     (monthly ones)
    <staging>/_quarantine/<table>/date=YYYY-MM-DD/source=<src>/part-<landing_id>.parquet

One file per (landing object, partition), named after the landing id and written to a temp name
then renamed: re-processing the same landing object rewrites the same files with the same bytes,
and a crash leaves no half file. The partition's span is the table's
(:attr:`~tradelake.tables.TableSpec.partition`): every file costs about a millisecond to write
and again to open on every read, so a file of a few hundred rows is mostly overhead; the
quarantine is partitioned by the day the object was ingested. Versions are assigned against
what is already staged from *other* landing objects, so re-processing after a crash assigns the
same versions again.

During an ingest (:meth:`StagingWriter.writing_behind`) the files are written on background
threads while the rows wait in memory (:mod:`tradelake.staging.recent`) for whatever reads them
next; the processed marker still comes last, after the files and a filesystem sync. The table
contract (:func:`~tradelake.staging.validate.check_contract`, the last gate before Parquet) is
checked there too, beside the writes: a broken contract fails the object as a failed write
does, and its files of that table are removed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tradelake import atomic_files
from tradelake.errors import StagingError
from tradelake.landing import LandingObject
from tradelake.redaction import redact
from tradelake.staging.quality import quality_frame
from tradelake.staging.quarantine import Quarantine
from tradelake.staging.recent import DEFAULT_BYTES, RecentParts
from tradelake.staging.validate import check_contract
from tradelake.tables import TABLES, UTC_TS, TableSpec

QUARANTINE_DIR = "_quarantine"
STATE_DIR = "_state"


@dataclass(frozen=True)
class StageResult:
    """What one landing object contributed to one table."""

    table: str
    rows_in: int
    staged: int
    unchanged: int
    quarantined: int
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    quarantine_rules: dict[str, int] = field(default_factory=dict)
    files: tuple[str, ...] = ()


class StagingWriter:
    """Writes staged tables under one root directory."""

    def __init__(self, root: str | Path, *, remember_bytes: int = DEFAULT_BYTES) -> None:
        self.root = Path(root)
        self.recent = RecentParts(remember_bytes)
        self._behind: _WritesBehind | None = None

    @contextmanager
    def writing_behind(self) -> Iterator[None]:
        """Within the block, partition files are written on background threads.

        :meth:`stage` returns once the rows are versioned and held in memory (where every
        reader of staging finds them), :meth:`mark_processed` is deferred, and :meth:`flush`
        waits for the writes. This lets the refresh that follows an ingest compute its tables
        while the last export's files are still being written. Leaving the block flushes and
        then writes the processed markers of the objects whose files all made it; leaving it by
        an exception writes none. So the caller refreshes inside the block: a file is never
        marked done before the refresh that serves it has been published, and a crash or a
        failed refresh leaves it unmarked, to be staged again (identically) by the next ingest.
        """
        if self._behind is not None:
            yield
            return
        behind = _WritesBehind(ThreadPoolExecutor(4, thread_name_prefix="stage-write"))
        self._behind = behind
        completed = False
        try:
            yield
            completed = True
        finally:
            with behind.lock:  # a stage() on another thread from here on writes in place
                behind.closed = True
            try:
                self.flush()
                if completed and behind.ready:
                    atomic_files.sync_filesystem(self.root)
                    for landing_id, summary in behind.ready.items():
                        self._write_marker(landing_id, summary)
            finally:
                self._behind = None
                behind.pool.shutdown()

    def flush(self) -> dict[str, str]:
        """Wait for every write and contract check in flight; returns ``{landing_id: error}``
        for the objects whose files did not all make it (this block's failures so far; their
        markers will not be written). Outside :meth:`writing_behind`: nothing to do."""
        behind = self._behind
        if behind is None:
            return {}
        with behind.lock:
            writes, behind.writes = behind.writes, {}
            markers, behind.markers = behind.markers, {}
        wait([future for pending in writes.values() for _, _, future in pending])
        for landing_id, pending in writes.items():
            for table, path, future in pending:
                error = future.exception()
                if error is None:
                    continue
                behind.failures.setdefault(landing_id, str(error))
                if path is not None:
                    self.recent.forget(path)
                else:  # a broken contract: none of the table's rows may be read
                    self._remove_parts(table, landing_id)
        with behind.lock:
            behind.ready.update(
                {i: summary for i, summary in markers.items() if i not in behind.failures}
            )
        return dict(behind.failures)

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def files(self, table: str) -> list[Path]:
        """Every staged Parquet file of a table (what the feature store refreshes from),
        including those still being written behind."""
        on_disk, behind = _parts(self.table_dir(table)), self._behind
        if behind is None:
            return on_disk
        with behind.lock:
            pending = [
                p for ws in behind.writes.values() for t, p, _ in ws if t == table and p is not None
            ]
        return sorted(set(on_disk).union(pending))

    def read_files(self, paths: Sequence[str | Path], columns: Sequence[str]) -> pl.DataFrame:
        """``columns`` of the rows of these staged files; those this writer just wrote come
        from memory (:mod:`tradelake.staging.recent`)."""
        return self.recent.read(paths, columns)

    def stage(
        self, spec: TableSpec, frame: pl.DataFrame, obj: LandingObject, quarantine: Quarantine
    ) -> StageResult:
        """Check the table contract of ``frame`` (rows that passed validation), then tag,
        version and write it and its quarantine. While writing behind, the check runs beside
        the writes (see the module docstring)."""
        contract = self._check_behind(spec, frame, obj)
        if contract is None:
            check_contract(spec, frame)
        tagged = _tag(frame, spec, obj)
        versioned, unchanged = self._assign_versions(spec, tagged, obj.landing_id)
        written = self._write_partitions(spec, versioned, obj)
        self._write_quarantine(spec, quarantine, obj)
        return StageResult(
            table=spec.name,
            rows_in=frame.height + quarantine.count,
            staged=versioned.height,
            unchanged=unchanged,
            quarantined=quarantine.count,
            quarantine_reasons=quarantine.by_reason(),
            quarantine_rules=quarantine.by_rule(),
            files=tuple(str(p) for p in written),
        )

    def stage_new_keys(
        self, spec: TableSpec, rows: Sequence[tuple[LandingObject, pl.DataFrame]]
    ) -> list[Path]:
        """Stage the rows of many landing objects in one file per (source, partition): the
        real-time path's micro-batches, where a file per frame would cost a write and a later
        open per frame.

        The caller guarantees every natural key is new (the CV service checks the keys already
        staged), so each row is version 1 and nothing is read back to compare. Files are named
        ``part-<sha256 of the batch's landing ids>.parquet``, written atomically; the objects'
        processed markers (:meth:`mark_processed_many`) come after.
        """
        tagged = [_tag(frame, spec, obj) for obj, frame in rows if frame.height]
        if not tagged:
            return []
        frame = pl.concat(tagged).with_columns(pl.lit(1, pl.Int64).alias("version"))
        check_contract(spec, frame.select(list(spec.content)))
        starts = spec.partition_start(pl.col(spec.date_column)).alias("__partition")
        parts = frame.select(*spec.schema, starts).partition_by(
            "source", "__partition", as_dict=True, include_key=False
        )
        written = []
        for (source, start), part in parts.items():
            ids = "".join(sorted(part["landing_id"].to_list()))
            name = hashlib.sha256(ids.encode()).hexdigest()
            target = (
                self.table_dir(spec.name)
                / spec.partition_dir(start)
                / f"source={source}"
                / f"part-{name}.parquet"
            )
            self.recent.forget(target)
            written.append(
                self._write_part(
                    target,
                    part.with_columns(pl.lit(source).alias("source")).select(list(spec.schema)),
                )
            )
        return written

    def mark_processed_many(self, summaries: Mapping[str, dict[str, object]]) -> None:
        """:meth:`mark_processed` for many objects with one filesystem sync before the markers."""
        if not summaries:
            return
        atomic_files.sync_filesystem(self.root)
        for landing_id, summary in summaries.items():
            self._write_marker(landing_id, summary)

    def unstage(self, spec: TableSpec, obj: LandingObject) -> None:
        """Remove what :meth:`stage` wrote for ``obj`` (rows and quarantine) in ``spec``'s table:
        a table staged ahead of the rest of an object that then failed to parse."""
        behind = self._behind
        if behind is not None:  # let this table's writes in flight land first
            with behind.lock:
                writes = behind.writes.get(obj.landing_id, [])
                ours = [w for w in writes if w[0] == spec.name]
                writes[:] = [w for w in writes if w[0] != spec.name]
            wait([future for _, _, future in ours])
        self._remove_parts(spec.name, obj.landing_id)

    def _remove_parts(self, table: str, landing_id: str) -> None:
        """Delete the staged and quarantined files of one landing object in one table."""
        name = f"part-{landing_id}.parquet"
        for base in (self.table_dir(table), self.root / QUARANTINE_DIR / table):
            for part in _parts(base):
                if part.name == name:
                    self.recent.forget(part)
                    part.unlink(missing_ok=True)

    def _check_behind(
        self, spec: TableSpec, frame: pl.DataFrame, obj: LandingObject
    ) -> Future[None] | None:
        """Check ``frame``'s contract on the write-behind threads (None: not writing behind)."""
        behind = self._behind
        if behind is None:
            return None
        with behind.lock:
            if behind.closed:
                return None
            future = behind.pool.submit(check_contract, spec, frame)
            behind.writes.setdefault(obj.landing_id, []).append((spec.name, None, future))
            return future

    def is_processed(self, landing_id: str) -> bool:
        """Whether every table of this landing object was staged (the last step of an ingest)."""
        behind = self._behind
        return self._marker(landing_id).exists() or (
            behind is not None and (landing_id in behind.markers or landing_id in behind.ready)
        )

    def mark_processed(self, landing_id: str, summary: dict[str, object]) -> None:
        """Record that a landing object is fully staged; written last, so a crash re-stages.

        Everything staged before it is made durable first (one filesystem sync rather than an
        fsync per partition file), so a power loss cannot keep the marker and lose a file.
        While writing behind, the marker waits for the end of the block.
        """
        behind = self._behind
        if behind is not None:
            with behind.lock:
                if not behind.closed:
                    behind.markers[landing_id] = summary
                    return
        atomic_files.sync_filesystem(self.root)
        self._write_marker(landing_id, summary)

    def _write_marker(self, landing_id: str, summary: dict[str, object]) -> None:
        atomic_files.write_text(
            self._marker(landing_id), json.dumps(summary, sort_keys=True, default=str)
        )

    def record_quality(self, obj: LandingObject, results: Mapping[str, StageResult]) -> None:
        """Write the data-quality result of one landing object (:mod:`staging.quality`)."""
        target = self.quality_dir / f"part-{obj.landing_id}.parquet"
        atomic_files.write_parquet(target, quality_frame(obj, results), StagingError)

    @property
    def quality_dir(self) -> Path:
        """One Parquet file of data-quality results per processed landing object."""
        return self.root / STATE_DIR / "quality"

    def record_file_error(self, landing_id: str, source: str, reason: str) -> None:
        """Quarantine a whole landing object that could not be parsed, with its reason."""
        body = {"landing_id": landing_id, "source": source, "reason": redact(reason)}
        target = self.root / QUARANTINE_DIR / "_files" / f"{landing_id}.json"
        atomic_files.write_text(target, json.dumps(body, sort_keys=True))

    def quarantined(self, table: str) -> pl.DataFrame:
        """Every quarantined row of a table with its reason."""
        files = _parts(self.root / QUARANTINE_DIR / table)
        if not files:
            return pl.DataFrame()
        return pl.concat([pl.read_parquet(f) for f in files], how="diagonal")

    def _marker(self, landing_id: str) -> Path:
        return self.root / STATE_DIR / "processed" / f"{landing_id}.json"

    def read(self, table: str) -> pl.DataFrame:
        """Every staged row of a table, all versions (for tests, replay checks and debugging)."""
        files = self.files(table)
        if not files:
            return pl.DataFrame()
        renamed = TABLES[table].renamed if table in TABLES else {}
        if not renamed:
            return pl.read_parquet(files, hive_partitioning=False)
        # Files staged before a column was renamed keep its former name (TableSpec.renamed).
        parts = [pl.read_parquet(f, hive_partitioning=False) for f in files]
        named = [p.rename({o: n for o, n in renamed.items() if o in p.columns}) for p in parts]
        return pl.concat(named, how="diagonal_relaxed")

    def _assign_versions(
        self, spec: TableSpec, frame: pl.DataFrame, landing_id: str
    ) -> tuple[pl.DataFrame, int]:
        key = list(spec.natural_key)
        others = [p for p in self.files(spec.name) if landing_id not in p.name]
        if not others or frame.height == 0:
            return frame.with_columns(pl.lit(1, pl.Int64).alias("version")), 0
        compare = list(spec.hash_columns)
        # Only objects that landed no later than this one count: re-staging an object after a
        # crash, when later objects of the batch are staged already, then gives the versions the
        # first run gave (a later correction is versioned against it, not it against the
        # correction). Objects landed at the same instant still see each other.
        landed = frame.get_column("ingest_ts")[0]
        latest = (
            self.read_files(others, [*key, *compare, "version", "ingest_ts"])
            .filter(pl.col("ingest_ts") <= landed)
            .sort("version")
            .group_by(key)
            .last()
            .drop("ingest_ts")
        )
        joined = frame.join(latest, on=key, how="left", suffix="__old", nulls_equal=True)
        same = (
            pl.all_horizontal([pl.col(c).eq_missing(pl.col(f"{c}__old")) for c in compare])
            & pl.col("version").is_not_null()
        )
        fresh = joined.filter(~same).with_columns(
            (pl.col("version").fill_null(0) + 1).cast(pl.Int64).alias("version")
        )
        return fresh.select([*frame.columns, "version"]), joined.height - fresh.height

    def _write_partitions(
        self, spec: TableSpec, frame: pl.DataFrame, obj: LandingObject
    ) -> list[Path]:
        if frame.height == 0:
            return []
        starts = spec.partition_start(pl.col(spec.date_column)).alias("__partition")
        parts = frame.select(*spec.schema, starts).partition_by(
            "__partition", as_dict=True, include_key=False
        )
        jobs = [
            (_part_path(self.table_dir(spec.name), spec.partition_dir(start), obj), part)
            for (start,), part in parts.items()
        ]
        # Polars releases the GIL while it writes.
        behind = self._behind
        if behind is not None:
            with behind.lock:
                if not behind.closed:
                    pending = behind.writes.setdefault(obj.landing_id, [])
                    for target, part in jobs:
                        self.recent.remember(target, part, pending=True)
                        future = behind.pool.submit(self._write_part, target, part)
                        pending.append((spec.name, target, future))
                    return [target for target, _ in jobs]
        for target, _ in jobs:
            self.recent.forget(target)
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda job: self._write_part(*job), jobs))

    def _write_part(self, target: Path, part: pl.DataFrame) -> Path:
        """Write one partition file; then remember ``part`` as its content (the caller has
        made sure memory holds nothing stale for ``target`` should the write fail)."""
        _atomic_write(target, part)
        self.recent.remember(target, part)
        return target

    def _write_quarantine(
        self, spec: TableSpec, quarantine: Quarantine, obj: LandingObject
    ) -> None:
        if quarantine.count == 0:
            return
        rows = quarantine.frame().with_columns(_record_tags(obj))
        base = self.root / QUARANTINE_DIR / spec.name
        _atomic_write(_part_path(base, f"date={obj.ingest_ts.date()}", obj), rows)


@dataclass
class _WritesBehind:
    """Partition writes in flight and the processed markers waiting for them."""

    pool: ThreadPoolExecutor
    writes: dict[str, list[tuple[str, Path | None, Future[Any]]]] = field(default_factory=dict)
    """landing id -> (table, file, write) for every partition file in flight, and (table,
    None, check) for every table contract being checked"""
    markers: dict[str, dict[str, object]] = field(default_factory=dict)
    ready: dict[str, dict[str, object]] = field(default_factory=dict)
    """markers of objects whose files are all written, for the end of the block"""
    failures: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False  # the block is ending: no more writes behind


def _tag(frame: pl.DataFrame, spec: TableSpec, obj: LandingObject) -> pl.DataFrame:
    missing = [c for c in spec.content if c not in frame.columns]
    if missing:
        raise StagingError(f"{spec.name}: parser produced no column(s) {missing}; this is a bug.")
    return frame.select([pl.col(c).cast(dtype) for c, dtype in spec.content.items()]).with_columns(
        _record_tags(obj)
    )


def _record_tags(obj: LandingObject) -> list[pl.Expr]:
    """The record tags of DESIGN §3 that come from the landing object (``version`` aside)."""
    return [
        pl.lit(obj.source).alias("source"),
        pl.lit(obj.ingest_ts).cast(UTC_TS).alias("ingest_ts"),
        pl.lit(obj.landing_id).alias("landing_id"),
    ]


def _part_path(base: Path, partition: str, obj: LandingObject) -> Path:
    """``<base>/<partition>/source=<src>/part-<landing_id>.parquet`` (DESIGN §5)."""
    return base / partition / f"source={obj.source}" / f"part-{obj.landing_id}.parquet"


def _parts(base: Path) -> list[Path]:
    """Every staged file under ``base``, whatever the span of its partition (``date=`` or
    ``month=``: a table whose span changed keeps reading the files staged before)."""
    return sorted(base.glob("*=*/source=*/part-*.parquet")) if base.exists() else []


def _atomic_write(target: Path, frame: pl.DataFrame) -> Path:
    return atomic_files.write_parquet(target, frame, StagingError)  # durable: mark_processed
