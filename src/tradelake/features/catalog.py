"""The published catalog: what the feature store serves, as one small JSON file.

The store is not a DuckDB database file. Every relation is a view over Parquet files (staged
files, and the files the refresh wrote under ``<store>.tables/``), so the whole committed state
is the list of those files and how each relation reads them. A refresh publishes that list by
replacing ``<store>.catalog.json`` in one ``os.replace``; that is its commit. Anyone who wants
to read opens an in-memory DuckDB and creates the views from the catalog it just read
(:func:`connect`): no database file is shared, so no reader ever waits for or blocks a writer
(DuckDB lets one process hold a database file for writing and then nobody else may even read
it), and each reader sees exactly one committed state.

Paths are stored relative to the catalog's folder (the data home) when they are inside it, so
a data home can be moved or copied whole and still opens. A file a new catalog no longer names
is *retired* rather than deleted: it stays on disk for :data:`RETIRED_GRACE_S` after the catalog
that dropped it was published, for readers that opened the previous catalog just before.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from tradelake import atomic_files
from tradelake.errors import FeatureStoreError
from tradelake.features.duck_types import duckdb_type
from tradelake.staging.quality import QUALITY_SCHEMA
from tradelake.tables import TABLES, TableSpec

if TYPE_CHECKING:
    import duckdb

FORMAT = 1
RETIRED_GRACE_S = 600.0
"""How long a file (or a replaced staging generation) outlives the catalog that dropped it."""

RelationKind = Literal["staged", "latest", "parquet", "quality"]


@dataclass(frozen=True)
class Relation:
    """How one relation reads its rows.

    ``staged``: the staged files of ``table`` listed in the catalog; ``latest``: every row of
    ``staging.<table>`` (no natural key repeats); ``parquet``: one file the refresh wrote (a
    derived table, or the ranked latest rows of a table whose keys repeat); ``quality``: the
    data-quality files of staging, by glob (they only ever grow).
    """

    kind: RelationKind
    table: str = ""
    file: Path | None = None
    ranked: bool = False

    @property
    def duck_kind(self) -> Literal["TABLE", "VIEW"]:
        """What the refresh plan calls it: ranked latest rows are a 'TABLE' (materialised)."""
        return "TABLE" if self.ranked else "VIEW"


@dataclass
class Catalog:
    """One committed state: staged files per table (with their stamps), the relations, the
    staging root they were read from, and the retired files with when each was retired."""

    staged: dict[str, dict[str, str]] = field(default_factory=dict)
    relations: dict[tuple[str, str], Relation] = field(default_factory=dict)
    staging_root: Path | None = None
    retired: dict[str, float] = field(default_factory=dict)
    generation: int = 0

    def files(self) -> set[str]:
        """Every file the relations read, besides the staged ones."""
        return {str(r.file) for r in self.relations.values() if r.kind == "parquet" and r.file}


def read(path: Path) -> Catalog | None:
    """The catalog published at ``path``; None when nothing was ever published."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return _decode(json.loads(text), path.parent)
    except (ValueError, KeyError, TypeError) as exc:
        raise FeatureStoreError(
            f"{path} is not a feature-store catalog ({exc}); run `tradelake replay` to rebuild it."
        ) from exc


def publish(path: Path, catalog: Catalog) -> None:
    """Replace the catalog at ``path`` in one step (durably: it is the refresh's commit)."""
    atomic_files.write_text(
        path, json.dumps(_encode(catalog, path.parent), sort_keys=True), durable=True
    )


def retire(previous: Catalog | None, current: Catalog, now: float | None = None) -> None:
    """Carry ``previous``'s retired files into ``current`` and retire the files (and staging
    root) ``previous`` read that ``current`` does not."""
    if previous is None:
        return
    now = time.time() if now is None else now
    keep = current.files()
    current.retired.update({f: t for f, t in previous.retired.items() if f not in keep})
    for file in previous.files() - keep:
        current.retired.setdefault(file, now)
    old, new = previous.staging_root, current.staging_root
    if old is not None and new is not None and old != new:
        current.retired.setdefault(str(old), now)


