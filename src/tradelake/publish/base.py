"""The analytics-database seam: what a destination does and what a publish reports.

A destination receives whole tables and makes the database equal to them, writing only the
difference (upsert on the natural key, delete what the feature store no longer holds), so a
re-run adds nothing and a crash part-way leaves the previous publish in place (one
transaction per publish). PostgreSQL is the one engine today (:mod:`.postgres`); Redshift
speaks the same wire protocol but not every statement (docs/operations.md says what differs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import polars as pl

from tradelake.publish.tables import PublishedTable


@dataclass(frozen=True)
class TablePublish:
    """What one table's publish changed. ``unchanged``: skipped, same content as last time."""

    table: str
    rows: int
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PublishReport:
    """One publish: where to (password masked), the schema, and each table's changes."""

    target: str
    schema: str
    tables: list[TablePublish] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def changed_rows(self) -> int:
        return sum(t.inserted + t.updated + t.deleted for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "schema": self.schema,
            "changed_rows": self.changed_rows,
            "tables": [t.to_dict() for t in self.tables],
            "roles": self.roles,
            "notices": self.notices,
        }


class Destination(Protocol):
    """An analytics database ``tradelake publish`` copies the feature tables into."""

    def publish(
        self, tables: list[tuple[PublishedTable, pl.DataFrame | None]], *, full: bool = False
    ) -> PublishReport:
        """Make each table equal to its frame (``None``: not in the feature store yet, skip);
        ``full`` rewrites tables whose content looks unchanged since the last publish."""
        ...
