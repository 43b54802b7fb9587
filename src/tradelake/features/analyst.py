"""The analyst's sandbox: SQL that reads the served tables and can touch nothing else.

DuckDB's ``read_only`` mode only protects the database file: a read-only connection can still
``COPY ... TO`` any path (and so forge staged Parquet files or overwrite a landed object),
``ATTACH`` another database read-write, read any local file (``read_csv('/etc/passwd')``,
``read_text``, ``glob``) and try to ``INSTALL`` extensions. Two independent gates close that:

1. **Statement allow-list**: exactly one statement, of a kind that only reads (``SELECT``,
   which covers ``WITH``, ``FROM ...``, ``DESCRIBE``, ``SHOW`` and ``SUMMARIZE``, and
   ``EXPLAIN``). ``COPY``, ``ATTACH``, ``INSTALL``/``LOAD``, ``SET``, ``PRAGMA``, ``CALL``,
   ``EXPORT`` and every DDL/DML are refused before DuckDB runs anything.
2. **Connection settings**: external access is disabled except for the folders the served
   views read (staging and the derived tables), extensions never auto-install or auto-load,
   and the configuration is then locked so a query cannot undo any of it.

Either gate alone stops every escape we know of; both together mean a DuckDB parser quirk in
one is not enough. The same sandbox serves the web API's analyst endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb
import polars as pl

from tradelake.errors import AccessError, FeatureStoreError

if TYPE_CHECKING:
    from tradelake.features.store import FeatureStore

T = TypeVar("T")
READ_ONLY_STATEMENTS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


def analyst_query(store: FeatureStore, sql: str) -> pl.DataFrame:
    """Run an analyst's ``sql`` in the sandbox; :class:`AccessError` if it would do more."""
    return _sandboxed(store, sql, lambda rel: rel.pl())


def analyst_page(store: FeatureStore, sql: str, *, limit: int) -> tuple[pl.DataFrame, int]:
    """The first ``limit`` rows of ``sql`` and how many rows it has in all.

    DuckDB stops at ``limit + 1`` rows (the limit is pushed into the plan, so a 345k-row
    ``SELECT *`` never builds the whole result); the full count is asked for only when there
    are more rows than that, and costs a scan, not the rows.
    """

    def first_rows(rel: duckdb.DuckDBPyRelation) -> tuple[pl.DataFrame, int]:
        head = rel.limit(limit + 1).pl()
        if head.height <= limit:
            return head, head.height
        ((total,),) = rel.aggregate("count(*)").fetchall()
        return head.head(limit), int(total)

    return _sandboxed(store, sql, first_rows)


def _sandboxed(store: FeatureStore, sql: str, collect: Callable[[duckdb.DuckDBPyRelation], T]) -> T:
    check_read_only(sql)
    con = store.connect(read_only=True)
    try:
        lock_down(con, readable_folders(store))
        relation = con.sql(sql)
        if relation is None:  # only a statement that returns nothing; the allow-list has none
            raise FeatureStoreError("query returned no result")
        return collect(relation)
    except duckdb.PermissionException as exc:
        raise AccessError(
            f"{exc}; analyst SQL reads only the served tables (SHOW TABLES lists them)"
        ) from exc
    except duckdb.Error as exc:
        raise FeatureStoreError(f"query failed: {exc}") from exc
    finally:
        con.close()


def readable_folders(store: FeatureStore) -> list[Path]:
    """What the served views read: the published staging generation and the derived tables'
    files (:meth:`FeatureStore.read_roots`)."""
    return store.read_roots()


def check_read_only(sql: str) -> None:
    """Raise :class:`AccessError` unless ``sql`` is one statement that only reads."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise AccessError(f"query does not parse: {exc}") from exc
    if len(statements) != 1:
        raise AccessError(
            f"send exactly one statement (got {len(statements)}); analyst SQL is read-only"
        )
    kind = statements[0].type
    if kind not in READ_ONLY_STATEMENTS:
        raise AccessError(
            f"{kind.name} statements are not allowed: analyst SQL is read-only "
            "(SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); writes go through "
            "`tradelake ingest`, `pull` or `replay`"
        )


def lock_down(con: duckdb.DuckDBPyConnection, readable: Iterable[str | Path]) -> None:
    """Allow file reads under ``readable`` only, no extensions, then lock the settings."""
    folders = ", ".join(_sql_text(_as_folder(path)) for path in readable)
    con.execute(f"SET allowed_directories = [{folders}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def _as_folder(path: str | Path) -> str:
    """``/a/b`` → ``/a/b/``: DuckDB matches allowed directories as prefixes, and without the
    slash ``/home/staging`` would also allow ``/home/staging.replay``."""
    text = str(path) if "://" in str(path) else str(Path(path).absolute())
    return text if text.endswith("/") else text + "/"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
