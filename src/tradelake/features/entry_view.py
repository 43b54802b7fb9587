"""One round trip as the desk could see it at entry: the trade page's data.

Everything "at entry" comes from :mod:`tradelake.features.entry_features`, the same
point-in-time joins the signal ensemble trains and scores on, so the page shows exactly
what the model saw and nothing stamped after the entry can appear:

- the feature row (chart signal, option-chain shape, news counts, macro, trader history);
- the chart frame behind ``chart_signal``: the same backward as-of join run again carrying
  the frame's id, so the page can show its screenshot;
- the stories published in the hour up to entry (the window behind ``news_60m``);
- the fills of the round trip (opening to closing fill, a flipping fill in both trips).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import polars as pl

from tradelake.errors import FeatureStoreError
from tradelake.features.entry_features import (
    NEWS_WINDOWS_MIN,
    entries,
    entry_features,
    join_signals,
    load_entry_inputs,
)
from tradelake.features.store import FeatureStore
from tradelake.instruments import InstrumentTable
from tradelake.ml.ensemble_settings import EnsembleSettings

NEWS_WINDOW = timedelta(minutes=max(NEWS_WINDOWS_MIN))
NEWS_SHOWN = 20
FRAME_COLUMNS = ("frame_id", "device", "landing_id", "model_version")


@dataclass(frozen=True)
class EntryView:
    """``trip``: its ``round_trips`` row; ``features``: its entry-feature row (what the
    ensemble scores); ``frame``: the chart frame closest before entry (None: no mapped screen
    had one); ``news``: stories of the hour up to entry, newest first; ``fills``: in time
    order; ``price_decimals``: places that write the root's tick exactly (None: a root the
    instrument table does not know)."""

    trip: dict[str, Any]
    features: dict[str, Any]
    feature_rows: pl.DataFrame  # the one-row frame a model predicts on
    frame: dict[str, Any] | None
    news: pl.DataFrame
    fills: pl.DataFrame
    price_decimals: int | None = None


def entry_view(
    store: FeatureStore,
    instruments: InstrumentTable,
    ensemble: EnsembleSettings,
    round_trip_id: str,
) -> EntryView:
    """The trade page's data for ``round_trip_id`` (FeatureStoreError if there is none)."""
    trips = store.query("SELECT * FROM round_trips WHERE round_trip_id = ?", [round_trip_id])
    if trips.is_empty():
        raise FeatureStoreError(
            f"no round trip {round_trip_id!r}; the Journal page (or /api/round_trips) lists them"
        )
    trip = trips.row(0, named=True)
    spec = instruments.get(trip["root"])
    inputs = load_entry_inputs(store, ensemble.devices, ensemble.underlyings)
    rows = entry_features(inputs, instruments, only=[round_trip_id])
    return EntryView(
        trip=trip,
        features=rows.row(0, named=True),
        feature_rows=rows,
        frame=_frame_before(store, trips, ensemble),
        news=_news_before(store, trip),
        fills=store.query(
            "SELECT trade_id, timestamp, side, qty, price, commission, order_id FROM trades "
            "WHERE account = ? AND symbol = ? AND timestamp BETWEEN ? AND ? "
            "ORDER BY timestamp, trade_id",
            [trip["account"], trip["symbol"], trip["open_ts"], trip["close_ts"]],
        ),
        price_decimals=None if spec is None else spec.price_decimals,
    )


def _frame_before(
    store: FeatureStore, trips: pl.DataFrame, ensemble: EnsembleSettings
) -> dict[str, Any] | None:
    """The frame behind the entry's ``chart_signal`` (same join, carrying the frame's id)."""
    if not ensemble.devices:
        return None
    devices = list(ensemble.devices)
    signals = store.query(
        "SELECT frame_id, device, ts, signal, prob, model_version, landing_id FROM img_signals "
        f"WHERE device IN ({', '.join('?' for _ in devices)})",
        devices,
    )
    joined = join_signals(entries(trips), signals, ensemble.devices, carry=FRAME_COLUMNS)
    row = joined.row(0, named=True)
    if row["chart_frame_id"] is None:
        return None
    ts = signals.filter(pl.col("frame_id") == row["chart_frame_id"])["ts"].max()
    return {
        "frame_id": row["chart_frame_id"],
        "device": row["chart_device"],
        "ts": ts,
        "signal": row["chart_signal"],
        "prob": row["chart_prob"],
        "age_s": row["chart_age_s"],
        "model_version": row["chart_model_version"],
        "landing_id": row["chart_landing_id"],
    }


def _news_before(store: FeatureStore, trip: dict[str, Any]) -> pl.DataFrame:
    """Stories published in ``(entry - NEWS_WINDOW, entry]``, newest first."""
    return store.query(
        "SELECT published, publisher, headline, sentiment, sentiment_label FROM news "
        "WHERE published > ? AND published <= ? ORDER BY published DESC LIMIT ?",
        [trip["open_ts"] - NEWS_WINDOW, trip["open_ts"], NEWS_SHOWN],
    )
