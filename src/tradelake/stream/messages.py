"""The two message kinds on the queue, as small JSON documents keyed by ``frame_id``.

``frames``: a landed frame to score (the bytes stay in landing, read by ``landing_id``).
``signals``: a scored frame for the alert engine. Times are ISO 8601 UTC on the wire;
``received_ts`` (gateway) and ``detected_ts`` (CV service) let the latency be split by stage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from tradelake.landing import LandingObject
from tradelake.sources.screens import SCREEN_SOURCE_PREFIX


def parse_ts(value: str) -> datetime:
    """ISO 8601 → aware UTC datetime (naive means UTC; a trailing ``Z`` is accepted)."""
    ts = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FrameMessage:
    """A frame the gateway landed: score it."""

    frame_id: str
    device: str
    ts: datetime
    landing_id: str
    received_ts: datetime

    def encode(self) -> bytes:
        return _encode(asdict(self))

    @classmethod
    def decode(cls, value: bytes) -> FrameMessage:
        row = json.loads(value)
        return cls(
            frame_id=row["frame_id"],
            device=row["device"],
            ts=parse_ts(row["ts"]),
            landing_id=row["landing_id"],
            received_ts=parse_ts(row["received_ts"]),
        )


@dataclass(frozen=True)
class SignalMessage:
    """A scored frame. ``stale``: captured more than ``max_frame_age_s`` before it was scored,
    so it is kept for the record but never alerts."""

    frame_id: str
    device: str
    ts: datetime
    signal: str
    prob: float
    model_version: str
    landing_id: str
    detected_ts: datetime
    stale: bool

    def encode(self) -> bytes:
        return _encode(asdict(self))

    @classmethod
    def decode(cls, value: bytes) -> SignalMessage:
        row = json.loads(value)
        return cls(
            frame_id=row["frame_id"],
            device=row["device"],
            ts=parse_ts(row["ts"]),
            signal=row["signal"],
            prob=float(row["prob"]),
            model_version=row["model_version"],
            landing_id=row["landing_id"],
            detected_ts=parse_ts(row["detected_ts"]),
            stale=bool(row["stale"]),
        )


def _encode(row: dict[str, Any]) -> bytes:
    return json.dumps(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()},
        separators=(",", ":"),
    ).encode()


def frame_of_landed(obj: LandingObject) -> FrameMessage:
    """The frame message of a landed frame, rebuilt from its landing attributes."""
    options = json.loads(obj.attributes.get("options", "{}"))
    ts = parse_ts(options["ts"]) if options.get("ts") else obj.ingest_ts.astimezone(UTC)
    return FrameMessage(
        frame_id=str(options.get("frame_id") or obj.landing_id[:16]),
        device=str(options.get("device") or obj.source.removeprefix(SCREEN_SOURCE_PREFIX)),
        ts=ts,
        landing_id=obj.landing_id,
        received_ts=obj.ingest_ts,
    )
