"""The data-quality result of a batch (DESIGN §5): what one landing object gave each table.

Per table: rows in, passed, staged (new or changed), unchanged (already staged from another
object) and quarantined, in all and by rule (the stable names the validators give their rules,
so counts add up across files whatever the offending values were). The staging writer stores
one small Parquet file per processed object; the feature store serves them all as
``main.data_quality``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from tradelake.landing import LandingObject
from tradelake.tables import UTC_TS

if TYPE_CHECKING:
    from tradelake.staging.writer import StageResult

QUALITY_SCHEMA: dict[str, pl.DataType] = {
    "landing_id": pl.Utf8(),
    "source": pl.Utf8(),
    "original_name": pl.Utf8(),
    "ingest_ts": UTC_TS,
    "table_name": pl.Utf8(),
    "rows_in": pl.Int64(),
    "passed": pl.Int64(),
    "staged": pl.Int64(),
    "unchanged": pl.Int64(),
    "quarantined": pl.Int64(),
    "quarantined_by_rule": pl.Utf8(),  # JSON object: rule -> rows
}


def quality_frame(obj: LandingObject, results: Mapping[str, StageResult]) -> pl.DataFrame:
    """One row per table that ``obj`` was staged into."""
    rows = [
        {
            "landing_id": obj.landing_id,
            "source": obj.source,
            "original_name": obj.original_name,
            "ingest_ts": obj.ingest_ts,
            "table_name": table,
            "rows_in": r.rows_in,
            "passed": r.rows_in - r.quarantined,
            "staged": r.staged,
            "unchanged": r.unchanged,
            "quarantined": r.quarantined,
            "quarantined_by_rule": json.dumps(r.quarantine_rules, sort_keys=True),
        }
        for table, r in results.items()
    ]
    return pl.DataFrame(rows, schema=QUALITY_SCHEMA)
