"""Mapping from the polars dtypes of the table contracts to DuckDB column types."""

from __future__ import annotations

import polars as pl
from polars._typing import PolarsDataType


def duckdb_type(dtype: PolarsDataType) -> str:
    """The DuckDB type that stores ``dtype`` without loss (UTC datetimes become TIMESTAMPTZ)."""
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.Array):
        return f"{duckdb_type(dtype.inner)}[{dtype.size}]"
    if isinstance(dtype, pl.List):
        return f"{duckdb_type(dtype.inner)}[]"
    simple = {
        pl.Utf8: "VARCHAR",
        pl.Int64: "BIGINT",
        pl.Int32: "INTEGER",
        pl.Float64: "DOUBLE",
        pl.Float32: "FLOAT",
        pl.Boolean: "BOOLEAN",
        pl.Date: "DATE",
    }
    for polars_type, name in simple.items():
        if dtype == polars_type:
            return name
    raise TypeError(f"no DuckDB type for {dtype}; extend tradelake.features.duck_types")
