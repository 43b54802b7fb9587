"""The registry of derived feature tables and how each is rebuilt.

A definition names the staged tables it depends on; a refresh rebuilds it only when one of them
changed. Builders read ``main`` tables through the connection, compute with SQL or with the pure
functions of :mod:`tradelake.analytics`, and hand each result to :meth:`BuildContext.replace`.
That writes the frame to a Parquet file of its own (one per table and refresh) on a background
thread while the next builder computes; the store then points ``main.<table>`` at the new file
inside the refresh's transaction, so readers never see a half-built table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from tradelake import atomic_files
from tradelake.errors import FeatureStoreError
from tradelake.instruments import InstrumentTable
from tradelake.tables import TABLES

if TYPE_CHECKING:
    import duckdb

StagedReader = Callable[[str, Sequence[str]], pl.DataFrame | None]
"""(table, columns) -> ``main.<latest>`` rows read from staging, or None to read them in SQL."""


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets: the open (transactional) connection and the instrument specs.

    ``con`` first has the store point DuckDB at the staged files (``ensure_sql``), which waits
    for staging writes still in flight: builders that only use :meth:`latest`, :meth:`table`
    and :meth:`replace` on tables whose latest rows are a view compute without waiting.

    ``built`` keeps the frames that builders of this refresh stored with :meth:`replace`, so a
    later builder reads them back with :meth:`table` from memory instead of through DuckDB;
    ``written`` the Parquet file each of them is being written to (``tables_dir/<name>/
    <refresh_id>.parquet``, on ``writer``'s threads). ``read_staged`` serves :meth:`latest`
    straight from the staged files (from memory where this process just wrote them) while
    ``main.<latest>`` is a view over them.
    """

    connection: duckdb.DuckDBPyConnection
    ensure_sql: Callable[[], None]
    instruments: InstrumentTable
    tables_dir: Path
    refresh_id: str
    writer: Executor
    read_staged: StagedReader
    built: dict[str, Future[pl.DataFrame]] = field(default_factory=dict)
    written: dict[str, Future[Path]] = field(default_factory=dict)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The refresh's connection, once DuckDB points at this refresh's staged files."""
        self.ensure_sql()
        return self.connection

    def frame(self, sql: str) -> pl.DataFrame:
        return self.con.sql(sql).pl()

    def latest(self, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """``main.<latest>`` of staged ``table`` (the latest version of each natural key), only
        ``columns`` when given: a builder that needs a few columns skips the wide text ones."""
        spec = TABLES[table]
        staged = self.read_staged(table, list(spec.schema) if columns is None else columns)
        if staged is not None:
            return staged
        names = ", ".join(f'"{c}"' for c in columns) if columns is not None else "*"
        return self.frame(f'SELECT {names} FROM main."{spec.latest}"')

    def table(self, name: str) -> pl.DataFrame:
        """``main.<name>`` as it stands in this refresh's transaction."""
        if name in self.built:
            return self.built[name].result()
        return self.frame(f'SELECT * FROM main."{name}"')

    def replace(self, name: str, frame: pl.DataFrame | Callable[[], pl.DataFrame]) -> None:
        """Make ``frame`` (its schema, even when empty) the new ``main.<name>`` of this refresh.

        Parquet rather than a DuckDB table: writing 55,000 round trips costs a third of what
        inserting and checkpointing them does, and it runs off the GIL beside the next builder.
        A callable is computed there too (it must not use the connection): a summary of what a
        builder already holds, such as the journal statistics, then costs the builder nothing.
        """
        target = self.tables_dir / name / f"{self.refresh_id}.parquet"
        built: Future[pl.DataFrame] = Future()
        if not callable(frame):
            built.set_result(frame)
        self.built[name] = built
        self.written[name] = self.writer.submit(_build_and_write, target, frame, built)


def _build_and_write(
    target: Path, frame: pl.DataFrame | Callable[[], pl.DataFrame], built: Future[pl.DataFrame]
) -> Path:
    """Compute a deferred frame (publishing it, or its error, to ``built``), then write it."""
    if callable(frame):
        try:
            frame = frame()
        except BaseException as exc:
            built.set_exception(exc)
            raise
        built.set_result(frame)
    # The store syncs the filesystem before it commits the view over this file.
    return atomic_files.write_parquet(target, frame, FeatureStoreError)


Builder = Callable[[BuildContext], None]


@dataclass(frozen=True)
class FeatureDef:
    """A derived table: its name, the staged tables it depends on, and its builder.

    ``reads`` names the definitions whose tables the builder reads (``ctx.table``): they run
    first. ``sql`` says the builder queries DuckDB, which waits for staging writes still in
    flight; builders that compute from staged frames run before those, while the writes finish.
    """

    name: str
    depends_on: frozenset[str]
    build: Builder
    reads: frozenset[str] = frozenset()
    sql: bool = False


DEFINITIONS: list[FeatureDef] = []


def feature(
    name: str, *, depends_on: tuple[str, ...], reads: tuple[str, ...] = (), sql: bool = False
) -> Callable[[Builder], Builder]:
    """Register ``build`` as the builder of feature table ``name`` (see :class:`FeatureDef`)."""

    def decorate(build: Builder) -> Builder:
        DEFINITIONS.append(FeatureDef(name, frozenset(depends_on), build, frozenset(reads), sql))
        return build

    return decorate


def build_order(definitions: Sequence[FeatureDef]) -> list[FeatureDef]:
    """Every definition after the ones it ``reads``; among those ready, frame builders before
    SQL builders, then by name: the order never depends on which module was imported first."""
    known = {d.name for d in definitions}
    missing = sorted(r for d in definitions for r in d.reads if r not in known)
    if missing:
        raise FeatureStoreError(f"feature builders read unregistered definitions {missing}")
    done: list[FeatureDef] = []
    left = sorted(definitions, key=lambda d: (d.sql, d.name))
    while left:
        ready = next((d for d in left if d.reads <= {x.name for x in done}), None)
        if ready is None:
            raise FeatureStoreError(f"feature builders read each other in a cycle: {left}")
        done.append(ready)
        left.remove(ready)
    return done
