"""The registry of derived feature tables and how each is rebuilt.

A definition names the staged tables it depends on; a refresh rebuilds it only when one of them
changed. Builders read ``main`` tables through the connection, compute with SQL or with the pure
functions of :mod:`tradelake.analytics`, and replace their table whole inside the refresh's
transaction, so readers never see a half-built table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from tradelake.instruments import InstrumentTable


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets: the open (transactional) connection and the instrument specs."""

    con: duckdb.DuckDBPyConnection
    instruments: InstrumentTable

    def frame(self, sql: str) -> pl.DataFrame:
        return self.con.sql(sql).pl()

    def replace(self, name: str, frame: pl.DataFrame) -> None:
        """Replace table ``main.<name>`` with ``frame`` (its schema, even when empty)."""
        self.con.register("__replacement", frame.to_arrow())
        try:
            self.con.execute(
                f'CREATE OR REPLACE TABLE main."{name}" AS SELECT * FROM __replacement'
            )
        finally:
            self.con.unregister("__replacement")


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
