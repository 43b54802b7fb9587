"""Triple-barrier labels for round-trip entries (López de Prado, *Advances in Financial
Machine Learning*, 2018, ch. 3), an alternative to the round trip's own net P&L > 0.

Why: ``net_pnl > 0`` labels the trader's exit as much as the entry (a good entry closed early
at a loss is a "bad" example). The triple barrier asks what the market did after the entry:
from the entry price, in the trade's direction, did the price reach ``+profit_take_bps``
(label 1) before ``-stop_bps`` (label 0), within ``horizon``? If neither barrier is touched,
the vertical barrier labels by the sign of the return at the last price seen before it.

The price path is the desk's own fills of the same root (``trades``: every account), strictly
after the entry and up to ``open_ts + horizon``; the round trip's exit fill is one of them. A
round trip with no fill in that window keeps its P&L label (its ``barrier`` is ``"pnl"``).
``label_end_ts`` is when the label became known (the touch, or the vertical barrier), which
is what the walk-forward purge must respect instead of ``close_ts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

FILL_SCHEMA: dict[str, pl.DataType] = {
    "root": pl.Utf8(),
    "timestamp": pl.Datetime("us", "UTC"),
    "price": pl.Float64(),
}


@dataclass(frozen=True)
class Barriers:
    """Horizontal barriers in basis points of the entry price, and the vertical one."""

    profit_take_bps: float = 20.0
    stop_bps: float = 20.0
    horizon: timedelta = timedelta(minutes=60)


def triple_barrier(
    rows: pl.DataFrame, trips: pl.DataFrame, fills: pl.DataFrame, barriers: Barriers
) -> pl.DataFrame:
    """``rows`` (entry features) with ``label`` replaced by the triple-barrier label and
    ``label_end_ts`` / ``barrier`` (``"profit_take"``, ``"stop"``, ``"time"``, ``"pnl"``) added.

    ``trips`` gives each round trip's ``entry_price`` and ``direction``; ``fills`` the path.
    """
    entry = trips.select(
        "round_trip_id",
        pl.col("entry_price").cast(pl.Float64),
        pl.when(pl.col("direction") == "long").then(1.0).otherwise(-1.0).alias("_dir"),
    )
    base = rows.select("round_trip_id", "root", "open_ts", "close_ts", "label").join(
        entry, on="round_trip_id", how="left"
    )
    path = fills.select(
        "root",
        pl.col("timestamp").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        "price",
    ).sort("root", "timestamp")
    labels, ends, kinds = [], [], []
    by_root = {k[0]: g for k, g in path.group_by("root")} if path.height else {}
    for r in base.iter_rows(named=True):
        label, end, kind = _one(r, by_root.get(r["root"]), barriers)
        labels.append(label)
        ends.append(end)
        kinds.append(kind)
    out = pl.DataFrame(
        {
            "round_trip_id": base["round_trip_id"],
            "_tb_label": pl.Series(labels, dtype=pl.Boolean),
            "label_end_ts": pl.Series(ends, dtype=pl.Datetime("us", "UTC")),
            "barrier": pl.Series(kinds, dtype=pl.Utf8),
        }
    )
    return (
        rows.join(out, on="round_trip_id", how="left", maintain_order="left")
        .with_columns(pl.col("_tb_label").alias("label"))
        .drop("_tb_label")
    )


def _one(r: dict[str, Any], path: pl.DataFrame | None, b: Barriers) -> tuple[bool, Any, str]:
    """(label, when it became known, which barrier) of one entry."""
    open_ts: datetime = r["open_ts"]
    price, direction = r["entry_price"], r["_dir"]
    if path is None or not price:
        return bool(r["label"]), r["close_ts"], "pnl"
    vertical = open_ts + b.horizon
    window = path.filter((pl.col("timestamp") > open_ts) & (pl.col("timestamp") <= vertical))
    if window.height == 0:
        return bool(r["label"]), r["close_ts"], "pnl"
    ret = (window["price"].to_numpy() / float(price) - 1.0) * float(direction) * 1e4
    up = np.flatnonzero(ret >= b.profit_take_bps)
    down = np.flatnonzero(ret <= -b.stop_bps)
    first_up = int(up[0]) if up.size else len(ret)
    first_down = int(down[0]) if down.size else len(ret)
    if first_up < first_down:
        return True, window["timestamp"][first_up], "profit_take"
    if first_down < first_up:
        return False, window["timestamp"][first_down], "stop"
    return bool(ret[-1] > 0), vertical, "time"
