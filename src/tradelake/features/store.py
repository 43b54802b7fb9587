"""The DuckDB feature store: incremental refresh from staging, latest versions, analytics.

Two schemas of views, all over Parquet files:

- ``staging.<table>``: every staged row of every version, as a view over exactly the staged
  Parquet files the last refresh saw (listed with size/mtime in the catalog): a refresh only
  re-points the view, so no staged row is copied, and a re-processed landing object, whose
  files are replaced in place, never doubles rows.
- ``main``: what analysts query: ``<latest>`` (highest ``version`` per natural key; a view over
  staging while no key has a second row, else over a Parquet file of the ranked rows) and the
  derived feature tables of :mod:`tradelake.features.definitions`, each a view over the Parquet
  file its last rebuild wrote under ``<store>.tables/<name>/<refresh id>.parquet``.

A refresh computes in a private in-memory DuckDB and commits by publishing the catalog
(:mod:`tradelake.features.catalog`) in one rename: a crash leaves the previous state, and a file
written by a refresh that did not publish is never pointed at (it is deleted by the next one).
Readers (:meth:`FeatureStore.connect`, :meth:`FeatureStore.query`) build their views from the
last published catalog, so they never wait for a writer and never fail because one is working.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from tradelake import atomic_files
from tradelake.errors import FeatureStoreError
from tradelake.features import catalog
from tradelake.features.catalog import Catalog, Relation
from tradelake.features.definitions import DEFINITIONS, BuildContext, build_order
from tradelake.instruments import InstrumentTable
from tradelake.ops import metrics
from tradelake.staging import StagingWriter
from tradelake.staging.recent import PENDING, current_stamp, file_stamp
from tradelake.tables import TABLES, TableSpec

if TYPE_CHECKING:  # DuckDB loads with the first connection (catalog.connect)
    import duckdb


@dataclass(frozen=True)
class RefreshResult:
    """Which staged files were loaded and which feature tables were rebuilt."""

    files_loaded: int
    files_removed: int
    tables_changed: tuple[str, ...]
    rebuilt: tuple[str, ...] = field(default=())


class FeatureStore:
    """The feature store of one data home, fed from one staging root.

    ``path`` (``[features] path``, ``features.duckdb`` by default) names the store: its catalog
    is ``features.catalog.json`` and its files are under ``features.tables/``. ``fresh=True``
    starts from an empty store instead of the published one (replay builds a whole new state
    and publishes it in one step).
    """

    def __init__(
        self,
        path: Path,
        staging: StagingWriter,
        instruments: InstrumentTable | None = None,
        *,
        fresh: bool = False,
    ) -> None:
        self.path = Path(path)
        self.staging = staging
        self.instruments = instruments or InstrumentTable()
        self.fresh = fresh
        self._ahead: Future[_Transaction] | None = None

    @property
    def catalog_path(self) -> Path:
        """The published state (:mod:`tradelake.features.catalog`): ``features.catalog.json``."""
        return self.path.absolute().with_suffix(".catalog.json")

    @property
    def tables_dir(self) -> Path:
        """The derived tables' Parquet files: ``features.duckdb`` -> ``features.tables/``."""
        return self.path.absolute().with_suffix(".tables")

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A private in-memory connection whose views read the last published state.

        Nothing it does can change the store (its views and anything created in it live in
        this connection's memory only). ``read_only=True`` refuses a home where nothing was
        published yet; ``read_only=False`` then gives an empty connection.
        """
        published = catalog.read(self.catalog_path)
        if published is None and read_only:
            raise FeatureStoreError(
                f"no feature store at {self.catalog_path} yet; run `tradelake ingest` or "
                "`tradelake demo`."
            )
        import duckdb

        try:
            return catalog.connect(published)
        except duckdb.Error as exc:
            raise FeatureStoreError(
                f"cannot open the feature store {self.catalog_path} ({exc}); a file it names is "
                "missing: run `tradelake replay` to rebuild it from landing."
            ) from exc

    @contextmanager
    def connecting_ahead(self) -> Iterator[None]:
        """Within the block, the next :meth:`refresh` is opened and begun on a thread.

        Reading the catalog and creating its views in DuckDB take 20-40 ms; an ingest does it
        while it parses the last export instead of after. One not used by a refresh is closed on
        exit.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="feature-connect") as pool:
            self._ahead = pool.submit(self._begin)
            try:
                yield
            finally:
                ahead, self._ahead = self._ahead, None
                if ahead is not None and ahead.exception() is None:
                    ahead.result().con.close()

    def refresh(self, *, rebuild_all: bool = False) -> RefreshResult:
        """Load new or changed staging files and rebuild the feature tables that depend on them.

        Staged files still being written behind (:meth:`StagingWriter.writing_behind`) count:
        builders compute from their rows in memory while the writes finish, and the store waits
        for the writes only when it must point DuckDB at the files. Should one of those writes
        fail, the refresh starts again from what is on disk.
        """
        started = time.monotonic()
        try:
            return self._refresh_retried(rebuild_all)
        finally:
            metrics.observe_refresh(time.monotonic() - started)

    def _refresh_retried(self, rebuild_all: bool) -> RefreshResult:
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
        """A private connection with the views of the state the refresh starts from (the
        published one, or nothing when ``fresh``), and the published state."""
        published = catalog.read(self.catalog_path)
        start = None if self.fresh else published
        con = catalog.connect(start)
        try:
            working = Catalog(
                staged=dict(start.staged) if start else {},
                relations=dict(start.relations) if start else {},
                staging_root=self.staging.root.resolve(),
                retired=dict(published.retired) if published else {},
                generation=(published.generation + 1) if published else 1,
            )
            return _Transaction(_Relations(con, working), published, start)
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
            self._publish(transaction, written)
        except BaseException:
            _remove_files(written.values())
            raise
        finally:
            con.close()
        self._remove_orphans(relations.catalog)
        return RefreshResult(plan.loaded, plan.removed, tuple(plan.changed), tuple(rebuilt))

    def _publish(self, transaction: _Transaction, written: Mapping[str, Path]) -> None:
        """Commit: retire what the previous catalog read and this one does not (deleted once no
        reader of the previous catalog can still be reading it), make the written files
        durable, and replace the catalog in one rename."""
        new, previous = transaction.relations.catalog, transaction.published
        catalog.retire(previous, new)
        if written:
            atomic_files.sync_filesystem(self.tables_dir)  # durable before the commit
        catalog.remove_expired(new)
        catalog.publish(self.catalog_path, new)

    def _remove_orphans(self, published: Catalog) -> None:
        """Delete derived files that no published catalog names and none retired: those of
        refreshes that crashed or rolled back (old enough that no refresh is writing them)."""
        named = published.files() | set(published.retired)
        cutoff = time.time() - catalog.RETIRED_GRACE_S
        for path in self.tables_dir.glob("*/*.parquet"):
            if str(path) not in named and _mtime(path) < cutoff:
                path.unlink(missing_ok=True)

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run ``sql`` against the last published state and return a polars frame.

        For the platform's own queries: one statement that only reads (the connection is
        private and in memory, so a write could change nothing shared anyway). Analysts' SQL
        goes through the sandbox of :mod:`tradelake.features.analyst`.
        """
        import duckdb

        from tradelake.features.analyst import check_read_only

        check_read_only(sql)
        con = self.connect(read_only=True)
        try:
            return con.sql(sql, params=params or None).pl()
        except duckdb.Error as exc:
            raise FeatureStoreError(f"query failed: {exc}") from exc
        finally:
            con.close()

    def read_roots(self) -> list[Path]:
        """The folders a reader's views may read files from: the published staging generation,
        the generations still in their grace after a replay (a reader may have opened the
        catalog before that replay published), and the store's tables. What a sandboxed reader
        is allowed to read, and nothing else."""
        published = catalog.read(self.catalog_path)
        if published is None or published.staging_root is None:
            return [self.staging.root.resolve(), self.tables_dir]
        retired = [Path(p) for p in published.retired if Path(p).is_dir()]
        return [published.staging_root, *retired, self.tables_dir]

    def has(self, name: str) -> bool:
        """Whether ``main.<name>`` exists in the published store."""
        published = catalog.read(self.catalog_path)
        return published is not None and ("main", name) in published.relations

    def table(self, name: str) -> pl.DataFrame:
        """A whole feature table (quoted, so only existing table names resolve)."""
        return self.query(f'SELECT * FROM "{name}"')

    def _plan(self, transaction: _Transaction, rebuild_all: bool) -> _Plan:
        """What changed since the last refresh, and whether each changed table's latest rows
        can stay a view, decided from staging (and its memory) without touching DuckDB state."""
        plan = _Plan(real=_RealPaths(self.staging.root))
        for spec in TABLES.values():
            files = [str(p) for p in self.staging.files(spec.name)]
            stamps = {plan.real(f): current_stamp(f) or PENDING for f in files}
            known = transaction.staged.get(spec.name, {})
            fresh = [f for f, stamp in stamps.items() if known.get(f) != stamp]
            removed = [f for f in known if f not in stamps]
            kind = transaction.relations.kind("main", spec.latest)
            plan.files[spec.name] = files
            plan.loaded += len(fresh)
            plan.removed += len(removed)
            stale = _written_before_rename(transaction.relations.catalog, spec)
            if fresh or removed or rebuild_all or kind is None or stale:
                plan.changed.append(spec.name)
                kind = "VIEW" if self._keys_unique(spec, files) else "TABLE"
            plan.kinds[spec.name] = kind
        return plan

    def _apply(
        self, relations: _Relations, plan: _Plan, refresh_id: str, written: dict[str, Path]
    ) -> None:
        """Point DuckDB at the staged files of ``plan``: wait for writes behind, then
        ``staging.<table>`` views and the ``main.<latest>`` relations of changed tables."""
        self.staging.flush()
        for spec in TABLES.values():
            on_disk = _stamps(spec, plan.files[spec.name])
            if spec.name in plan.changed or relations.kind("staging", spec.name) is None:
                relations.catalog.staged[spec.name] = {plan.real(f): s for f, s in on_disk.items()}
                relations.replace("staging", spec.name, Relation("staged", spec.name))
        quality = Path(plan.real(str(self.staging.quality_dir)))
        relations.replace("main", "data_quality", Relation("quality", file=quality))
        for name in plan.changed:
            spec = TABLES[name]
            if plan.kinds[name] == "VIEW":
                relations.replace("main", spec.latest, Relation("latest", spec.name))
            else:
                target = self.tables_dir / spec.latest / f"{refresh_id}.parquet"
                written[spec.latest] = target
                _build_ranked_latest(relations, spec, target)

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
        refresh_id = uuid.uuid4().hex
        sql_ready = _Once(partial(self._apply, relations, plan, refresh_id, written))
        rebuilt = [TABLES[name].latest for name in plan.changed]
        with ThreadPoolExecutor(2, thread_name_prefix="feature-write") as writer:
            context = BuildContext(
                relations.con,
                sql_ready,
                self.instruments,
                self.tables_dir,
                refresh_id,
                writer,
                partial(self._read_staged, views),
            )
            try:
                for definition in build_order(DEFINITIONS):
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
        for name, path in files.items():
            relations.replace("main", name, Relation("parquet", file=path))
        return rebuilt

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


def _written_before_rename(working: catalog.Catalog, spec: TableSpec) -> bool:
    """Whether ``main.<latest>`` is a ranked file still using a column's former name
    (``TableSpec.renamed``): it is rebuilt under the new names, changed or not."""
    relation = working.relations.get(("main", spec.latest))
    if not spec.renamed or relation is None or relation.kind != "parquet" or not relation.file:
        return False
    try:
        columns = pl.read_parquet_schema(relation.file)
    except (OSError, pl.exceptions.PolarsError):
        return False
    return not set(spec.renamed).isdisjoint(columns)


def _stamps(spec: TableSpec, files: list[str]) -> dict[str, str]:
    """The stamps of the files a refresh planned from, now that they are written; a file gone
    (a write behind failed) means the plan is stale. A file another process staged since is
    left to the next refresh: the views name exactly the files this one computed from."""
    try:
        return {f: file_stamp(Path(f)) for f in files}
    except FileNotFoundError:
        raise _StagingChanged(spec.name) from None


def _remove_files(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class _RealPaths:
    """Staged paths as the catalog records them: under the folder staging's root resolves to.

    Staging is written through the configured path (``staging``, a link to the current
    generation after a replay), so a long-running writer follows a replay; the catalog names
    the generation itself, so a reader keeps reading the files it was published with.
    """

    def __init__(self, root: Path) -> None:
        self.root, self.resolved = root, root.resolve()

    def __call__(self, path: str) -> str:
        if self.root == self.resolved:
            return path
        return str(self.resolved / Path(path).relative_to(self.root))


@dataclass
class _Plan:
    """A refresh's view of staging: files per table (written or still being written), the
    tables that changed, and the kind ``main.<latest>`` of each table will be."""

    real: _RealPaths
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


def _build_ranked_latest(relations: _Relations, spec: TableSpec, target: Path) -> None:
    """``main.<latest>`` as a file: each key's row with the highest version, then ingest_ts."""
    rows = f'SELECT * EXCLUDE (_file) FROM staging."{spec.name}"'
    key = ", ".join(f'"{c}"' for c in spec.natural_key)
    ranked = (
        f"{rows} QUALIFY row_number() OVER (PARTITION BY {key} "
        "ORDER BY version DESC, ingest_ts DESC) = 1"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_files.replacing(target) as tmp:
        relations.con.execute(
            f"COPY ({ranked}) TO {catalog.sql_text(tmp)} (FORMAT parquet, COMPRESSION zstd)"
        )
    relations.replace("main", spec.latest, Relation("parquet", file=target, ranked=True))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


@dataclass(frozen=True)
class _Transaction:
    """A refresh once begun: its relations (and the catalog it is building), the catalog
    published when it began, and the one it starts from (that one, or None when fresh)."""

    relations: _Relations
    published: Catalog | None
    start: Catalog | None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.relations.con

    @property
    def staged(self) -> dict[str, dict[str, str]]:
        """Per staged table, the files (and their stamps) the starting state read."""
        return self.start.staged if self.start is not None else {}


class _Relations:
    """The relations of the catalog a refresh is building, mirrored as views in its private
    connection so builders can query them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, working: Catalog) -> None:
        self.con = con
        self.catalog = working

    def kind(self, schema: str, name: str) -> Literal["TABLE", "VIEW"] | None:
        relation = self.catalog.relations.get((schema, name))
        return None if relation is None else relation.duck_kind

    def replace(self, schema: str, name: str, relation: Relation) -> None:
        """Make ``relation`` the new ``<schema>.<name>`` (in the catalog and the connection)."""
        select = catalog.relation_sql(self.catalog, relation)
        self.con.execute(f'CREATE OR REPLACE VIEW {schema}."{name}" AS {select}')
        self.catalog.relations[(schema, name)] = relation
