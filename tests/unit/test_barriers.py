"""Triple-barrier labels on constructed price paths, and the ``[ensemble] label`` option."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tradelake.config import load_settings
from tradelake.errors import ConfigError
from tradelake.features.barriers import Barriers, triple_barrier
from tradelake.features.entry_features import EntryInputs, entries, with_label
from tradelake.ml import signal_ensemble
from tradelake.ml.ensemble_settings import ensemble_settings
from tradelake.ml.signal_ensemble import walk_forward
from tradelake.ml.walk_forward import purged_splits

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
B = Barriers(profit_take_bps=20, stop_bps=10, horizon=timedelta(minutes=30))


def trip(i: int, direction: str, net_pnl: float, close_min: float = 5) -> dict[str, object]:
    open_ts = T0 + timedelta(hours=i)
    return {
        "round_trip_id": f"rt{i}",
        "account": "A",
        "root": "ES",
        "direction": direction,
        "open_ts": open_ts,
        "close_ts": open_ts + timedelta(minutes=close_min),
        "net_pnl": net_pnl,
        "entry_price": 5000.0,
    }


def path(i: int, moves: list[tuple[float, float]], root: str = "ES") -> list[dict[str, object]]:
    """Fills at (minutes after trip i's entry, price)."""
    return [
        {"root": root, "timestamp": T0 + timedelta(hours=i, minutes=m), "price": p}
        for m, p in moves
    ]


def labelled(trips: list[dict[str, object]], fills: list[dict[str, object]]) -> pl.DataFrame:
    t = pl.DataFrame(trips).with_columns(pl.col("open_ts", "close_ts").dt.cast_time_unit("us"))
    f = pl.DataFrame(fills, schema={"root": pl.Utf8, "timestamp": pl.Datetime("us", "UTC"),
                                    "price": pl.Float64})  # fmt: skip
    return triple_barrier(entries(t), t, f, B).sort("round_trip_id")


def test_each_barrier_labels_the_constructed_path_it_is_touched_on() -> None:
    trips = [
        trip(0, "long", -50.0),  # profit-take first (+20 bps at 5010), though the trade lost
        trip(1, "long", 80.0),  # stop first (-10 bps at 4995), though the trade won
        trip(2, "short", -10.0),  # short: a fall of 20 bps is its profit-take
        trip(3, "long", -5.0),  # neither barrier: time barrier, last return positive
        trip(4, "long", 5.0),  # only fills after the horizon, or another root: keeps P&L label
        trip(5, "long", 5.0),  # a fill exactly at the entry instant is not after it
    ]
    fills = [
        *path(0, [(0, 5000.0), (1, 5003.0), (2, 5010.0), (3, 4990.0)]),
        *path(1, [(1, 4996.0), (2, 4995.0), (3, 5020.0)]),
        *path(2, [(1, 5004.0), (4, 4990.0)]),
        *path(3, [(5, 5002.0), (29, 5001.0), (31, 4000.0)]),
        *path(4, [(31, 6000.0)]),
        *path(4, [(1, 1.0)], root="NQ"),
        *path(5, [(0, 4000.0), (10, 5001.0)]),
    ]
    out = labelled(trips, fills)
    assert out["barrier"].to_list() == ["profit_take", "stop", "profit_take", "time", "pnl", "time"]
    assert out["label"].to_list() == [True, False, True, True, True, True]
    ends = out["label_end_ts"].to_list()
    assert ends[0] == T0 + timedelta(minutes=2)
    assert ends[1] == T0 + timedelta(hours=1, minutes=2)
    assert ends[3] == T0 + timedelta(hours=3, minutes=30)  # the vertical barrier
    assert ends[4] == T0 + timedelta(hours=4, minutes=5)  # P&L label: known at close


def test_the_pnl_label_stays_the_default_and_the_option_is_checked(home: Path) -> None:
    t = pl.DataFrame([trip(0, "long", -50.0)]).with_columns(
        pl.col("open_ts", "close_ts").dt.cast_time_unit("us")
    )
    rows = entries(t)
    inputs = EntryInputs(trips=t)
    assert with_label(rows, inputs, "pnl", B).equals(rows)
    relabelled = with_label(rows, inputs, "triple_barrier", B)  # no fills: P&L label kept
    assert relabelled["barrier"].to_list() == ["pnl"] and relabelled["label"].to_list() == [False]

    assert ensemble_settings(load_settings(home, env={})).label == "pnl"
    toml = home / "tradelake.toml"
    toml.write_text('[ensemble]\nlabel = "triple_barrier"\nstop_bps = 5\n')
    chosen = ensemble_settings(load_settings(home, env={}))
    assert chosen.label == "triple_barrier" and chosen.barriers.stop_bps == 5.0
    assert chosen.barriers.horizon == timedelta(minutes=60)
    toml.write_text('[ensemble]\nlabel = "sharpe"\n')
    with pytest.raises(ConfigError, match="triple_barrier"):
        ensemble_settings(load_settings(home, env={}))


def test_walk_forward_purges_on_when_the_label_became_known() -> None:
    """A triple-barrier label that ends after the next block starts must leave training."""
    n = 60
    trips = [trip(i, "long", 1.0 if i % 2 else -1.0, close_min=5) for i in range(n)]
    # Every label is settled by the vertical barrier, 30 minutes after entry...
    fills = [f for i in range(n) for f in path(i, [(1, 5000.5 if i % 2 else 4999.5)])]
    rows = labelled(trips, fills).sort("open_ts").with_columns(x=pl.col("label").cast(pl.Float64))
    assert (rows["barrier"] == "time").all()
    # ...except one that a late fill keeps open well into the next block.
    late = rows.with_columns(
        label_end_ts=pl.when(pl.col("round_trip_id") == "rt9")
        .then(pl.col("open_ts") + timedelta(hours=40))
        .otherwise(pl.col("label_end_ts"))
    )
    a = purged_splits(rows["open_ts"], rows["label_end_ts"], folds=3, embargo=timedelta(0))
    b = purged_splits(late["open_ts"], late["label_end_ts"], folds=3, embargo=timedelta(0))
    assert 9 in a[1].train and 9 not in b[1].train
    # walk_forward purges on label_end_ts when the rows carry it (here: the late label).
    seen: list[pl.Series] = []
    real = signal_ensemble.purged_splits

    def spy(open_ts: pl.Series, ends: pl.Series, **kw: object) -> object:
        seen.append(ends)
        return real(open_ts, ends, **kw)  # type: ignore[arg-type]

    signal_ensemble.purged_splits = spy  # type: ignore[assignment]
    try:
        walk_forward(late, ["x"], folds=3, embargo=timedelta(0))
    finally:
        signal_ensemble.purged_splits = real
    assert seen[0].equals(late["label_end_ts"])
