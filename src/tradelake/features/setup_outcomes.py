"""What happened after a past chart frame: the Setups page's "outcome" of a similar setup.

A frame is a picture, not a trade, so its outcome is defined through the trades the desk
actually took: the round trip on the frame's instrument (its screen's root, ``[[screens]]``)
that was *entered* soonest at or after the frame's capture, within :data:`HORIZON`. Its
direction, net P&L and id (a link to its trade page) are the outcome. A frame whose screen
maps to no instrument, or after which nothing was entered in time, has no outcome (said so,
not guessed). This is a look *forward* by design: it is what the trader wants to know about
a past setup, and it never feeds a model (:mod:`tradelake.features.entry_features` only
looks back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from tradelake.features.entry_features import TS, asof_by
from tradelake.features.store import FeatureStore

HORIZON = timedelta(minutes=60)


@dataclass(frozen=True)
class Outcome:
    """The round trip entered after a frame (``round_trip_id`` None: none; ``note`` why)."""

    round_trip_id: str | None = None
    direction: str | None = None
    open_ts: datetime | None = None
    net_pnl: float | None = None
    currency: str | None = None
    note: str | None = None


def setup_outcomes(
    store: FeatureStore,
    frames: Sequence[tuple[str, datetime]],
    devices: Mapping[str, str],
    horizon: timedelta = HORIZON,
) -> list[Outcome]:
    """One :class:`Outcome` per ``(device, capture ts)`` in ``frames``, in their order."""
    if not frames:
        return []
    left = pl.DataFrame(
        {
            "_i": list(range(len(frames))),
            "root": [devices.get(device) for device, _ in frames],
            "ts": [ts for _, ts in frames],
        },
        schema={"_i": pl.Int64(), "root": pl.Utf8(), "ts": TS},
    )
    trips = store.query(
        "SELECT root, round_trip_id, direction, open_ts, net_pnl, currency FROM round_trips"
    ).with_columns(pl.col("open_ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    joined = asof_by(
        left.sort("ts"),
        trips.with_columns(pl.col("open_ts").alias("_entered")),
        on="ts",
        right_on="_entered",
        by="root",
        strategy="forward",
        tolerance=horizon,
    ).sort("_i")
    minutes = int(horizon.total_seconds() // 60)
    out = []
    for row in joined.iter_rows(named=True):
        if row["root"] is None:
            out.append(Outcome(note="screen not mapped to an instrument ([[screens]])"))
        elif row["round_trip_id"] is None:
            out.append(Outcome(note=f"no {row['root']} trade entered within {minutes} min"))
        else:
            out.append(
                Outcome(
                    row["round_trip_id"],
                    row["direction"],
                    row["open_ts"],
                    row["net_pnl"],
                    row["currency"],
                )
            )
    return out
