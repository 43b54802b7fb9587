"""The registry of derived feature tables and how each is rebuilt.

A definition names the staged tables it depends on; a refresh rebuilds it only when one of them
changed. Builders read ``main`` tables through the connection, compute with SQL or with the pure
functions of :mod:`tradelake.analytics`, and replace their table whole inside the refresh's
transaction, so readers never see a half-built table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import polars as pl

from tradelake.instruments import InstrumentTable
from tradelake.tables import TABLES


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets: the open (transactional) connection and the instrument specs.

    ``built`` keeps the frames that builders of this refresh stored with :meth:`replace`, so a
    later builder reads them back with :meth:`table` from memory instead of through DuckDB.
    """

    con: duckdb.DuckDBPyConnection
    instruments: InstrumentTable
    built: dict[str, pl.DataFrame] = field(default_factory=dict)

    def frame(self, sql: str) -> pl.DataFrame:
        return self.con.sql(sql).pl()

    def latest(self, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """``main.<latest>`` of staged ``table`` (the latest version of each natural key), only
        ``columns`` when given: a builder that needs a few columns skips the wide text ones."""
        spec = TABLES[table]
        names = ", ".join(f'"{c}"' for c in columns) if columns is not None else "*"
        return self.frame(f'SELECT {names} FROM main."{spec.latest}"')

    def table(self, name: str) -> pl.DataFrame:
        """``main.<name>`` as it stands in this refresh's transaction."""
        if name in self.built:
            return self.built[name]
        return self.frame(f'SELECT * FROM main."{name}"')

    def replace(self, name: str, frame: pl.DataFrame) -> None:
        """Replace table ``main.<name>`` with ``frame`` (its schema, even when empty)."""
        self.con.register("__replacement", frame.to_arrow())
        try:
            self.con.execute(
                f'CREATE OR REPLACE TABLE main."{name}" AS SELECT * FROM __replacement'
            )
        finally:
            self.con.unregister("__replacement")
        self.built[name] = frame


Builder = Callable[[BuildContext], None]


@dataclass(frozen=True)
class FeatureDef:
    """A derived table: its name, the staged tables it depends on, and its builder."""

    name: str
    depends_on: frozenset[str]
    build: Builder


DEFINITIONS: list[FeatureDef] = []


def feature(name: str, *, depends_on: tuple[str, ...]) -> Callable[[Builder], Builder]:
    """Register ``build`` as the builder of feature table ``name``."""

    def decorate(build: Builder) -> Builder:
        DEFINITIONS.append(FeatureDef(name, frozenset(depends_on), build))
        return build

    return decorate
