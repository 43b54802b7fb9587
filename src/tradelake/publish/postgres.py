"""PostgreSQL as the analytics database: COPY into a temporary table, then upsert.

Per table, in one transaction for the whole publish (analysts never see half a publish):

1. ``CREATE TABLE IF NOT EXISTS`` from the frame's schema with the natural key as primary
   key; columns the feature store gained since are added.
2. ``COPY ... FROM STDIN`` (CSV) of the whole table into a temporary table: the fastest way
   in, and the only one that stays fast for a 300k-fill journal.
3. ``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE row IS DISTINCT FROM`` writes only new
   and changed rows; ``DELETE`` removes keys the feature store no longer holds (a corrected
   fill that re-matched a round trip). A re-run therefore changes nothing.

A table whose content hash equals the one recorded at its last publish
(``<schema>._publish_state``) is skipped without a COPY: that is what makes a publish after a
quiet hour cheap. Connecting as an administrator creates the two roles; every object is then
created as the writer role (``SET LOCAL ROLE``), so the writer owns the tables and the
analyst role can only read them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelake.errors import PublishError, PublishUnavailableError
from tradelake.publish.base import PublishReport, TablePublish
from tradelake.publish.settings import PublishSettings
from tradelake.publish.tables import PublishedTable, published_frame
from tradelake.redaction import redact

if TYPE_CHECKING:
    import psycopg

CONNECT_TIMEOUT_S = 10
STATE_TABLE = "_publish_state"


def postgres_type(dtype: pl.DataType, *, json: bool = False) -> str:
    """The PostgreSQL column type of a polars dtype (nested values are stored as ``jsonb``)."""
    if json or dtype.is_nested():
        return "jsonb"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype in (pl.Int8, pl.Int16, pl.UInt8):
        return "smallint"
    if dtype in (pl.Int32, pl.UInt16):
        return "integer"
    if dtype.is_integer():
        return "bigint"
    if dtype == pl.Float32:
        return "real"
    if dtype.is_float():
        return "double precision"
    if isinstance(dtype, pl.Decimal):
        return "numeric"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if dtype == pl.Time:
        return "time"
    if isinstance(dtype, pl.Duration):
        return "interval"
    return "text"


def quoted(name: str) -> str:
    """A SQL identifier, quoted (``key`` and ``date`` are column names here)."""
    return '"' + name.replace('"', '""') + '"'


class PostgresDestination:
    """Publishes to one PostgreSQL database (see the module docstring for the steps)."""

    def __init__(self, settings: PublishSettings) -> None:
        self.settings = settings
        self.schema = quoted(settings.schema)

    def publish(
        self, tables: list[tuple[PublishedTable, pl.DataFrame | None]], *, full: bool = False
    ) -> PublishReport:
        report = PublishReport(target=self.settings.shown_url, schema=self.settings.schema)
        with self._connect() as con:
            try:
                report.roles.extend(self._prepare(con, report.notices))
                for table, frame in tables:
                    if frame is None:
                        report.notices.append(f"{table.name}: nothing to publish yet")
                        continue
                    report.tables.append(self._publish_table(con, table, frame, full=full))
                con.commit()
            except Exception as exc:
                con.rollback()
                raise _publish_error(exc, self.settings) from exc
        return report

    # ------------------------------------------------------------------ connection, roles

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(
                self.settings.conninfo,
                connect_timeout=CONNECT_TIMEOUT_S,
                password=self.settings.password,  # None: the URL's, or libpq's usual sources
            )
        except psycopg.OperationalError as exc:
            raise PublishUnavailableError(
                f"cannot reach the analytics database at {self.settings.shown_url} "
                f"({_first_line(exc)}); check that PostgreSQL is running and the URL is right."
            ) from exc

    def _prepare(self, con: psycopg.Connection[Any], notices: list[str]) -> list[str]:
        """Create the schema and roles where this login may, and act as the writer role."""
        writer, analyst = self.settings.writer_role, self.settings.analyst_role
        user, can_create_roles = con.execute(
            "SELECT current_user, rolsuper OR rolcreaterole FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone() or ("", False)
        existing = {
            row[0]
            for row in con.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [[writer, analyst]]
            )
        }
        created = []
        if can_create_roles:
            for role in (writer, analyst):
                if role not in existing:
                    con.execute(f"CREATE ROLE {quoted(role)} LOGIN")
                    created.append(role)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema} AUTHORIZATION {quoted(writer)}")
            con.execute(f"GRANT {quoted(writer)} TO {quoted(user)}")
            con.execute(f"GRANT USAGE ON SCHEMA {self.schema} TO {quoted(analyst)}")
            con.execute(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {quoted(writer)} IN SCHEMA {self.schema} "
                f"GRANT SELECT ON TABLES TO {quoted(analyst)}"
            )
        elif user != writer:
            notices.append(
                f"connected as {user}, not {writer}, and may not create roles: the tables are "
                f"owned by {user}; publish once as an administrator to set up the roles."
            )
        if user != writer and (writer in existing or created):
            con.execute(f"SET LOCAL ROLE {quoted(writer)}")
        has_schema = con.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", [self.settings.schema]
        ).fetchone()
        if not has_schema:
            con.execute(f"CREATE SCHEMA {self.schema}")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {self.schema}.{STATE_TABLE} (table_name text PRIMARY KEY,"
            " content_hash text NOT NULL, row_count bigint NOT NULL, published_at timestamptz"
            " NOT NULL DEFAULT now())"
        )
        return created

    # ------------------------------------------------------------------ one table

    def _publish_table(
        self,
        con: psycopg.Connection[Any],
        table: PublishedTable,
        frame: pl.DataFrame,
        *,
        full: bool,
    ) -> TablePublish:
        rows, json_columns = published_frame(table, frame)
        digest = content_hash(rows)
        if not full and self._last_hash(con, table.name) == digest:
            return TablePublish(table.name, rows.height, unchanged=True)
        types = {
            name: postgres_type(dtype, json=name in json_columns)
            for name, dtype in frame.select(rows.columns).schema.items()
        }
        target = f"{self.schema}.{quoted(table.name)}"
        self._ensure_table(con, table, target, types)
        con.execute(f"CREATE TEMP TABLE _incoming ({_column_defs(types)}) ON COMMIT DROP")
        columns = ", ".join(quoted(c) for c in rows.columns)
        with con.cursor().copy(
            f"COPY _incoming ({columns}) FROM STDIN (FORMAT csv, HEADER true)"
        ) as copy:
            copy.write(rows.write_csv().encode())
        inserted, updated = self._upsert(con, target, table.key, rows.columns)
        deleted = self._delete_missing(con, target, table.key)
        con.execute("DROP TABLE _incoming")
        con.execute(
            f"INSERT INTO {self.schema}.{STATE_TABLE} (table_name, content_hash, row_count) "
            "VALUES (%s, %s, %s) ON CONFLICT (table_name) DO UPDATE SET "
            "content_hash = EXCLUDED.content_hash, row_count = EXCLUDED.row_count, "
            "published_at = now()",
            [table.name, digest, rows.height],
        )
        return TablePublish(table.name, rows.height, inserted, updated, deleted)

    def _last_hash(self, con: psycopg.Connection[Any], name: str) -> str | None:
        row = con.execute(
            f"SELECT content_hash FROM {self.schema}.{STATE_TABLE} WHERE table_name = %s", [name]
        ).fetchone()
        return str(row[0]) if row else None

    def _ensure_table(
        self,
        con: psycopg.Connection[Any],
        table: PublishedTable,
        target: str,
        types: dict[str, str],
    ) -> None:
        key = ", ".join(quoted(c) for c in table.key)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {target} ({_column_defs(types)}, PRIMARY KEY ({key}))"
        )
        present = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                [self.settings.schema, table.name],
            )
        }
        for name, kind in types.items():
            if name not in present:
                con.execute(f"ALTER TABLE {target} ADD COLUMN {quoted(name)} {kind}")

    def _upsert(
        self, con: psycopg.Connection[Any], target: str, key: tuple[str, ...], columns: list[str]
    ) -> tuple[int, int]:
        names = ", ".join(quoted(c) for c in columns)
        values = [c for c in columns if c not in key]
        if values:
            assign = ", ".join(f"{quoted(c)} = EXCLUDED.{quoted(c)}" for c in values)
            old = ", ".join(f"t.{quoted(c)}" for c in values)
            new = ", ".join(f"EXCLUDED.{quoted(c)}" for c in values)
            conflict = f"DO UPDATE SET {assign} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"
        else:
            conflict = "DO NOTHING"
        flags = con.execute(
            f"INSERT INTO {target} AS t ({names}) SELECT {names} FROM _incoming "
            f"ON CONFLICT ({', '.join(quoted(c) for c in key)}) {conflict} "
            "RETURNING (xmax = 0)"  # true for a fresh row, false for an updated one
        ).fetchall()
        inserted = sum(1 for (fresh,) in flags if fresh)
        return inserted, len(flags) - inserted

    def _delete_missing(
        self, con: psycopg.Connection[Any], target: str, key: tuple[str, ...]
    ) -> int:
        match = " AND ".join(f"i.{quoted(c)} = t.{quoted(c)}" for c in key)
        cursor = con.execute(
            f"DELETE FROM {target} AS t WHERE NOT EXISTS (SELECT 1 FROM _incoming i WHERE {match})"
        )
        return max(cursor.rowcount, 0)


def content_hash(frame: pl.DataFrame) -> str:
    """A digest of a table's schema and rows, independent of row order."""
    digest = hashlib.sha256(repr(list(frame.schema.items())).encode())
    if frame.height:
        hashes = frame.hash_rows(seed=0).sort()
        digest.update(hashes.to_numpy().tobytes())
    return digest.hexdigest()


def _column_defs(types: dict[str, str]) -> str:
    return ", ".join(f"{quoted(name)} {kind}" for name, kind in types.items())


def _first_line(exc: BaseException) -> str:
    return redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def _publish_error(exc: Exception, settings: PublishSettings) -> Exception:
    """Expected database refusals as one-line :class:`PublishError`; anything else unchanged."""
    import psycopg

    if isinstance(exc, PublishError):
        return exc
    if isinstance(exc, psycopg.OperationalError):
        return PublishUnavailableError(
            f"lost the analytics database at {settings.shown_url} mid-publish "
            f"({_first_line(exc)}); nothing was changed, run it again."
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return PublishError(
            f"the analytics database refused the publish ({_first_line(exc)}); connect as "
            f"{settings.writer_role} or an administrator. Nothing was changed."
        )
    if isinstance(exc, psycopg.Error):
        return PublishError(
            f"the analytics database refused the publish ({_first_line(exc)}); nothing was "
            "changed. If a column changed type, drop that table in the database and publish again."
        )
    return exc
