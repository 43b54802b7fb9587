"""Pandera contracts of the staged tables: the last gate before Parquet, not a data filter.

Row rules in :mod:`tradelake.staging.validate` quarantine bad data first; the schema then checks
what must hold for every row that passed (columns, dtypes, nullability, value ranges, unique ids).
A failure here means a parser or rule is wrong, so the validator raises instead of quarantining.
Columns and dtypes come from :mod:`tradelake.tables`; this module adds only nullability and
checks, so a table contract is still written once.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandera.polars as pa

from tradelake.tables import ATAS_JOURNAL, TRADES_RAW, TableSpec

# Columns that may be null in a valid row; every other content column is required.
NULLABLE: dict[str, frozenset[str]] = {
    TRADES_RAW.name: frozenset({"exchange", "order_id", "extra"}),
    ATAS_JOURNAL.name: frozenset(
        {
            "exchange", "close_ts", "close_price", "close_volume", "price_pnl", "profit_ticks",
            "pnl", "comment", "extra",
        }
    ),
}  # fmt: skip

CHECKS: dict[str, Mapping[str, list[pa.Check]]] = {
    TRADES_RAW.name: {
        "trade_id": [pa.Check.ge(0)],
        "side": [pa.Check.isin(["buy", "sell"])],
        "qty": [pa.Check.ne(0)],
        "price": [pa.Check.gt(0)],
        "commission": [pa.Check.ge(0)],
    },
    ATAS_JOURNAL.name: {
        "journal_id": [pa.Check.ge(0)],
        "open_price": [pa.Check.gt(0)],
        "open_volume": [pa.Check.ne(0)],
        "close_price": [pa.Check.gt(0)],
        "close_volume": [pa.Check.ne(0)],
    },
}


def build_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """The contract of ``spec``'s content columns, exactly these and in this order.

    A table without an entry in ``NULLABLE`` (a feed table with its own row rules) gets the
    structural contract only: names, order and dtypes, every column nullable.
    """
    nullable = NULLABLE.get(spec.name, frozenset(spec.content))
    checks = CHECKS.get(spec.name, {})
    columns = {
        name: pa.Column(
            dtype,
            checks=checks.get(name),
            nullable=name in nullable,
            unique=name in spec.natural_key
            and len(spec.natural_key) == 1
            and spec.name in NULLABLE,
        )
        for name, dtype in spec.content.items()
    }
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=spec.name)


SCHEMAS: dict[str, pa.DataFrameSchema] = {
    spec.name: build_schema(spec) for spec in (TRADES_RAW, ATAS_JOURNAL)
}


def schema_for(spec: TableSpec) -> pa.DataFrameSchema:
    """The registered schema of ``spec``, or its structural contract (built once, cached)."""
    if spec.name not in SCHEMAS:
        SCHEMAS[spec.name] = build_schema(spec)
    return SCHEMAS[spec.name]
