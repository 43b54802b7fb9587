"""Table contracts: names, columns and dtypes, natural keys and partitioning, in one place.

Every staged table carries the record tags of DESIGN §3: ``source``, ``ingest_ts`` (UTC, when the
landing object was written), ``version`` (1 for the first delivery of a natural key, +1 for each
later delivery whose content differs) and ``landing_id`` (sha256 of the landing object).
Versions are decided by comparing a row's ``hash_columns`` with the latest staged version of its
natural key, so an identical re-delivery adds nothing and a corrected one becomes a new version.
Everything else (parsers, staging, the feature store) reads these specs instead of repeating
column lists; the derived tables' natural keys are declared here too (:data:`DERIVED_KEYS`), so
``tradelake publish`` upserts every table on a key from this one place (:func:`natural_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

RECORD_TAGS: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "ingest_ts": UTC_TS,
    "version": pl.Int64(),
    "landing_id": pl.Utf8(),
}


@dataclass(frozen=True)
class TableSpec:
    """The contract of one staged table.

    ``content`` are the business columns (compared to decide versions); ``natural_key``
    identifies the same real-world record across deliveries; ``date_column`` drives the date
    partition and ``partition`` its span, sized to how the table arrives: ``day``
    (``date=YYYY-MM-DD``) for feeds pulled a day or less at a time, ``month``
    (``month=YYYY-MM``) for exports that span months, whose daily files would hold a few
    hundred rows each (see :meth:`partition_dir`).

    ``renamed`` maps a column's former name to its name in ``content`` (``"vega"`` →
    ``"vega_per_vol_pt"``): files staged before a rename keep the old name, and readers of
    staged files (the feature store's views, :meth:`StagingWriter.read`) map it, so a rename
    needs neither a replay nor a rewrite of staging. ``tradelake replay`` writes new names.
    """

    name: str
    content: Mapping[str, pl.DataType]
    natural_key: tuple[str, ...]
    date_column: str
    hashed: tuple[str, ...] = field(default=())
    latest_name: str = ""
    partition: Literal["day", "month"] = "day"
    renamed: Mapping[str, str] = field(default_factory=dict)

    @property
    def latest(self) -> str:
        """Name of the feature-store table holding the latest version per natural key."""
        return self.latest_name or self.name.removesuffix("_raw")

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Full staged schema: business columns then record tags."""
        return {**self.content, **RECORD_TAGS}

    def partition_start(self, column: pl.Expr) -> pl.Expr:
        """The first date of the partition each value of the date column falls in."""
        day = column.dt.date()
        return day.dt.truncate("1mo") if self.partition == "month" else day

    def partition_dir(self, start: date | None) -> str:
        """The hive folder of the partition starting on ``start`` (DESIGN §5)."""
        if self.partition == "month" and start is not None:
            return f"month={start:%Y-%m}"
        return f"date={start}"

    @property
    def hash_columns(self) -> tuple[str, ...]:
        """Columns whose values decide whether a re-delivery is a new version."""
        return self.hashed or tuple(c for c in self.content if c not in self.natural_key)


TRADES_RAW = TableSpec(
    name="trades_raw",
    content={
        "trade_id": pl.Int64(),
        "account": pl.Utf8(),
        "instrument": pl.Utf8(),
        "symbol": pl.Utf8(),
        "root": pl.Utf8(),
        "exchange": pl.Utf8(),
        "timestamp": UTC_TS,
        "side": pl.Utf8(),
        "qty": pl.Int64(),
        "price": pl.Float64(),
        "commission": pl.Float64(),
        "exchange_id": pl.Utf8(),
        "order_id": pl.Utf8(),
        "extra": pl.Utf8(),
    },
    natural_key=("trade_id",),
    date_column="timestamp",
    partition="month",  # an ATAS export spans months: ~1,000 fills a day for an active desk
)

ATAS_JOURNAL = TableSpec(
    name="atas_journal",
    content={
        "journal_id": pl.Int64(),
        "account": pl.Utf8(),
        "instrument": pl.Utf8(),
        "symbol": pl.Utf8(),
        "root": pl.Utf8(),
        "exchange": pl.Utf8(),
        "open_ts": UTC_TS,
        "open_price": pl.Float64(),
        "open_volume": pl.Int64(),
        "close_ts": UTC_TS,
        "close_price": pl.Float64(),
        "close_volume": pl.Int64(),
        "price_pnl": pl.Float64(),
        "profit_ticks": pl.Float64(),
        "pnl": pl.Float64(),
        "comment": pl.Utf8(),
        "extra": pl.Utf8(),
    },
    natural_key=("journal_id",),
    date_column="open_ts",
    latest_name="journal",
    partition="month",
)

# Pulled feeds (choices documented in tradelake.sources.feed_tables) and chart screenshots.
MACRO_RAW = TableSpec(
    name="macro_raw",
    content={
        "series_id": pl.Utf8(),
        "observation_date": pl.Date(),
        "value": pl.Float64(),
        "realtime_start": pl.Date(),
        "realtime_end": pl.Date(),
        "learned_ts": UTC_TS,
    },
    natural_key=("series_id", "observation_date", "realtime_start"),
    date_column="learned_ts",
    hashed=("value", "realtime_end"),
)

NEWS_RAW = TableSpec(
    name="news_raw",
    content={
        "uuid": pl.Utf8(),
        "headline": pl.Utf8(),
        "body": pl.Utf8(),
        "published": UTC_TS,
        "sentiment": pl.Float64(),
        "sentiment_label": pl.Utf8(),
        "sentiment_model": pl.Utf8(),
        "scored_ts": UTC_TS,
        "url": pl.Utf8(),
        "tickers": pl.Utf8(),
        "publisher": pl.Utf8(),
        "feed": pl.Utf8(),
    },
    natural_key=("uuid",),
    date_column="published",
    # A re-score by another model is a new version; scoring again with the same one is not.
    hashed=("headline", "published", "sentiment_model"),
)

# Greek columns were named without their units until the table said which convention it uses.
GREEK_COLUMNS_BEFORE_UNITS = {
    "vega": "vega_per_vol_pt",
    "theta": "theta_per_day",
    "rho": "rho_per_rate_pt",
}

OPTIONS_RAW = TableSpec(
    name="options_raw",
    content={
        "underlying": pl.Utf8(),
        "symbol": pl.Utf8(),
        "expiry": pl.Date(),
        "strike": pl.Float64(),
        "right": pl.Utf8(),
        "bid": pl.Float64(),
        "ask": pl.Float64(),
        "last": pl.Float64(),
        "volume": pl.Int64(),
        "open_interest": pl.Int64(),
        "underlying_price": pl.Float64(),
        "quote_ts": UTC_TS,
        "provider_iv": pl.Float64(),
        "iv": pl.Float64(),
        "delta": pl.Float64(),
        "gamma": pl.Float64(),
        "vega_per_vol_pt": pl.Float64(),
        "theta_per_day": pl.Float64(),
        "rho_per_rate_pt": pl.Float64(),
        "iv_note": pl.Utf8(),
    },
    natural_key=("symbol", "quote_ts"),
    date_column="quote_ts",
    hashed=(
        "bid",
        "ask",
        "last",
        "volume",
        "open_interest",
        "underlying_price",
        "provider_iv",
    ),
    renamed=GREEK_COLUMNS_BEFORE_UNITS,
)

EMBED_DIM = 128  # the chart model's embedding width (ml.vision.EMBED_DIM)
IMG_SIGNALS = TableSpec(
    name="img_signals",
    content={
        "frame_id": pl.Utf8(),
        "device": pl.Utf8(),
        "ts": UTC_TS,
        "signal": pl.Utf8(),
        "prob": pl.Float64(),
        "probs": pl.Utf8(),
        "embedding": pl.Array(pl.Float32(), EMBED_DIM),
        "model_version": pl.Utf8(),
    },
    natural_key=("frame_id",),
    date_column="ts",
    hashed=("device", "ts", "signal", "prob", "probs", "model_version"),
)

# Every staged table, declared here: no module has to be imported first for staging, replay or
# the feature store to know one (register_table stays for tests and extensions).
TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (TRADES_RAW, ATAS_JOURNAL, MACRO_RAW, NEWS_RAW, OPTIONS_RAW, IMG_SIGNALS)
}


