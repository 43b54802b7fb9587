"""The DuckDB feature store: incremental refresh from staging, latest versions, analytics.

Two schemas live in one DuckDB file:

- ``staging.<table>``: every staged row of every version, as a view over exactly the staged
  Parquet files this refresh saw (tracked with size/mtime in ``staging._files``): a refresh
  only re-points the view, so no staged row is copied, and a re-processed landing object,
  whose files are replaced in place, never doubles rows.
- ``main``: what analysts query: ``<latest>`` tables (highest ``version`` per natural key; a
  view over staging while no key has a second row) and the derived feature tables of
  :mod:`tradelake.features.definitions`, each a view over the Parquet file its last rebuild
  wrote under ``<store>.tables/<name>/<refresh id>.parquet``.

A refresh runs in one transaction: a crash leaves the previous consistent state (a derived
file written by a refresh that did not commit is never pointed at, and is deleted by the next
refresh of that table, as is the file a committed refresh replaced). Analysts get read-only
connections (:meth:`FeatureStore.query`), which DuckDB enforces.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl

from tradelake import atomic_files
from tradelake.errors import FeatureStoreError, StoreBusyError
from tradelake.features.definitions import DEFINITIONS, BuildContext
from tradelake.features.duck_types import duckdb_type
from tradelake.instruments import InstrumentTable
from tradelake.staging import StagingWriter
from tradelake.staging.quality import QUALITY_SCHEMA
from tradelake.staging.recent import PENDING, current_stamp, file_stamp
from tradelake.tables import TABLES, TableSpec


@dataclass(frozen=True)
class RefreshResult:
    """Which staged files were loaded and which feature tables were rebuilt."""

    files_loaded: int
    files_removed: int
    tables_changed: tuple[str, ...]
    rebuilt: tuple[str, ...] = field(default=())


class FeatureStore:
    """One DuckDB file fed from one staging root."""

    def __init__(
        self, path: Path, staging: StagingWriter, instruments: InstrumentTable | None = None
    ) -> None:
        self.path = Path(path)
        self.staging = staging
        self.instruments = instruments or InstrumentTable()
        self._ahead: Future[_Transaction] | None = None

    @property
    def tables_dir(self) -> Path:
        """The derived tables' Parquet files: ``features.duckdb`` -> ``features.tables/``."""
        return self.path.absolute().with_suffix(".tables")

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection; read-only ones refuse every write (the analysts' kind)."""
        if read_only and not self.path.exists():
            raise FeatureStoreError(
                f"no feature store at {self.path} yet; run `tradelake ingest` or `tradelake demo`."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            # Only a held lock is worth retrying (watch, scheduler); DuckDB says "lock" there.
            busy = "lock" in str(exc).lower()
            raise (StoreBusyError if busy else FeatureStoreError)(
                f"cannot open {self.path} ({exc}); another tradelake process may be writing it."
            ) from exc
        # Timestamps are UTC throughout; label them so, whatever the machine's zone is.
        con.execute("SET TimeZone = 'UTC'")
        return con

    @contextmanager
    def connecting_ahead(self) -> Iterator[None]:
        """Within the block, the next :meth:`refresh` is opened and begun on a thread.

        Opening the DuckDB file, beginning the transaction and reading the catalog take 20-40
        ms; an ingest does it while it parses the last export instead of after. The connection
        holds the file's write lock from then on, so wrap only the work just before a refresh.
        One not used by a refresh is rolled back and closed on exit.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="feature-connect") as pool:
            self._ahead = pool.submit(self._begin)
            try:
                yield
            finally:
                ahead, self._ahead = self._ahead, None
                if ahead is not None and ahead.exception() is None:
                    con = ahead.result().con
                    con.execute("ROLLBACK")
                    con.close()

    def refresh(self, *, rebuild_all: bool = False) -> RefreshResult:
        """Load new or changed staging files and rebuild the feature tables that depend on them.

        Staged files still being written behind (:meth:`StagingWriter.writing_behind`) count:
        builders compute from their rows in memory while the writes finish, and the store waits
        for the writes only when it must point DuckDB at the files. Should one of those writes
        fail, the refresh starts again from what is on disk.
        """
        try:
            return self._refresh(rebuild_all)
        except _StagingChanged:
            pass
        try:
            return self._refresh(rebuild_all)
        except _StagingChanged as exc:
            raise FeatureStoreError(
                f"staged files of {exc} changed while the feature store was refreshed, twice; "
                "another process is writing this data home: run the command again when it is done"
            ) from exc

    def _begin(self) -> _Transaction:
        """A write connection with a refresh's transaction begun and the catalog read."""
        con = self.connect()
        try:
            con.execute("BEGIN TRANSACTION")
            _ensure_catalog(con)
            return _Transaction(_Relations(con), _catalog(con))
        except BaseException:
            con.close()
            raise

    def _refresh(self, rebuild_all: bool) -> RefreshResult:
        ahead, self._ahead = self._ahead, None
        transaction = ahead.result() if ahead is not None else self._begin()
        con, relations = transaction.con, transaction.relations
        written: dict[str, Path] = {}
        try:
            plan = self._plan(transaction, rebuild_all)
            rebuilt = self._rebuild(relations, plan, written)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            _remove_files(written.values())
            raise
        finally:
            con.close()
        for path in written.values():  # what the committed views no longer point at
            _remove_files(p for p in path.parent.glob("*.parquet") if p != path)
        return RefreshResult(plan.loaded, plan.removed, tuple(plan.changed), tuple(rebuilt))

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run ``sql`` on a read-only connection and return the result as a polars frame."""
        con = self.connect(read_only=True)
        try:
            return con.sql(sql, params=params or None).pl()
        except duckdb.Error as exc:
            raise FeatureStoreError(f"query failed: {exc}") from exc
        finally:
            con.close()

    def has(self, name: str) -> bool:
        """Whether ``main.<name>`` exists (a table or a view) in the store."""
        con = self.connect(read_only=True)
        try:
            return _Relations(con).kind("main", name) is not None
        finally:
            con.close()

    def table(self, name: str) -> pl.DataFrame:
        """A whole feature table (quoted, so only existing table names resolve)."""
        return self.query(f'SELECT * FROM "{name}"')

    def _plan(self, transaction: _Transaction, rebuild_all: bool) -> _Plan:
        """What changed since the last refresh, and whether each changed table's latest rows
        can stay a view, decided from staging (and its memory) without touching DuckDB state."""
        plan = _Plan()
        for spec in TABLES.values():
            files = [str(p) for p in self.staging.files(spec.name)]
            stamps = {f: current_stamp(f) or PENDING for f in files}
            known = transaction.staged.get(spec.name, {})
            fresh = [f for f, stamp in stamps.items() if known.get(f) != stamp]
            removed = [f for f in known if f not in stamps]
            kind = transaction.relations.kind("main", spec.latest)
            plan.files[spec.name] = files
            plan.loaded += len(fresh)
            plan.removed += len(removed)
            if fresh or removed or rebuild_all or kind is None:
                plan.changed.append(spec.name)
                kind = "VIEW" if self._keys_unique(spec, files) else "TABLE"
            plan.kinds[spec.name] = kind
        return plan

    def _apply(self, relations: _Relations, plan: _Plan) -> None:
        """Point DuckDB at the staged files of ``plan``: wait for writes behind, then
        ``staging.<table>`` views and the ``main.<latest>`` relations of changed tables."""
        self.staging.flush()
        for spec in TABLES.values():
            on_disk = _stamps(spec, plan.files[spec.name])
            if spec.name in plan.changed or relations.kind("staging", spec.name) is None:
                relations.replace("staging", spec.name, "VIEW", _staged_rows_sql(spec, on_disk))
                _record_catalog(relations.con, spec, on_disk)
        relations.replace("main", "data_quality", "VIEW", self._quality_sql())
        for name in plan.changed:
            spec = TABLES[name]
            if plan.kinds[name] == "VIEW":
                rows = f"SELECT * EXCLUDE (_file) FROM staging.{spec.name}"
                relations.replace("main", spec.latest, "VIEW", rows)
            else:
                _build_ranked_latest(relations, spec)

    def _rebuild(self, relations: _Relations, plan: _Plan, written: dict[str, Path]) -> list[str]:
        """Rebuild what depends on the changed tables; record each derived file in
        ``written``. DuckDB is pointed at the staged files when a builder first needs SQL, or
        at the end: builders of tables whose latest rows are a view over staging read those
        rows through staging, which holds the frames it has just staged in memory."""
        changed = set(plan.changed)
        views = {
            name: files
            for name, files in plan.files.items()
            if files and plan.kinds[name] == "VIEW"
        }
        sql_ready = _Once(partial(self._apply, relations, plan))
        rebuilt = [TABLES[name].latest for name in plan.changed]
        with ThreadPoolExecutor(2, thread_name_prefix="feature-write") as writer:
            context = BuildContext(
                relations.con,
                sql_ready,
                self.instruments,
                self.tables_dir,
                uuid.uuid4().hex,
                writer,
                partial(self._read_staged, views),
            )
            try:
                for definition in DEFINITIONS:
                    if changed.intersection(definition.depends_on):
                        definition.build(context)
                        rebuilt.append(definition.name)
            finally:
                for name, pending in context.written.items():
                    if pending.exception() is None:
                        written[name] = pending.result()
        sql_ready()
        # .result() raises the first write error, and the refresh rolls back.
        files = {name: pending.result() for name, pending in context.written.items()}
        if files:
            atomic_files.sync_filesystem(self.tables_dir)  # durable before the commit
        for name, path in files.items():
            rows = f"SELECT * FROM read_parquet({_sql_text(path)})"
            relations.replace("main", name, "VIEW", rows)
        return rebuilt

    def _quality_sql(self) -> str:
        """``main.data_quality``: every processed object's data-quality result, read at query
        time from staging's quality files (a glob: they only ever grow)."""
        directory = self.staging.quality_dir
        if not any(directory.glob("part-*.parquet")):
            return _empty_rows_sql(QUALITY_SCHEMA)
        glob = _sql_text(directory / "part-*.parquet")
        return f"SELECT * FROM read_parquet({glob}) ORDER BY ingest_ts, original_name, table_name"

    def _keys_unique(self, spec: TableSpec, files: list[str]) -> bool:
        """Whether no natural key repeats in the staged files (a NULL in a single-column key
        counts as a repeat, which sends the table down the ranking path)."""
        keys = self.staging.read_files(files, spec.natural_key)
        if keys.height == 0:
            return True
        if len(spec.natural_key) == 1:
            column = keys.to_series()
            return column.null_count() == 0 and column.n_unique() == keys.height
        return keys.n_unique() == keys.height

    def _read_staged(
        self, views: Mapping[str, list[str]], table: str, columns: Sequence[str]
    ) -> pl.DataFrame | None:
        """``columns`` of ``main.<latest>`` of ``table`` read from its staged files, typed by
        the table contract; None where the latest rows are a ranked table."""
        if table not in views:
            return None
        schema = TABLES[table].schema
        frame = self.staging.read_files(views[table], columns)
        return frame.select([pl.col(c).cast(schema[c]) for c in columns])


def _stamps(spec: TableSpec, files: list[str]) -> dict[str, str]:
    """The stamps of the files a refresh planned from, now that they are written; a file gone
    (a write behind failed) means the plan is stale. A file another process staged since is
    left to the next refresh: the views name exactly the files this one computed from."""
    try:
        return {f: file_stamp(Path(f)) for f in files}
    except FileNotFoundError:
        raise _StagingChanged(spec.name) from None


def _staged_rows_sql(spec: TableSpec, files: Mapping[str, str]) -> str:
    """The rows of exactly these staged files, typed by the table contract.

    Naming the files (rather than a glob) pins the view to what this refresh saw, so a reader
    never sees files of an ingest still in progress; DuckDB reads Parquet fast enough that
    copying every staged row into the database would only cost time and disk.
    """
    columns = ", ".join(f'CAST("{c}" AS {duckdb_type(t)}) AS "{c}"' for c, t in spec.schema.items())
    if not files:
        return _empty_rows_sql({**spec.schema, "_file": pl.Utf8()})
    paths = ", ".join(_sql_text(f) for f in sorted(files))
    return (
        f"SELECT {columns}, filename AS _file FROM read_parquet([{paths}], filename = true, "
        "hive_partitioning = false)"
    )


def _empty_rows_sql(schema: Mapping[str, pl.DataType]) -> str:
    """A query with ``schema``'s columns and types and no rows."""
    nulls = ", ".join(f'CAST(NULL AS {duckdb_type(t)}) AS "{c}"' for c, t in schema.items())
    return f"SELECT {nulls} WHERE false"


def _sql_text(value: str | Path) -> str:
    """A SQL string literal (file paths in view definitions)."""
    return "'" + str(value).replace("'", "''") + "'"


def _remove_files(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _ensure_catalog(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS staging")
    con.execute(
        "CREATE TABLE IF NOT EXISTS staging._files "
        "(table_name VARCHAR, file VARCHAR, stamp VARCHAR, PRIMARY KEY (table_name, file))"
    )


@dataclass
class _Plan:
    """A refresh's view of staging: files per table (written or still being written), the
    tables that changed, and the kind ``main.<latest>`` of each table will be."""

    files: dict[str, list[str]] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    kinds: dict[str, Literal["TABLE", "VIEW"] | None] = field(default_factory=dict)
    loaded: int = 0
    removed: int = 0


class _StagingChanged(Exception):
    """Staging on disk is not what the refresh planned from (a write behind failed)."""


class _Once:
    """Call ``fn`` the first time this is called; later calls do nothing."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn: Callable[[], None] | None = fn

    def __call__(self) -> None:
        fn, self._fn = self._fn, None
        if fn is not None:
            fn()


def _catalog(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """table -> {staged file: its stamp} as the last committed refresh saw them."""
    catalog: dict[str, dict[str, str]] = {}
    for table, file, stamp in con.execute("SELECT * FROM staging._files").fetchall():
        catalog.setdefault(table, {})[file] = stamp
    return catalog


def _record_catalog(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, on_disk: Mapping[str, str]
) -> None:
    con.execute("DELETE FROM staging._files WHERE table_name = ?", [spec.name])
    if on_disk:
        con.execute(
            "INSERT INTO staging._files SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [spec.name, list(on_disk), list(on_disk.values())],
        )


def _build_ranked_latest(relations: _Relations, spec: TableSpec) -> None:
    """``main.<latest>`` as a table: each key's row with the highest version, then ingest_ts."""
    rows = f"SELECT * EXCLUDE (_file) FROM staging.{spec.name}"
    key = ", ".join(f'"{c}"' for c in spec.natural_key)
    relations.replace(
        "main",
        spec.latest,
        "TABLE",
        f"{rows} QUALIFY row_number() OVER (PARTITION BY {key} "
        "ORDER BY version DESC, ingest_ts DESC) = 1",
    )


@dataclass(frozen=True)
class _Transaction:
    """A refresh's transaction once begun: its relations and, per staged table, the files
    (and their stamps) the last committed refresh saw."""

    relations: _Relations
    staged: dict[str, dict[str, str]]

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.relations.con


class _Relations:
    """The tables and views of a connection, read from DuckDB's catalog once and kept current
    by :meth:`replace`: a catalog query costs a few milliseconds, and a refresh asks about
    every relation it touches at least once."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        # duckdb_tables()/duckdb_views() answer in a tenth of the time information_schema
        # takes; fetchall drains the result, which DuckDB wants before the next call.
        rows = con.execute(
            "SELECT schema_name, table_name, 'TABLE' FROM duckdb_tables() UNION ALL "
            "SELECT schema_name, view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        self._kinds: dict[tuple[str, str], Literal["TABLE", "VIEW"]] = {
            (schema, name): "VIEW" if kind == "VIEW" else "TABLE" for schema, name, kind in rows
        }

    def kind(self, schema: str, name: str) -> Literal["TABLE", "VIEW"] | None:
        return self._kinds.get((schema, name))

    def replace(self, schema: str, name: str, kind: Literal["TABLE", "VIEW"], select: str) -> None:
        """``CREATE OR REPLACE`` a table or view, dropping one of the other kind first
        (DuckDB refuses to replace a view with a table or the reverse)."""
        existing = self.kind(schema, name)
        if existing is not None and existing != kind:
            self.con.execute(f'DROP {existing} {schema}."{name}"')
        self.con.execute(f'CREATE OR REPLACE {kind} {schema}."{name}" AS {select}')
        self._kinds[(schema, name)] = kind
