"""One alert with its lineage: which rule fired on which frame, scored by which model."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from tradelake.stream.messages import parse_ts


class Notice(Protocol):
    """What a sink delivers: a stream :class:`Alert`, or a data-quality alert
    (:class:`tradelake.ops.quality_alerts.QualityAlert`)."""

    @property
    def alert_id(self) -> str: ...

    @property
    def rule(self) -> str: ...

    def text(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def alert_id(rule: str, frame_id: str) -> str:
    """Deterministic: the same rule on the same frame is the same alert, however often the
    signal is delivered (at-least-once queues, restarts)."""
    return hashlib.sha256(f"{rule}\x00{frame_id}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Alert:
    """What every sink receives and the ``alerts`` table stores (times UTC).

    ``frame_ts`` is the capture time, ``detected_ts`` when the CV service scored the frame,
    ``sent_ts`` when the engine handed the alert to its sinks.
    """

    alert_id: str
    rule: str
    device: str
    frame_id: str
    signal: str
    prob: float
    frame_ts: datetime
    detected_ts: datetime
    sent_ts: datetime
    model_version: str
    landing_id: str

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("frame_ts", "detected_ts", "sent_ts"):
            row[key] = row[key].isoformat(timespec="microseconds")
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Alert:
        times = {k: parse_ts(str(row[k])) for k in ("frame_ts", "detected_ts", "sent_ts")}
        return cls(**{**row, **times, "prob": float(row["prob"])})

    def text(self) -> str:
        """One line for chat and phone notifications."""
        return (
            f"{self.rule}: {self.signal} ({self.prob:.0%}) on {self.device} "
            f"at {self.frame_ts:%H:%M:%S} UTC, frame {self.frame_id}"
        )