def register_table(spec: TableSpec) -> TableSpec:
    """Add a table contract (one line per new source module)."""
    TABLES[spec.name] = spec
    return spec


# Tables the feature store derives from staged ones, and the alert log: no staged contract,
# but each has a natural key that anything upserting or checking it by key (``tradelake
# publish``) reads from here, beside the staged tables' keys.
DERIVED_KEYS: dict[str, tuple[str, ...]] = {
    "round_trips": ("account", "round_trip_id"),
    "daily_pnl": ("session_date", "account", "instrument"),
    "open_positions": ("account", "symbol"),
    "journal_stats": ("dimension", "key", "currency"),
    "option_chain_features": ("underlying", "quote_ts"),
    "alerts": ("alert_id",),
}


def natural_key(table: str) -> tuple[str, ...]:
    """The natural key of feature-store table ``table``: the latest version of a staged table
    (``trades`` is ``trades_raw``'s) or a derived one (:data:`DERIVED_KEYS`)."""
    for spec in TABLES.values():
        if spec.latest == table:
            return spec.natural_key
    if table in DERIVED_KEYS:
        return DERIVED_KEYS[table]
    raise KeyError(
        f"no natural key for table {table!r}: declare it in tradelake.tables "
        "(a TableSpec for a staged table, DERIVED_KEYS for a derived one)"
    )


# Appended by `tradelake drift` (tradelake.jobs.drift): one row per (check, feature), where the
# feature ``prediction`` is the model's output. A check is never re-run under the same run_id,
# so every row is version 1; ``main.model_drift`` is the whole history, queryable by SQL.
MODEL_DRIFT = register_table(
    TableSpec(
        name="model_drift",
        content={
            "run_id": pl.Utf8(),
            "checked_ts": UTC_TS,
            "model": pl.Utf8(),
            "model_version": pl.Utf8(),
            "feature": pl.Utf8(),
            "psi": pl.Float64(),
            "ks_stat": pl.Float64(),
            "ks_pvalue": pl.Float64(),
            "train_n": pl.Int64(),
            "recent_n": pl.Int64(),
            "train_mean": pl.Float64(),
            "recent_mean": pl.Float64(),
            "breach": pl.Boolean(),
            "window_start": UTC_TS,
            "window_end": UTC_TS,
        },
        natural_key=("run_id", "feature"),
        date_column="checked_ts",
        partition="month",
    )
)
