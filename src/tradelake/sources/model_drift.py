"""``model_drift`` rows from a drift check's JSON report (landed by :mod:`tradelake.jobs.drift`).

The check's results are landed like any other object before they are staged, so the table is
rebuilt by a replay and each row keeps the landing id of the report it came from.
"""

from __future__ import annotations

import json

import polars as pl

from tradelake.errors import SourceFormatError
from tradelake.sources.base import ParseContext, ParseResult, register_parser
from tradelake.staging.quarantine import Quarantine
from tradelake.tables import MODEL_DRIFT

SOURCE = "model_drift"
_TIMES = ("checked_ts", "window_start", "window_end")


@register_parser(SOURCE, suffixes=(), content_type="application/json")
def parse_model_drift(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """``{"rows": [...]}`` with the table's columns; times are ISO 8601 UTC."""
    try:
        rows = json.loads(data)["rows"]
        schema = {c: (pl.Utf8 if c in _TIMES else t) for c, t in MODEL_DRIFT.content.items()}
        frame = pl.DataFrame(rows, schema=schema, strict=False).with_columns(
            pl.col(c).str.to_datetime(time_unit="us", time_zone="UTC") for c in _TIMES
        )
    except (ValueError, KeyError, TypeError, pl.exceptions.PolarsError) as exc:
        raise SourceFormatError(f"{name}: not a drift report ({exc})") from exc
    return ParseResult({MODEL_DRIFT.name: frame}, {MODEL_DRIFT.name: Quarantine(MODEL_DRIFT.name)})
