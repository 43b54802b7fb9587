"""The gateway's work per frame, apart from the web server: check, land, enqueue, answer.

:meth:`FrameGateway.accept` is what ``ws://HOST:PORT/ws/frames/{device}`` calls for every
binary message. A frame is answered ``accepted`` once its bytes are in landing
(``screen:<device>``) and its message is on the ``frames`` topic; ``duplicate`` when the same
bytes were landed before (a resend after a lost answer; identical screens are one landing
object); ``error`` with a reason for an unknown device, bytes that are not PNG/JPEG, or a frame
over ``max_frame_bytes``. A duplicate whose object is not processed yet is enqueued again, so a
crash between landing and the queue cannot lose it (the CV service skips what it has done).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from tradelake.errors import TradelakeError
from tradelake.jobs.ingest import IngestEnv
from tradelake.jobs.vision import land_frame
from tradelake.ops import metrics
from tradelake.stream.messages import frame_of_landed as _frame_of
from tradelake.stream.messages import utc_now
from tradelake.stream.queue import FRAMES, Queue
from tradelake.stream.settings import StreamSettings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class FrameAnswer:
    """What the gateway answers for one frame (sent back as JSON)."""

    frame_id: str | None
    landing_id: str | None
    status: str  # accepted | duplicate | error
    error: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "frame_id": self.frame_id,
            "landing_id": self.landing_id,
            "status": self.status,
            "error": self.error,
        }


class FrameGateway:
    """Checks and lands frames, then puts them on the ``frames`` topic."""

    def __init__(self, env: IngestEnv, queue: Queue, settings: StreamSettings) -> None:
        self._env = env
        self._queue = queue
        self._settings = settings
        self.accepted = 0

    def accept(
        self, device: str, data: bytes, *, frame_id: str | None, ts: datetime | None
    ) -> FrameAnswer:
        """Land and enqueue one frame; never raises for a bad frame (the answer says why)."""
        answer = self._accept(device, data, frame_id=frame_id, ts=ts)
        metrics.observe_frames("refused" if answer.status == "error" else answer.status)
        return answer

    def _accept(
        self, device: str, data: bytes, *, frame_id: str | None, ts: datetime | None
    ) -> FrameAnswer:
        problem = self._problem(device, data)
        if problem:
            return FrameAnswer(frame_id, None, "error", problem)
        received = utc_now()
        captured = ts or received
        try:
            put = land_frame(self._env.landing, data, device=device, frame_id=frame_id, ts=captured)
        except TradelakeError as exc:
            return FrameAnswer(frame_id, None, "error", str(exc))
        obj = put.obj
        if put.created or not self._env.staging.is_processed(obj.landing_id):
            # A duplicate is enqueued as it was first landed (its frame id and capture time).
            message = replace(_frame_of(obj), received_ts=received)
            self._queue.publish(FRAMES, message.frame_id, message.encode())
        frame_id = frame_id or obj.landing_id[:16]
        if not put.created:
            return FrameAnswer(frame_id, obj.landing_id, "duplicate")
        self.accepted += 1
        return FrameAnswer(frame_id, obj.landing_id, "accepted")

    def _problem(self, device: str, data: bytes) -> str | None:
        if not self._settings.device_allowed(device):
            allowed = ", ".join(self._settings.devices) or "names of 1-64 letters, digits, . _ -"
            return f"unknown device {device!r}; use one of: {allowed} ([stream] devices)"
        if len(data) > self._settings.max_frame_bytes:
            return (
                f"frame of {len(data)} bytes is over the {self._settings.max_frame_bytes}-byte "
                "limit ([stream] max_frame_bytes); send a smaller PNG/JPEG"
            )
        if not data.startswith((PNG_MAGIC, JPEG_MAGIC)):
            return "not a PNG or JPEG image; send the screenshot's PNG/JPEG bytes"
        return None
