"""Which tables ``tradelake publish`` copies to the analytics database, keyed how.

The analytics database holds the tables a desk queries from BI tools: the latest version of
each staged record (with its record tags, so every row still traces to its landing object)
and the derived tables. Each is upserted on its natural key, declared in the table registry
(:func:`tradelake.tables.natural_key`), so the key must be unique in the feature store;
:func:`published_frame` checks it rather than letting PostgreSQL fail half-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from tradelake.errors import PublishError
from tradelake.tables import natural_key

if TYPE_CHECKING:
    from tradelake.stream.alerts import Alert


@dataclass(frozen=True)
class PublishedTable:
    """One table of the analytics database: its feature-store name and natural key.

    ``drop`` are feature-store columns that stay home (``img_signals.embedding``: 128 floats
    per frame that only the similarity search reads).
    """

    name: str
    key: tuple[str, ...]
    drop: tuple[str, ...] = field(default=())

    @classmethod
    def registered(cls, name: str, drop: tuple[str, ...] = ()) -> PublishedTable:
        """Table ``name`` keyed by its natural key in the table registry
        (:func:`tradelake.tables.natural_key`)."""
        return cls(name, natural_key(name), drop)


PUBLISHED: tuple[PublishedTable, ...] = (
    PublishedTable.registered("trades"),
    PublishedTable.registered("round_trips"),
    PublishedTable.registered("daily_pnl"),
    PublishedTable.registered("open_positions"),
    PublishedTable.registered("journal_stats"),
    PublishedTable.registered("macro"),
    PublishedTable.registered("news"),
    PublishedTable.registered("options"),
    PublishedTable.registered("option_chain_features"),
    PublishedTable.registered("img_signals", drop=("embedding",)),
    PublishedTable.registered("alerts"),
)
TABLE_NAMES: tuple[str, ...] = tuple(table.name for table in PUBLISHED)


def select_tables(names: list[str] | None) -> list[PublishedTable]:
    """The tables named (all when ``names`` is empty), in publishing order."""
    if not names:
        return list(PUBLISHED)
    unknown = sorted(set(names) - set(TABLE_NAMES))
    if unknown:
        raise PublishError(
            f"cannot publish {', '.join(unknown)}: not a published table; "
            f"choose from {', '.join(TABLE_NAMES)}."
        )
    return [table for table in PUBLISHED if table.name in names]


def published_frame(table: PublishedTable, frame: pl.DataFrame) -> tuple[pl.DataFrame, set[str]]:
    """The rows to publish and which of their columns hold JSON: without the dropped columns,
    nested values (lists, structs) as JSON text, and checked to have a unique, non-null
    natural key."""
    frame = frame.drop([c for c in table.drop if c in frame.columns])
    missing = [c for c in table.key if c not in frame.columns]
    if missing:
        raise PublishError(
            f"table {table.name} has no column {', '.join(missing)} for its natural key; "
            "run `tradelake refresh --rebuild` so the feature store matches this version."
        )
    null_keys = frame.filter(pl.any_horizontal(pl.col(list(table.key)).is_null())).height
    if null_keys:
        raise PublishError(
            f"table {table.name}: {null_keys} rows have an empty natural key "
            f"({', '.join(table.key)}); they cannot be upserted. This is a bug: please report it."
        )
    repeated = frame.height - frame.select(table.key).unique().height
    if repeated:
        raise PublishError(
            f"table {table.name}: {repeated} rows repeat a natural key ({', '.join(table.key)}); "
            "an upsert would be ambiguous. This is a bug: please report it."
        )
    nested = _nested(frame)
    return frame.with_columns(_as_json(name) for name in nested), set(nested)


def _nested(frame: pl.DataFrame) -> list[str]:
    return [name for name, dtype in frame.schema.items() if dtype.is_nested()]


def _as_json(name: str) -> pl.Expr:
    """A list or struct column as JSON text, which PostgreSQL reads into ``jsonb``."""
    wrapped = pl.struct(pl.col(name).alias("v")).struct.json_encode()  # '{"v":<json>}'
    text = wrapped.str.slice(len('{"v":')).str.strip_suffix("}")
    return pl.when(pl.col(name).is_null()).then(None).otherwise(text).alias(name)


def alerts_frame(alerts: Sequence[Alert]) -> pl.DataFrame:
    """The alert log (SQLite, ``state/alerts.sqlite``) as a table, times as UTC timestamps."""
    stamp = pl.Datetime("us", "UTC")
    return pl.DataFrame(
        [asdict(alert) for alert in alerts],
        schema_overrides={"frame_ts": stamp, "detected_ts": stamp, "sent_ts": stamp},
    )
