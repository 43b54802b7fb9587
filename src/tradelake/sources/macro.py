"""Macro series from FRED (API JSON, graph CSV) and generic CSV → ``macro_raw`` vintages.

Producer facts this module relies on:

- FRED ``/fred/series/observations`` (``file_type=json``) returns ``{"realtime_start",
  "realtime_end", ..., "count", "offset", "limit", "observations": [{"realtime_start",
  "realtime_end", "date", "value"}]}``. ``value`` is text and ``"."`` marks a missing
  observation. With ALFRED parameters (``realtime_start=1776-07-04``, ``realtime_end=9999-12-31``)
  one date has a row per vintage. The body does not name the series: it comes from the feed
  option ``series_id`` (or a ``series_id=`` in the landed name). A failed request answers
  ``{"error_code": 400, "error_message": "..."}``.
- FRED graph CSV (``fredgraph.csv?id=GDP``) has the header ``observation_date,GDP`` (files
  before 2024 use ``DATE``), one column per series, and ``.`` or an empty cell for missing. It
  carries no vintage, so ``realtime_start`` is the day we learned it and the vintage is open
  (``realtime_end`` = 9999-12-31, FRED's own "still current" marker).
- Generic CSV takes ``date_column``, ``value_column``, ``series_id`` and optionally
  ``date_format`` (strptime), ``decimal`` (``","`` for European files), ``separator`` and
  ``missing`` (the markers of a missing value) from the feed options.

``learned_ts`` is the landing time of the object (the payloads have no better one); missing
values stay as rows with a NULL ``value``, because "the producer says there is no number" is
information a point-in-time reader must see.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from tradelake.errors import ConfigError, SourceFormatError
from tradelake.sources.base import ParseContext, ParseResult, register_parser
from tradelake.sources.feed_tables import MACRO_RAW
from tradelake.staging.feed_checks import TEXT_SUFFIX, check_rows, collapse_duplicates
from tradelake.staging.quarantine import Quarantine

OPEN_END = date(9999, 12, 31)
FRED_MISSING = (".", "")
CSV_MISSING = (".", "", "NA", "N/A", "#N/A", "NaN", "nan", "null", "-")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%Y%m%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S")
_SERIES_IN_NAME = re.compile(r"series_id=([A-Za-z0-9_.]+)")
_DATE_HEADERS = ("observation_date", "DATE", "date")


@register_parser("fred", suffixes=(), content_type="application/json")
def parse_fred(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """FRED API observations; every (date, realtime_start) is one vintage row."""
    try:
        body = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _format_error(name, ctx, f"is not JSON ({exc}); truncated?") from exc
    if isinstance(body, dict) and "error_message" in body:
        code = body.get("error_code", "?")
        raise _format_error(name, ctx, f"is FRED error {code}: {body['error_message']}")
    if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
        raise _format_error(name, ctx, "has no 'observations' list")
    rows = [o for o in body["observations"] if isinstance(o, dict)]
    text = pl.DataFrame(
        {
            "observation_date": [_text(o.get("date")) for o in rows],
            "value": [_text(o.get("value")) for o in rows],
            "realtime_start": [_text(o.get("realtime_start")) for o in rows],
            "realtime_end": [_text(o.get("realtime_end")) for o in rows],
        },
        schema=dict.fromkeys(
            ("observation_date", "value", "realtime_start", "realtime_end"), pl.Utf8
        ),
    )
    series = _series_id(name, ctx)
    frame = text.select(
        pl.lit(series).alias("series_id"),
        *_date("observation_date", pl.col("observation_date"), "%Y-%m-%d"),
        *_value(pl.col("value"), FRED_MISSING, "."),
        *_date("realtime_start", pl.col("realtime_start"), "%Y-%m-%d"),
        *_date("realtime_end", pl.col("realtime_end"), "%Y-%m-%d"),
        pl.lit(landing_time(ctx), pl.Datetime("us", "UTC")).alias("learned_ts"),
    )
    return _finish(frame)


@register_parser("fred_csv", suffixes=(), content_type="text/csv")
def parse_fred_csv(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """FRED graph CSV: one open vintage per series column, learned on the landing day."""
    table = _read_csv(data, name, ctx, ",")
    date_column = next((c for c in _DATE_HEADERS if c in table.columns), None)
    series = [c for c in table.columns if c != date_column]
    if date_column is None or not series:
        raise _format_error(name, ctx, "lacks the observation_date (or DATE) and series columns")
    long = table.unpivot(index=date_column, on=series, variable_name="series_id")
    return _finish(_vintage_frame(long, date_column, "value", "%Y-%m-%d", FRED_MISSING, ".", ctx))


@register_parser("csv", suffixes=(), content_type="text/csv")
def parse_macro_csv(data: bytes, name: str, ctx: ParseContext) -> ParseResult:
    """A generic one-series CSV mapped by the feed options (see the module docstring)."""
    options = ctx.options
    missing_options = [k for k in ("date_column", "value_column", "series_id") if k not in options]
    if missing_options:
        raise ConfigError(
            f"{ctx.source or name}: a macro CSV feed needs options {', '.join(missing_options)} "
            "in its [[feeds]] entry of tradelake.toml."
        )
    decimal = str(options.get("decimal", "."))
    table = _read_csv(
        data, name, ctx, str(options.get("separator", ";" if decimal == "," else ","))
    )
    date_column, value_column = str(options["date_column"]), str(options["value_column"])
    absent = [c for c in (date_column, value_column) if c not in table.columns]
    if absent:
        raise _format_error(
            name, ctx, f"has no column(s) {', '.join(absent)}; it has {table.columns}"
        )
    long = table.select(
        pl.lit(str(options["series_id"])).alias("series_id"), date_column, value_column
    )
    missing = tuple(options.get("missing", CSV_MISSING))
    fmt = options.get("date_format")
    frame = _vintage_frame(long, date_column, value_column, fmt, missing, decimal, ctx)
    return _finish(frame)


def landing_time(ctx: ParseContext) -> datetime:
    """When the object landed: ``ParseContext.ingest_ts`` once it exists, else the option.

    The parse context gains ``ingest_ts`` from the landing manifest (requested); until then the
    ``ingest_ts`` feed option (ISO 8601) stands in. Never the wall clock: a replay must give
    the same vintages.
    """
    value: Any = getattr(ctx, "ingest_ts", None) or ctx.options.get("ingest_ts")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigError(
            f"{ctx.source or 'macro'}: the parser needs the landing time (ParseContext.ingest_ts "
            "or the ingest_ts option, timezone-aware); parse landed objects through "
            "jobs.ingest.process_object."
        )
    return value


def _vintage_frame(
    long: pl.DataFrame,
    date_column: str,
    value_column: str,
    date_format: str | None,
    missing: Sequence[str],
    decimal: str,
    ctx: ParseContext,
) -> pl.DataFrame:
    learned = landing_time(ctx)
    return long.select(
        pl.col("series_id").str.strip_chars(),
        *_date("observation_date", pl.col(date_column), date_format),
        *_value(pl.col(value_column), missing, decimal),
        pl.lit(learned.date()).alias("realtime_start"),
        pl.lit(OPEN_END).alias("realtime_end"),
        pl.lit(learned, pl.Datetime("us", "UTC")).alias("learned_ts"),
    )


def _finish(frame: pl.DataFrame) -> ParseResult:
    quarantine = Quarantine(MACRO_RAW.name)
    checked = check_rows(MACRO_RAW, frame, quarantine)
    unique, notes = collapse_duplicates(MACRO_RAW, checked, quarantine)
    missing = unique.get_column("value").null_count()
    if missing:
        notes.append(f"macro_raw: {missing} observation(s) marked missing by the producer")
    return ParseResult({MACRO_RAW.name: unique}, {MACRO_RAW.name: quarantine}, notes)


def _date(column: str, text: pl.Expr, date_format: str | None) -> tuple[pl.Expr, pl.Expr]:
    """The typed date column and its producer text (``<column>__text``) for the parse check.

    Without a configured format the formats of :data:`DATE_FORMATS` are tried in order, so an
    ambiguous ``01/02/2026`` reads as US month/day; set ``date_format`` for other files.
    """
    clean = text.cast(pl.Utf8).str.strip_chars()
    clean = pl.when(clean == "").then(None).otherwise(clean)
    formats = (date_format,) if date_format else DATE_FORMATS
    typed = pl.coalesce([clean.str.to_date(f, strict=False, exact=True) for f in formats])
    return typed.alias(column), clean.alias(f"{column}{TEXT_SUFFIX}")


def _value(text: pl.Expr, missing: Sequence[str], decimal: str) -> tuple[pl.Expr, pl.Expr]:
    clean = text.cast(pl.Utf8).str.strip_chars()
    present = pl.when(clean.is_in(list(missing)) | clean.is_null()).then(None).otherwise(clean)
    if decimal == ",":
        number = present.str.replace_all(r"[.\s]", "").str.replace(",", ".", literal=True)
    else:
        number = present.str.replace_all(r"[,\s]", "")
    return number.cast(pl.Float64, strict=False).alias("value"), present.alias(
        f"value{TEXT_SUFFIX}"
    )


def _read_csv(data: bytes, name: str, ctx: ParseContext, separator: str) -> pl.DataFrame:
    try:
        return pl.read_csv(data, infer_schema=False, separator=separator)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise _format_error(name, ctx, f"is not CSV ({exc})") from exc


def _series_id(name: str, ctx: ParseContext) -> str:
    configured = ctx.options.get("series_id")
    if configured:
        return str(configured)
    found = _SERIES_IN_NAME.search(name)
    if found:
        return found.group(1)
    raise ConfigError(
        f"{ctx.source or name}: FRED responses do not name their series; set series_id in the "
        "feed's options."
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _format_error(name: str, ctx: ParseContext, what: str) -> SourceFormatError:
    return SourceFormatError(
        f"{name} ({ctx.source or 'macro'}): the payload {what}; check the feed's kind, URL and "
        "options, then re-pull."
    )
