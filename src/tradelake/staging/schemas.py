"""Contracts of the staged tables: the last gate before Parquet, not a data filter.

Row rules in :mod:`tradelake.staging.validate` quarantine bad data first; the contract then checks
what must hold for every row that passed: exactly the table's columns in order, their dtypes,
nullability, value ranges and a unique single-column id. A failure means a parser or rule is
wrong, so :func:`~tradelake.staging.validate.check_contract` raises instead of quarantining.
Columns and dtypes come from :mod:`tradelake.tables`; this module adds only nullability and
checks, so a table contract is still written once.

The checks are polars expressions evaluated in one ``select``. DESIGN §1 named pandera for them;
it ran these same checks, but importing it (and the pandas it needs) and validating one
200,000-fill export cost about 1 s of CPU per ``tradelake ingest`` process: 4.6-5.0 s with it,
3.6-3.9 s without (measured on this 2-core machine under load 6-7), against a few tens of
milliseconds for the expressions (issue 12 item 13).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import polars as pl

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


@dataclass(frozen=True)
class Check:
    """A value every non-null cell of a column must satisfy (nulls are the nullability's
    business): ``ge``/``gt``/``ne`` a number, or ``isin`` a list of values."""

    op: Literal["ge", "gt", "ne", "isin"]
    value: float | tuple[str, ...]

    def failing(self, column: str) -> pl.Expr:
        """True on the non-null cells of ``column`` that break the check."""
        col = pl.col(column)
        if self.op == "isin":
            assert isinstance(self.value, tuple)
            return col.is_in(list(self.value)).not_()
        assert not isinstance(self.value, tuple)
        holds = {"ge": col >= self.value, "gt": col > self.value, "ne": col != self.value}
        return holds[self.op].not_()

    def __str__(self) -> str:
        words = {"ge": ">=", "gt": ">", "ne": "!=", "isin": "in"}
        shown = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{words[self.op]} {shown}"


CHECKS: dict[str, Mapping[str, list[Check]]] = {
    TRADES_RAW.name: {
        "trade_id": [Check("ge", 0)],
        "side": [Check("isin", ("buy", "sell"))],
        "qty": [Check("ne", 0)],
        "price": [Check("gt", 0)],
        "commission": [Check("ge", 0)],
    },
    ATAS_JOURNAL.name: {
        "journal_id": [Check("ge", 0)],
        "open_price": [Check("gt", 0)],
        "open_volume": [Check("ne", 0)],
        "close_price": [Check("gt", 0)],
        "close_volume": [Check("ne", 0)],
    },
}


def contract_problems(spec: TableSpec, frame: pl.DataFrame) -> list[str]:
    """Every way ``frame`` breaks ``spec``'s contract, one phrase each; empty when it holds.

    A table without an entry in ``NULLABLE`` (a feed table with its own row rules) has the
    structural contract only: names, order and dtypes, every column nullable.
    """
    expected = list(spec.content)
    if frame.columns != expected:
        return [f"columns {frame.columns} are not {expected} (names and order)"]
    wrong = [
        f"column {name!r} is {frame.schema[name]}, not {dtype}"
        for name, dtype in spec.content.items()
        if frame.schema[name] != dtype
    ]
    if wrong or spec.name not in NULLABLE:
        return wrong
    counts: dict[str, pl.Expr] = {}
    checks = CHECKS.get(spec.name, {})
    for name in expected:
        if name not in NULLABLE[spec.name]:
            counts[f"{name!r} is null"] = pl.col(name).null_count()
        for check in checks.get(name, []):
            counts[f"{name!r} is not {check}"] = check.failing(name).sum()
    if len(spec.natural_key) == 1:
        (key,) = spec.natural_key
        counts[f"{key!r} is not unique"] = pl.len() - pl.col(key).n_unique()
    found = frame.select(**counts).row(0, named=True)
    return [f"{what} in {n} rows" for what, n in found.items() if n]
