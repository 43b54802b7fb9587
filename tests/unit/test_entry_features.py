"""Point-in-time entry features: nothing stamped after an entry ever reaches its row."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from fixtures.signal import desk
from tradelake.features.entry_features import (
    EntryInputs,
    entry_features,
    feature_columns,
    join_news,
    join_trader_history,
    macro_known,
)
from tradelake.instruments import InstrumentTable
from tradelake.ml.signal_ensemble import walk_forward

T0 = datetime(2026, 9, 1, 14, 0, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")


def _known_at(inputs: EntryInputs, trip: dict[str, object]) -> EntryInputs:
    """Only what existed at ``trip``'s entry: every source cut at the entry time, other trips
    only once closed, and the trip itself with its outcome blanked."""
    t = trip["open_ts"]
    others = inputs.trips.filter(
        (pl.col("close_ts") <= t) & (pl.col("round_trip_id") != trip["round_trip_id"])
    )
    own = pl.DataFrame([{**trip, "net_pnl": 0.0}], schema=inputs.trips.schema)
    return replace(
        inputs,
        trips=pl.concat([others, own]),
        signals=inputs.signals.filter(pl.col("ts") <= t),
        chains=inputs.chains.filter(pl.col("quote_ts") <= t),
        macro=inputs.macro.filter(pl.col("learned_ts") <= t),
        news=inputs.news.filter(pl.col("published") <= t),
    )


def test_each_row_equals_what_was_known_at_its_entry() -> None:
    """The defining property: a row computed from everything equals the row computed from
    only what existed at entry (planted after-entry information included in 'everything')."""
    inputs = desk(300, seed=3, plant_after=True).inputs
    full = entry_features(inputs, InstrumentTable())
    trips = inputs.trips.rows(named=True)
    for trip in random.Random(1).sample(trips, 25):
        cut = entry_features(_known_at(inputs, trip), InstrumentTable())
        rid = trip["round_trip_id"]
        got = full.filter(pl.col("round_trip_id") == rid).select(feature_columns(full))
        want = cut.filter(pl.col("round_trip_id") == rid)
        want = want.select(
            [pl.col(c) if c in want.columns else pl.lit(None).alias(c) for c in got.columns]
        )
        # Rolling means differ in the last bits with a different window history.
        assert_frame_equal(got, want.cast(got.schema), rel_tol=1e-12)


def test_planted_after_entry_information_is_never_seen() -> None:
    planted = desk(400, seed=5, plant_after=True)
    rows = entry_features(planted.inputs, InstrumentTable())
    # The frame 5 s after entry carried prob 0.0/1.0 and signal "none": no row has it.
    assert rows["chart_age_s"].min() == pytest.approx(30.0)
    assert not rows["chart_prob"].is_in([0.0, 1.0]).any()
    # The story 2 s after entry (+1/-1) is in no row's own window...
    clean = entry_features(planted.clean, InstrumentTable())
    assert rows["news_15m"].to_list()[0] == clean["news_15m"].to_list()[0]
    # ...and no row sees its own CPI revision (learned 1 s after entry), while later rows see
    # earlier trips' revisions once learned: revisions are used, only never early.
    number = rows["round_trip_id"].str.slice(2).cast(pl.Int64)
    own = 1000 + 2 * number + rows["label"].cast(pl.Int64)
    assert not (rows["macro_cpiaucsl"] == own.cast(pl.Float64)).any()
    earlier = rows.filter(pl.col("macro_cpiaucsl") >= 1000)
    assert earlier.height > 100
    seen_from = ((earlier["macro_cpiaucsl"] - 1000) // 2).cast(pl.Int64)
    assert (seen_from < earlier["round_trip_id"].str.slice(2).cast(pl.Int64)).all()


def test_model_stays_near_chance_with_planted_future_and_learns_planted_past() -> None:
    future = entry_features(desk(500, seed=7, plant_after=True).inputs, InstrumentTable())
    report = walk_forward(future, feature_columns(future), folds=4)
    assert report.pooled.auc is not None and 0.38 < report.pooled.auc < 0.62
    # Positive control: the same pipeline finds an outcome planted 30 s *before* entry.
    past = entry_features(desk(500, seed=7, plant_before=True).inputs, InstrumentTable())
    report = walk_forward(past, feature_columns(past), folds=4)
    assert report.pooled.auc is not None and report.pooled.auc > 0.95
    assert report.pooled.pnl_approved > report.pooled.pnl_all


def _macro(obs: date, start: date, learned: datetime, value: float, version: int = 1) -> dict:
    return {
        "series_id": "GDP",
        "observation_date": obs,
        "realtime_start": start,
        "learned_ts": learned,
        "version": version,
        "value": value,
    }


def test_macro_known_keeps_the_newest_print_and_ignores_old_revisions() -> None:
    h = timedelta(hours=1)
    macro = pl.DataFrame(
        [
            _macro(date(2026, 4, 1), date(2026, 5, 1), T0, 10.0),
            _macro(date(2026, 7, 1), date(2026, 8, 1), T0 + h, 20.0),
            # a revision of April learned later: the newest print is still July's
            _macro(date(2026, 4, 1), date(2026, 9, 1), T0 + 2 * h, 11.0),
            # a corrected delivery of July's print (same vintage, version 2)
            _macro(date(2026, 7, 1), date(2026, 8, 1), T0 + 3 * h, 21.0, version=2),
            # a revision of July
            _macro(date(2026, 7, 1), date(2026, 9, 1), T0 + 4 * h, 22.0),
        ],
        schema_overrides={"learned_ts": TS},
    )
    known = macro_known(macro)
    assert known["value"].to_list() == [10.0, 20.0, 20.0, 21.0, 22.0]


def test_news_windows_count_only_stories_up_to_entry() -> None:
    rows = pl.DataFrame({"open_ts": [T0, T0 + timedelta(minutes=30)]}, schema={"open_ts": TS})
    minutes = [-70, -50, -10, -1, 0, 1, 20, 29]
    news = pl.DataFrame(
        {
            "published": [T0 + timedelta(minutes=m) for m in minutes],
            "sentiment": [0.1, 0.2, 0.4, None, 0.6, -1.0, 0.5, 0.7],
        },
        schema={"published": TS, "sentiment": pl.Float64()},
    )
    out = join_news(rows, news)
    assert out["news_15m"].to_list() == [3, 2]  # (-15, 0]: -10, -1, 0; (15, 30]: 20, 29
    assert out["news_sentiment_15m"].to_list() == pytest.approx([0.5, 0.6])
    assert out["news_60m"].to_list() == [4, 6]  # -70 is out; (-30, 30]: six stories
    assert out["news_sentiment_60m"].to_list()[0] == pytest.approx((0.2 + 0.4 + 0.6) / 3)


def test_trader_history_counts_only_trips_closed_before_entry() -> None:
    m = timedelta(minutes=1)
    trips = pl.DataFrame(
        {
            "account": ["A", "A", "A", "B"],
            "open_ts": [T0, T0 + 2 * m, T0 + 5 * m, T0 + m],
            "close_ts": [T0 + 3 * m, T0 + 10 * m, T0 + 6 * m, T0 + 4 * m],
            "net_pnl": [10.0, -30.0, 5.0, -1.0],
        },
        schema_overrides={"open_ts": TS, "close_ts": TS},
    )
    rows = trips.select("account", "open_ts").sort("open_ts")
    out = join_trader_history(rows, trips).sort("account", "open_ts")
    assert out["trader_trips"].to_list() == [0, 0, 1, 0]
    assert out["trader_mean_pnl"].to_list() == [None, None, 10.0, None]
    assert out["trader_idle_s"].to_list() == [None, None, 120.0, None]


def test_rows_for_some_trips_equal_those_of_the_all_trips_computation() -> None:
    """The trade page computes one trip's row (``only=``): it must be that trip's row of the
    all-trips frame, history and every as-of join included."""
    inputs = desk(300, seed=7, plant_after=True).inputs
    full = entry_features(inputs, InstrumentTable())
    ids = inputs.trips["round_trip_id"].to_list()
    for rid in random.Random(2).sample(ids, 5):
        one = entry_features(inputs, InstrumentTable(), only=[rid])
        assert one.height == 1
        assert_frame_equal(one, full.filter(pl.col("round_trip_id") == rid))
    assert entry_features(inputs, InstrumentTable(), only=[]).is_empty()