def remove_expired(catalog: Catalog, now: float | None = None) -> None:
    """Delete the retired files and folders whose grace is over (the writer, after publishing)."""
    now = time.time() if now is None else now
    for name, when in list(catalog.retired.items()):
        if now - when < RETIRED_GRACE_S:
            continue
        path = Path(name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        del catalog.retired[name]


def connect(catalog: Catalog | None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the catalog's relations as views.

    DuckDB is imported here, not with the module: an ingest opens its first connection on a
    thread beside its parse (``FeatureStore.connecting_ahead``), so the import (about 0.1 s
    of CPU) is off the path a user waits on.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        # Timestamps are UTC throughout; label them so, whatever the machine's zone is.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA staging")
        if catalog is not None:
            for (schema, name), relation in _in_creation_order(catalog.relations):
                con.execute(f'CREATE VIEW {schema}."{name}" AS {relation_sql(catalog, relation)}')
    except BaseException:
        con.close()
        raise
    return con


def relation_sql(catalog: Catalog, relation: Relation) -> str:
    """The SELECT a relation's view runs."""
    if relation.kind == "staged":
        return staged_rows_sql(TABLES[relation.table], catalog.staged.get(relation.table, {}))
    if relation.kind == "latest":
        return f'SELECT * EXCLUDE (_file) FROM staging."{relation.table}"'
    if relation.kind == "parquet":
        return f"SELECT * FROM read_parquet({sql_text(str(relation.file))})"
    return quality_sql(relation.file)


def staged_rows_sql(spec: TableSpec, files: Mapping[str, str]) -> str:
    """The rows of exactly these staged files, typed by the table contract.

    Naming the files (rather than a glob) pins the view to what the refresh saw, so a reader
    never sees files of an ingest still in progress; DuckDB reads Parquet fast enough that
    copying every staged row into a database would only cost time and disk. Columns are
    matched by name, so files staged before a column joined the contract read it as NULL.
    """
    if not files:
        return empty_rows_sql({**spec.schema, "_file": pl.Utf8()})
    columns = ", ".join(f'CAST("{c}" AS {duckdb_type(t)}) AS "{c}"' for c, t in spec.schema.items())
    paths = ", ".join(sql_text(f) for f in sorted(files))
    if spec.renamed:
        return _renamed_rows_sql(spec, paths)
    # UNION ALL BY NAME with a typed empty relation: a contract column no staged file has yet
    # (a table whose contract grew) reads as NULL instead of failing the view.
    files_sql = (
        f"SELECT * FROM read_parquet([{paths}], filename = true, hive_partitioning = false, "
        "union_by_name = true)"
    )
    typed = empty_rows_sql({**spec.schema, "filename": pl.Utf8()})
    return f"SELECT {columns}, filename AS _file FROM ({files_sql} UNION ALL BY NAME {typed})"


def _renamed_rows_sql(spec: TableSpec, paths: str) -> str:
    """Staged rows where older files may carry a column's former name (``spec.renamed``).

    ``UNION ALL BY NAME`` with an empty row of every old and new name makes both exist whatever
    mix of files is read; each new column is then the new value, else the old one.
    """
    former = {new: old for old, new in spec.renamed.items()}
    names = {**spec.schema, **{old: spec.schema[new] for old, new in spec.renamed.items()}}
    empty = ", ".join(f'CAST(NULL AS {duckdb_type(t)}) AS "{c}"' for c, t in names.items())

    def pick(column: str, dtype: pl.DataType) -> str:
        value = f'COALESCE("{column}", "{former[column]}")' if column in former else f'"{column}"'
        return f'CAST({value} AS {duckdb_type(dtype)}) AS "{column}"'

    columns = ", ".join(pick(c, t) for c, t in spec.schema.items())
    return (
        f"SELECT {columns}, filename AS _file FROM (SELECT {empty}, NULL::VARCHAR AS filename "
        "WHERE false UNION ALL BY NAME SELECT * FROM read_parquet("
        f"[{paths}], filename = true, hive_partitioning = false, union_by_name = true))"
    )


def quality_sql(directory: Path | None) -> str:
    """``main.data_quality``: every processed object's data-quality result, read at query time
    from staging's quality files."""
    if directory is None or not any(directory.glob("part-*.parquet")):
        return empty_rows_sql(QUALITY_SCHEMA)
    glob = sql_text(str(directory / "part-*.parquet"))
    return f"SELECT * FROM read_parquet({glob}) ORDER BY ingest_ts, original_name, table_name"


def empty_rows_sql(schema: Mapping[str, pl.DataType]) -> str:
    """A query with ``schema``'s columns and types and no rows."""
    nulls = ", ".join(f'CAST(NULL AS {duckdb_type(t)}) AS "{c}"' for c, t in schema.items())
    return f"SELECT {nulls} WHERE false"


def sql_text(value: str | Path) -> str:
    """A SQL string literal (file paths in view definitions)."""
    return "'" + str(value).replace("'", "''") + "'"


def _in_creation_order(
    relations: Mapping[tuple[str, str], Relation],
) -> Iterable[tuple[tuple[str, str], Relation]]:
    """Staged views first: the latest views read them."""
    return sorted(relations.items(), key=lambda item: item[1].kind != "staged")


# -- JSON, with paths relative to the catalog's folder -------------------------------------


def _relative(path: str | Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (so the home can move), else absolute."""
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return str(path)


def _absolute(path: str, base: Path) -> str:
    return path if os.path.isabs(path) else str(base / path)


def _encode(catalog: Catalog, base: Path) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "generation": catalog.generation,
        "staging_root": None
        if catalog.staging_root is None
        else _relative(catalog.staging_root, base),
        "staged": {
            table: {_relative(f, base): stamp for f, stamp in files.items()}
            for table, files in catalog.staged.items()
        },
        "relations": [
            {
                "schema": schema,
                "name": name,
                "kind": r.kind,
                "table": r.table,
                "file": None if r.file is None else _relative(r.file, base),
                "ranked": r.ranked,
            }
            for (schema, name), r in catalog.relations.items()
        ],
        "retired": {_relative(f, base): t for f, t in catalog.retired.items()},
    }


def _decode(body: dict[str, Any], base: Path) -> Catalog:
    if body["format"] != FORMAT:
        raise ValueError(f"format {body['format']}, this tradelake reads {FORMAT}")
    root = body["staging_root"]
    return Catalog(
        staged={
            table: {_absolute(f, base): str(stamp) for f, stamp in files.items()}
            for table, files in body["staged"].items()
        },
        relations={
            (r["schema"], r["name"]): Relation(
                r["kind"],
                r["table"],
                None if r["file"] is None else Path(_absolute(r["file"], base)),
                bool(r["ranked"]),
            )
            for r in body["relations"]
        },
        staging_root=None if root is None else Path(_absolute(root, base)),
        retired={_absolute(f, base): float(t) for f, t in body["retired"].items()},
        generation=int(body["generation"]),
    )
