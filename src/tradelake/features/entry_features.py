"""Point-in-time feature rows for round-trip entries: what the desk could know when it entered.

One row per round trip, stamped at its ``open_ts``. Every source is joined *backward* in time
with polars ``join_asof`` (by instrument where it has one), so a value stamped after the entry
can never reach the row; a source with nothing before the entry gives NULLs (LightGBM treats
them as missing). What "known at" means per source, which a caller may rely on:

- chart signals (``img_signals``): the latest frame captured at or before entry on a device
  that ``[[screens]]`` maps to the trade's root (``chart_signal``, ``chart_prob``,
  ``chart_age_s``). Capture time is the stamp: the CV service scores a frame within tens of
  milliseconds of its capture.
- option chains (``option_chain_features``): the latest snapshot of the root's underlying
  (``[ensemble] underlyings``, default the root itself) quoted at or before entry.
- macro (every staged vintage): per series, the newest observation among the vintages *we had
  learned* by entry (``learned_ts <= open_ts``); a later revision of an old observation, or a
  later delivery correcting it, is invisible until it was learned.
- news: stories published in the 15 and 60 minutes up to entry (count, mean sentiment).
- session: minutes since the session opened (exchange time) and weekday of the entry.
- the trader's recent results: win rate and mean net P&L of the account's last 20 round trips
  that had *closed* by entry (not the last 20 opened: those may still be running).

The label is ``net_pnl > 0`` of the round trip (its outcome, known only at close), or with
``[ensemble] label = "triple_barrier"`` the triple-barrier label of
:mod:`tradelake.features.barriers` over the desk's fills after entry (:func:`with_label`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import polars as pl

from tradelake.analytics.sessions import instrument_frame, local_time
from tradelake.errors import FeatureStoreError
from tradelake.features.barriers import FILL_SCHEMA, Barriers, triple_barrier
from tradelake.features.store import FeatureStore
from tradelake.instruments import InstrumentTable

RECENT_TRIPS = 20
NEWS_WINDOWS_MIN = (15, 60)
CHAIN_COLUMNS = ("atm_iv", "skew_25d", "term_slope", "put_call_volume_ratio", "put_call_oi_ratio")
ID_COLUMNS = (
    "round_trip_id", "account", "root", "open_ts", "close_ts", "net_pnl", "label",
    "label_end_ts", "barrier",
)  # fmt: skip
CATEGORICAL = ("chart_signal",)
TS = pl.Datetime("us", "UTC")
AsofStrategy = Literal["backward", "forward"]
_NON_IDENT = re.compile(r"[^a-z0-9]+")

TRIP_SCHEMA: dict[str, pl.DataType] = {
    "round_trip_id": pl.Utf8(),
    "account": pl.Utf8(),
    "root": pl.Utf8(),
    "direction": pl.Utf8(),
    "open_ts": TS,
    "close_ts": TS,
    "net_pnl": pl.Float64(),
    "entry_price": pl.Float64(),
}
SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "device": pl.Utf8(),
    "ts": TS,
    "signal": pl.Utf8(),
    "prob": pl.Float64(),
}
CHAIN_SCHEMA: dict[str, pl.DataType] = {
    "underlying": pl.Utf8(),
    "quote_ts": TS,
    **{c: pl.Float64() for c in CHAIN_COLUMNS},
}
MACRO_SCHEMA: dict[str, pl.DataType] = {
    "series_id": pl.Utf8(),
    "observation_date": pl.Date(),
    "realtime_start": pl.Date(),
    "learned_ts": TS,
    "version": pl.Int64(),
    "value": pl.Float64(),
}
NEWS_SCHEMA: dict[str, pl.DataType] = {"published": TS, "sentiment": pl.Float64()}


@dataclass(frozen=True)
class EntryInputs:
    """The frames entry features are built from (each may be empty) and the mappings.

    ``devices`` maps a screen device to the instrument root it shows (``[[screens]]``);
    ``underlyings`` maps a root to the option underlying whose chain describes it.
    """

    trips: pl.DataFrame
    signals: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SIGNAL_SCHEMA))
    chains: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CHAIN_SCHEMA))
    macro: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MACRO_SCHEMA))
    news: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NEWS_SCHEMA))
    fills: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FILL_SCHEMA))
    devices: Mapping[str, str] = field(default_factory=dict)
    underlyings: Mapping[str, str] = field(default_factory=dict)


def entry_features(
    inputs: EntryInputs,
    instruments: InstrumentTable,
    *,
    only: Collection[str] | None = None,
) -> pl.DataFrame:
    """One point-in-time feature row per round trip, sorted by entry time (see module doc).

    ``only`` keeps the rows of those round-trip ids (the trade page's one row). Every join is
    a backward as-of per row, so a row is the same whichever other rows are computed; the
    trader's history still reads every trip of ``inputs``.
    """
    rows = entries(inputs.trips)
    if only is not None:
        rows = rows.filter(pl.col("round_trip_id").is_in(list(only)))
    rows = join_signals(rows, inputs.signals, inputs.devices)
    rows = join_chains(rows, inputs.chains, inputs.underlyings)
    rows = join_macro(rows, inputs.macro)
    rows = join_news(rows, inputs.news)
    rows = join_trader_history(rows, inputs.trips)
    return with_session_time(rows, instruments)


def with_label(
    rows: pl.DataFrame, inputs: EntryInputs, label: str, barriers: Barriers
) -> pl.DataFrame:
    """``rows`` labelled as ``[ensemble] label`` says: ``"pnl"`` leaves them as built,
    ``"triple_barrier"`` relabels from the fills after each entry."""
    if label == "pnl":
        return rows
    return triple_barrier(rows, inputs.trips, inputs.fills, barriers)


def feature_columns(rows: pl.DataFrame) -> list[str]:
    """The model's inputs: every column of an entry-feature frame but ids, outcome and label."""
    return [c for c in rows.columns if c not in ID_COLUMNS]


def entries(trips: pl.DataFrame) -> pl.DataFrame:
    """The entry of each round trip with its label, sorted by entry time (``join_asof`` needs
    its left side sorted on the time key)."""
    return trips.select(
        pl.col("round_trip_id"),
        pl.col("account"),
        pl.col("root"),
        pl.col("open_ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.col("close_ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        pl.col("net_pnl"),
        (pl.col("net_pnl") > 0).alias("label"),
        pl.when(pl.col("direction") == "long").then(1).otherwise(-1).alias("direction"),
    ).sort("open_ts")


def join_signals(
    rows: pl.DataFrame,
    signals: pl.DataFrame,
    devices: Mapping[str, str],
    *,
    carry: Sequence[str] = (),
) -> pl.DataFrame:
    """The latest chart signal of the root's screens captured at or before entry.

    ``carry`` names more columns of ``signals`` to bring along as ``chart_<name>`` (the
    desk's trade page takes ``frame_id`` to show the screenshot; the model takes none)."""
    right = signals.filter(pl.col("device").is_in(list(devices))).select(
        pl.col("device").replace_strict(dict(devices), return_dtype=pl.Utf8).alias("root"),
        _utc("ts").alias("chart_ts"),
        pl.col("signal").alias("chart_signal"),
        pl.col("prob").cast(pl.Float64).alias("chart_prob"),
        *[pl.col(name).alias(f"chart_{name}") for name in carry],
    )
    return (
        asof_by(rows, right, on="open_ts", right_on="chart_ts", by="root")
        .with_columns(_age_s("chart_ts").alias("chart_age_s"))
        .drop("chart_ts")
    )


def asof_by(
    left: pl.DataFrame,
    right: pl.DataFrame,
    *,
    on: str,
    right_on: str,
    by: str,
    strategy: AsofStrategy = "backward",
    tolerance: timedelta | None = None,
) -> pl.DataFrame:
    """Backward as-of join: per left row, the last right row with the same ``by`` and
    ``right_on <= left[on]``. ``left`` must already be sorted on ``on``; ``right`` is sorted
    here (the cost :mod:`benchmarks.asof` measures against a bare ``join_asof``).

    ``strategy="forward"`` looks the other way (the first right row at or after), which only
    an outcome may do, never a feature; ``tolerance`` bounds the gap."""
    return left.join_asof(
        right.sort(right_on),
        left_on=on,
        right_on=right_on,
        by=by,
        strategy=strategy,
        tolerance=tolerance,
        check_sortedness=False,
    )


def join_chains(
    rows: pl.DataFrame, chains: pl.DataFrame, underlyings: Mapping[str, str]
) -> pl.DataFrame:
    """Option-chain shape of the root's underlying as of entry (``chain_age_s`` since quote)."""
    rows = rows.with_columns(pl.col("root").replace(dict(underlyings)).alias("_underlying"))
    right = chains.select(
        pl.col("underlying").alias("_underlying"),
        _utc("quote_ts").alias("_quote_ts"),
        *[pl.col(c).cast(pl.Float64) for c in CHAIN_COLUMNS],
    )
    joined = asof_by(rows, right, on="open_ts", right_on="_quote_ts", by="_underlying")
    return joined.with_columns(_age_s("_quote_ts").alias("chain_age_s")).drop(
        "_underlying", "_quote_ts"
    )


def macro_known(macro: pl.DataFrame) -> pl.DataFrame:
    """Per series, each moment the desk's knowledge changed: ``(series_id, learned_ts,
    value)`` where value is the newest observation (latest vintage, latest version) among the
    rows learned so far. A revision of an *older* observation changes nothing here; a new
    version of the newest one (a corrected delivery) does, from when it was learned."""
    key = pl.col("observation_date").cast(pl.Int64) * 1_000_000 + pl.col("realtime_start").cast(
        pl.Int64
    )
    ordered = macro.select(
        "series_id",
        _utc("learned_ts").alias("learned_ts"),
        "value",
        key.alias("_key"),
        "version",
    ).sort("series_id", "learned_ts", "_key", "version")
    newest = pl.col("_key").cum_max().over("series_id")
    return ordered.with_columns(
        pl.when(pl.col("_key") == newest)
        .then(pl.col("value"))
        .otherwise(None)
        .forward_fill()
        .over("series_id")
        .alias("value")
    ).select("series_id", "learned_ts", "value")


def join_macro(rows: pl.DataFrame, macro: pl.DataFrame) -> pl.DataFrame:
    """One ``macro_<series>`` column per series: its value as the desk knew it at entry."""
    known = macro_known(macro)
    for series in sorted(known["series_id"].unique().to_list()):
        column = "macro_" + _NON_IDENT.sub("_", series.lower()).strip("_")
        right = known.filter(pl.col("series_id") == series).select(
            pl.col("learned_ts").alias("_learned"), pl.col("value").alias(column)
        )
        rows = rows.join_asof(
            right.sort("_learned"),
            left_on="open_ts",
            right_on="_learned",
            strategy="backward",
            check_sortedness=False,
        ).drop("_learned")
    return rows


def join_news(rows: pl.DataFrame, news: pl.DataFrame) -> pl.DataFrame:
    """Story count and mean sentiment over ``(entry - window, entry]`` for each window.

    Cumulative sums over stories in publication order, read as of entry and as of entry minus
    the window: exact window sums in two as-of joins, whatever the number of stories.
    """
    stories = news.select(_utc("published").alias("_ts"), pl.col("sentiment").cast(pl.Float64))
    stories = (
        stories.sort("_ts")
        .with_columns(
            _n=pl.int_range(1, pl.len() + 1, dtype=pl.Int64),
            _s=pl.col("sentiment").fill_null(0.0).cum_sum(),
            _k=pl.col("sentiment").is_not_null().cast(pl.Int64).cum_sum(),
        )
        .select("_ts", "_n", "_s", "_k")
    )
    cumulative = stories

    def at(frame: pl.DataFrame, when: pl.Expr, suffix: str) -> pl.DataFrame:
        frame = frame.with_columns(when.alias("_at"))  # a constant shift keeps the order
        joined = frame.join_asof(
            cumulative, left_on="_at", right_on="_ts", strategy="backward", check_sortedness=False
        )
        return joined.with_columns(
            pl.col("_n").fill_null(0).alias(f"_n{suffix}"),
            pl.col("_s").fill_null(0.0).alias(f"_s{suffix}"),
            pl.col("_k").fill_null(0).alias(f"_k{suffix}"),
        ).drop("_at", "_ts", "_n", "_s", "_k")

    rows = at(rows, pl.col("open_ts"), "_now")
    for minutes in NEWS_WINDOWS_MIN:
        rows = at(rows, pl.col("open_ts") - pl.duration(minutes=minutes), "_then")
        count = pl.col("_k_now") - pl.col("_k_then")
        rows = rows.with_columns(
            (pl.col("_n_now") - pl.col("_n_then")).alias(f"news_{minutes}m"),
            pl.when(count > 0)
            .then((pl.col("_s_now") - pl.col("_s_then")) / count)
            .otherwise(None)
            .alias(f"news_sentiment_{minutes}m"),
        ).drop("_n_then", "_s_then", "_k_then")
    return rows.drop("_n_now", "_s_now", "_k_now")


def join_trader_history(rows: pl.DataFrame, trips: pl.DataFrame) -> pl.DataFrame:
    """Win rate and mean net P&L of the account's last closed round trips, as of entry."""
    closes = (
        trips.select(
            "account",
            _utc("close_ts").alias("_closed"),
            pl.col("net_pnl").alias("_pnl"),
        )
        .sort("account", "_closed")
        .with_columns(
            (pl.col("_pnl") > 0)
            .cast(pl.Float64)
            .rolling_mean(RECENT_TRIPS, min_samples=1)
            .over("account")
            .alias("trader_win_rate"),
            pl.col("_pnl")
            .rolling_mean(RECENT_TRIPS, min_samples=1)
            .over("account")
            .alias("trader_mean_pnl"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("account").alias("trader_trips"),
        )
        .drop("_pnl")
    )
    joined = asof_by(rows, closes, on="open_ts", right_on="_closed", by="account")
    return joined.with_columns(
        pl.col("trader_trips").fill_null(0), _age_s("_closed").alias("trader_idle_s")
    ).drop("_closed")


def with_session_time(rows: pl.DataFrame, instruments: InstrumentTable) -> pl.DataFrame:
    """Minutes since the session opened (exchange time, DST respected) and the weekday
    (Monday 0) of each entry; roots without a spec get NULLs rather than an error, because a
    feature row must not stop training."""
    specs = instrument_frame(instruments).select("root", "exchange_tz", "session_open_minutes")
    joined = rows.join(specs, on="root", how="left", maintain_order="left")
    zones = [z for z in joined["exchange_tz"].unique().to_list() if z is not None]
    local = local_time("open_ts", "exchange_tz", sorted(zones))
    minutes = local.dt.hour().cast(pl.Int64) * 60 + local.dt.minute().cast(pl.Int64)
    return joined.with_columns(
        ((minutes - pl.col("session_open_minutes")) % 1440).alias("session_minute"),
        local.dt.weekday().cast(pl.Int64).sub(1).alias("weekday"),
    ).drop("exchange_tz", "session_open_minutes")


def _utc(column: str) -> pl.Expr:
    """``column`` as UTC microseconds (DuckDB may hand TIMESTAMPTZ back as ``Etc/UTC``)."""
    return pl.col(column).dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _age_s(column: str) -> pl.Expr:
    return (pl.col("open_ts") - pl.col(column)).dt.total_microseconds() / 1e6


def load_entry_inputs(
    store: FeatureStore, devices: Mapping[str, str], underlyings: Mapping[str, str]
) -> EntryInputs:
    """The sources of :func:`entry_features` from the published feature store; a source the
    store does not hold yet (no feed configured, no frames streamed) is an empty frame."""
    con = store.connect(read_only=True)
    try:
        present = {
            (schema, name)
            for schema, name in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }

        def read(schema: str, name: str, columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
            if (schema, name) not in present:
                return pl.DataFrame(schema=dict(columns))
            names = ", ".join(f'"{c}"' for c in columns)
            frame = con.sql(f'SELECT {names} FROM {schema}."{name}"').pl()
            return frame.with_columns(
                [
                    pl.col(c).dt.convert_time_zone("UTC")
                    for c, t in columns.items()
                    if isinstance(t, pl.Datetime)
                ]
            ).cast(dict(columns))

        if ("main", "round_trips") not in present:
            raise FeatureStoreError(
                "the feature store has no round trips yet; ingest ATAS exports "
                "(`tradelake ingest`, or `tradelake demo`) first"
            )
        return EntryInputs(
            trips=read("main", "round_trips", TRIP_SCHEMA),
            signals=read("main", "img_signals", SIGNAL_SCHEMA),
            chains=read("main", "option_chain_features", CHAIN_SCHEMA),
            # Every version: a later delivery must not hide what the desk knew before it.
            macro=read("staging", "macro_raw", MACRO_SCHEMA),
            news=read("main", "news", NEWS_SCHEMA),
            fills=read("main", "trades", FILL_SCHEMA),
            devices=dict(devices),
            underlyings=dict(underlyings),
        )
    finally:
        con.close()
