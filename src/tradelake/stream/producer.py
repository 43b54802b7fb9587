"""The sending side: frames → ``ws://HOST:PORT/ws/frames/{device}``, with acknowledgements.

:class:`FrameSender` takes any iterator of :class:`Frame` (files replayed by
``tradelake screen send``, or a live screen capture) and sends each as a JSON header plus the
image bytes, then waits for the gateway's answer. A frame counts as delivered only once it is
answered ``accepted`` or ``duplicate``. When the connection drops, the sender reconnects with
exponential backoff (capped) and resends the frame that was not answered, under the same
``frame_id``: a frame is never sent twice under a new id, and a resend of a frame that did land
is answered ``duplicate``. A frame answered ``error`` is reported and not retried (resending
the same bytes would fail the same way).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from tradelake.errors import StreamError
from tradelake.stream.messages import utc_now

logger = logging.getLogger(__name__)
POLICY_VIOLATION = 1008


@dataclass(frozen=True)
class Frame:
    """One captured frame: a stable id, the capture time (UTC), the image bytes."""

    frame_id: str
    ts: datetime
    data: bytes
    content_type: str = "image/png"


@dataclass
class SendReport:
    """What a :meth:`FrameSender.send_all` run did; ``answers`` are the gateway's, in order."""

    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    errors: list[dict[str, str | None]] = field(default_factory=list)
    reconnects: int = 0
    answers: list[dict[str, str | None]] = field(default_factory=list)


class FrameSender:
    """Sends frames to one device's gateway endpoint; reconnects and resends (module docstring)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        backoff_s: float = 0.2,
        max_backoff_s: float = 10.0,
        max_attempts: int = 20,
        answer_timeout_s: float = 30.0,
        on_answer: Callable[[Frame, dict[str, str | None]], None] | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_attempts = max_attempts
        self._answer_timeout_s = answer_timeout_s
        self._on_answer = on_answer
        self._ws: ClientConnection | None = None

    def send_all(self, frames: Iterable[Frame]) -> SendReport:
        """Send every frame in order (each is answered before the next is sent)."""
        report = SendReport()
        try:
            for frame in frames:
                answer = self._deliver(frame, report)
                report.sent += 1
                report.answers.append(answer)
                status = answer.get("status")
                if status == "accepted":
                    report.accepted += 1
                elif status == "duplicate":
                    report.duplicate += 1
                else:
                    report.errors.append(answer)
                if self._on_answer is not None:
                    self._on_answer(frame, answer)
        finally:
            self.close()
        return report

    def connect(self) -> None:
        """Open the connection now rather than on the first frame (a capture loop that wants
        its first frame's latency free of the handshake)."""
        self._connection()

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    def _deliver(self, frame: Frame, report: SendReport) -> dict[str, str | None]:
        delay = self._backoff_s
        for attempt in range(self._max_attempts):
            try:
                ws = self._connection()
                ws.send(json.dumps({"frame_id": frame.frame_id, "ts": frame.ts.isoformat()}))
                ws.send(frame.data)
                answer: dict[str, str | None] = json.loads(ws.recv(self._answer_timeout_s))
                return answer
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == POLICY_VIOLATION:
                    raise StreamError(
                        f"{self.url} refused the token ({exc.rcvd.reason}); pass the producer "
                        "token with --token or $TRADELAKE_PRODUCER_TOKEN"
                    ) from None
                error: Exception = exc
            except (OSError, TimeoutError, InvalidStatus, WebSocketException) as exc:
                error = exc
            self.close()
            report.reconnects += 1
            logger.warning(
                "frame %s: %s; retrying in %.1fs (attempt %d)",
                frame.frame_id,
                error,
                delay,
                attempt + 1,
            )
            time.sleep(delay)
            delay = min(delay * 2, self._max_backoff_s)
        raise StreamError(
            f"could not deliver frame {frame.frame_id} to {self.url} after "
            f"{self._max_attempts} attempts; check that `tradelake serve` is running"
        )

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            self._ws = connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                max_size=2**20,
                open_timeout=10,
            )
        return self._ws


def frames_from_files(
    paths: Iterable[Path], *, fps: float | None = None, clock: Callable[[], datetime] = utc_now
) -> Iterator[Frame]:
    """Image files as frames, paced at ``fps`` (None: as fast as they are answered).

    The capture time is when the frame is taken (the replay stands for a live screen); the
    frame id is the first 16 hex characters of the bytes' sha256, so the same file is the same
    frame however often it is replayed.
    """
    interval = 1.0 / fps if fps else 0.0
    next_at = time.monotonic()
    for path in paths:
        if interval:
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            next_at = max(next_at + interval, time.monotonic())
        data = path.read_bytes()
        kind = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
        yield Frame(hashlib.sha256(data).hexdigest()[:16], clock(), data, kind)


def frames_url(base: str, device: str) -> str:
    """``ws://host:port`` (or ``http://``) + device → the gateway's frames endpoint."""
    root = base.rstrip("/")
    if root.startswith("http"):
        root = "ws" + root[len("http") :]
    return f"{root}/ws/frames/{device}"
