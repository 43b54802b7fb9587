"""Reading alerts back with their lineage: alert → signal → frame → landed image.

What ``tradelake alerts`` and ``tradelake alerts show ID`` print. The chain is checked, not
just joined: the signal row must exist in staging's ``img_signals`` for the alert's frame and
landing object, and the image's bytes are read back and verified against their sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from tradelake.errors import StreamError
from tradelake.landing import LandingStore
from tradelake.sources.screens import IMG_SIGNALS
from tradelake.staging import StagingWriter
from tradelake.stream.alerts.record import Alert
from tradelake.stream.alerts.store import ALERTS_FILE, AlertStore


@dataclass(frozen=True)
class AlertChain:
    """One alert and what it came from; ``signal`` is its ``img_signals`` row (None if the row
    is not staged yet), ``image_verified`` that the landed bytes match their sha256."""

    alert: Alert
    signal: dict[str, Any] | None
    frame: dict[str, Any]
    image_path: str
    sha256: str
    image_verified: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert.to_dict(),
            "signal": self.signal,
            "frame": self.frame,
            "image_path": self.image_path,
            "sha256": self.sha256,
            "image_verified": self.image_verified,
        }


def stored_alerts(state_dir: Path, since: datetime | None, limit: int) -> list[Alert]:
    store = AlertStore(state_dir / ALERTS_FILE, read_only=True)
    try:
        return store.since(since, limit)
    finally:
        store.close()


def alert_chain(
    state_dir: Path, landing: LandingStore, staging: StagingWriter, alert_id: str
) -> AlertChain:
    store = AlertStore(state_dir / ALERTS_FILE, read_only=True)
    try:
        alert = store.get(alert_id)
    finally:
        store.close()
    if alert is None:
        raise StreamError(f"no alert {alert_id!r}; list them with `tradelake alerts`")
    obj = landing.describe(alert.landing_id)
    try:
        landing.get(alert.landing_id)
        verified = True
    except Exception:  # a tampered or missing object: report it in the chain, do not hide it
        verified = False
    frame = {
        "landing_id": obj.landing_id,
        "source": obj.source,
        "ingest_ts": obj.ingest_ts.isoformat(),
        "bytes": obj.bytes,
        "content_type": obj.content_type,
    }
    return AlertChain(
        alert=alert,
        signal=_signal_row(staging, alert),
        frame=frame,
        image_path=f"{landing.url.rstrip('/')}/{obj.key}",
        sha256=obj.landing_id,
        image_verified=verified,
    )


def alert_frame(state_dir: Path, landing: LandingStore, alert_id: str) -> tuple[bytes, str]:
    """The landed screen frame an alert fired on (digest-checked by the landing store) and its
    content type: only frames behind an alert, never an arbitrary landing object."""
    store = AlertStore(state_dir / ALERTS_FILE, read_only=True)
    try:
        alert = store.get(alert_id)
    finally:
        store.close()
    if alert is None:
        raise StreamError(f"no alert {alert_id!r}; list them with `tradelake alerts`")
    obj = landing.describe(alert.landing_id)
    return landing.get(alert.landing_id), obj.content_type or "application/octet-stream"


def _signal_row(staging: StagingWriter, alert: Alert) -> dict[str, Any] | None:
    files = staging.files(IMG_SIGNALS.name)
    if not files:
        return None
    rows = (
        pl.scan_parquet(files, hive_partitioning=False)
        .filter((pl.col("frame_id") == alert.frame_id) & (pl.col("landing_id") == alert.landing_id))
        .select("frame_id", "device", "ts", "signal", "prob", "model_version", "version")
        .collect()
    )
    if rows.height == 0:
        return None
    row = rows.sort("version").row(-1, named=True)
    row["ts"] = row["ts"].isoformat()
    return dict(row)
