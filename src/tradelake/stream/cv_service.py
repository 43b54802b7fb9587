"""The CV service: frames → micro-batches → chart model → ``signals`` and ``img_signals``.

One loop reads the ``frames`` topic (group ``cv``). After the first message it waits at most
``batch_wait_ms`` for more (up to ``max_batch``), reads the batch's bytes from landing, scores
them with the model of :class:`~tradelake.stream.model_watch.ModelWatcher` (one model per batch:
a hot swap happens between batches) and publishes one ``signals`` message per frame at once, so
the alert does not wait for persistence. A second thread then persists what was scored in the
last second (``PERSIST_EVERY_S``): one ``img_signals`` file per (device, partition)
(:meth:`StagingWriter.stage_new_keys`), one filesystem sync, the frames' processed markers, and
only then commits the frame messages.

At-least-once, exactly one row: a frame whose landing object is processed, staged or being
persisted is skipped (its message is committed, nothing else happens), so a redelivery changes
nothing; a crash before the commit redelivers the frame, which is then scored again and its
signal published again (the alert engine is idempotent on ``alert_id``). Landing is the source
of truth: :meth:`CvService.rescan` (on start, and for a backend after a broker loss) scores every
landed ``screen:*`` frame that has no ``img_signals`` row. A frame captured more than
``max_frame_age_s`` before it was scored is stored and published with ``stale = true``: it never
alerts. An image the model cannot decode is quarantined as a whole file with its reason.
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tradelake.errors import TradelakeError, VisionError
from tradelake.jobs.ingest import IngestEnv
from tradelake.landing import LandingObject
from tradelake.ops import datasets, metrics
from tradelake.sources.screens import IMG_SIGNALS, SCREEN_SOURCE_PREFIX, signal_rows
from tradelake.staging.writer import QUARANTINE_DIR
from tradelake.stream.messages import FrameMessage, SignalMessage, frame_of_landed, utc_now
from tradelake.stream.model_watch import ModelWatcher
from tradelake.stream.queue import FRAMES, SIGNALS, Consumer, Message, Queue
from tradelake.stream.settings import StreamSettings

if TYPE_CHECKING:
    from tradelake.ml.vision import Prediction

logger = logging.getLogger(__name__)
CV_GROUP = "cv"
# Scored frames are persisted at most this long after their signal is out (never on the
# alert's path): a file and a filesystem sync per second, not per micro-batch.
PERSIST_EVERY_S = 1.0


@dataclass
class _Scored:
    """One micro-batch waiting to be persisted, with the messages to commit after."""

    rows: list[tuple[LandingObject, SignalMessage, Prediction]]
    messages: list[Message]


class CvService:
    """Scores landed frames; see the module docstring for its guarantees."""

    def __init__(
        self,
        env: IngestEnv,
        queue: Queue,
        models: ModelWatcher,
        settings: StreamSettings,
        *,
        group: str = CV_GROUP,
    ) -> None:
        self._env = env
        self._queue = queue
        self._models = models
        self._settings = settings
        self._group = group
        self._done: set[str] = set()  # landing ids staged or being persisted by this process
        self._done_lock = threading.Lock()
        self._persist: queue_mod.Queue[_Scored | None] = queue_mod.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._consumer: Consumer | None = None
        self._unpersisted = 0  # batches handed to the persist thread and not yet written
        self.last_seen: dict[str, datetime] = {}  # device -> when its newest frame was scored
        self.scored = 0
        self.errors: list[str] = []

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, *, rescan: bool = True) -> None:
        """Load the model, remember what is staged, score what landing has and staging lacks,
        then consume ``frames`` on a thread (persisting on a second one)."""
        _use_threads(self._settings.cv_threads)
        self._models.start()
        self._remember_staged()
        self._consumer = self._queue.consumer(FRAMES, self._group)
        self._threads = [
            threading.Thread(target=self._persist_loop, name="cv-persist", daemon=True),
        ]
        self._threads[0].start()
        if rescan:
            self.rescan()
        loop = threading.Thread(target=self._consume_loop, name="cv-score", daemon=True)
        loop.start()
        self._threads.append(loop)

    def stop(self) -> None:
        """Finish the batch in hand, persist what was scored, and close the consumer (what it
        did not commit goes to the group's next reader)."""
        self._stop.set()
        for thread in self._threads[1:]:
            thread.join(timeout=30)
        self._persist.put(None)
        if self._threads:
            self._threads[0].join(timeout=60)
        self._threads = []
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._models.stop()

    # -- scoring ----------------------------------------------------------------------------

    def rescan(self) -> int:
        """Score every landed ``screen:*`` frame with no ``img_signals`` row (and no quarantine
        record); returns how many were found. Their signals are published like any other."""
        frames = [o for o in self._env.landing.list() if o.source.startswith(SCREEN_SOURCE_PREFIX)]
        # Staged by an earlier run that stopped before the markers: mark, never stage again.
        staging = self._env.staging
        with self._done_lock:
            unmarked = [o.landing_id for o in frames if o.landing_id in self._done]
        staging.mark_processed_many(
            {i: {IMG_SIGNALS.name: 1} for i in unmarked if not staging.is_processed(i)}
        )
        missing = [obj for obj in frames if not self._skip(obj.landing_id)]
        for start in range(0, len(missing), self._settings.max_batch):
            chunk = missing[start : start + self._settings.max_batch]
            self._score([frame_of_landed(obj) for obj in chunk], [])
        if missing:
            logger.info("rescan scored %d landed frames that had no img_signals row", len(missing))
        return len(missing)

    def _consume_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        wait_s = self._settings.batch_wait_ms / 1000
        limit = self._settings.max_batch
        while not self._stop.is_set():
            messages = consumer.poll(limit, 0.2)
            if not messages:
                if consumer.lost_messages():  # the broker lost frames: landing still has them
                    self.rescan()
                continue
            if len(messages) < limit and wait_s > 0:
                messages += consumer.poll(limit - len(messages), wait_s)
            try:
                self._handle(messages)
            except Exception:  # a bug must not stop the stream; the frames are redelivered
                logger.exception("CV batch of %d frames failed", len(messages))

    def _handle(self, messages: list[Message]) -> None:
        frames: list[FrameMessage] = []
        for message in messages:
            try:
                frames.append(FrameMessage.decode(message.value))
            except (ValueError, KeyError) as exc:
                self.errors.append(f"frames offset {message.offset}: not a frame message ({exc})")
        consumed = utc_now()
        for frame in frames:
            metrics.observe_queue_lag(FRAMES, (consumed - frame.received_ts).total_seconds())
        self._score(frames, messages)

    def _score(self, frames: Sequence[FrameMessage], messages: list[Message]) -> None:
        """Score the frames not yet done, publish their signals, hand them to persistence."""
        todo: dict[str, FrameMessage] = {}
        for frame in frames:
            if frame.landing_id not in todo and not self._skip(frame.landing_id):
                todo[frame.landing_id] = frame
        objects, payloads = [], []
        for frame in list(todo.values()):
            try:
                objects.append(self._env.landing.describe(frame.landing_id))
                payloads.append(self._env.landing.get(frame.landing_id))
            except TradelakeError as exc:
                self.errors.append(f"frame {frame.frame_id}: {exc}")
                del todo[frame.landing_id]
        model = self._models.current()
        predictions = model.predict_many(payloads) if payloads else []
        detected = utc_now()
        scored: list[tuple[LandingObject, SignalMessage, Prediction]] = []
        for obj, frame, prediction in zip(objects, todo.values(), predictions, strict=True):
            if isinstance(prediction, VisionError):
                self._quarantine(obj, f"{obj.original_name}: {prediction}")
                continue
            signal = SignalMessage(
                frame_id=frame.frame_id,
                device=frame.device,
                ts=frame.ts,
                signal=prediction.signal,
                prob=prediction.prob,
                model_version=model.model_version,
                landing_id=frame.landing_id,
                detected_ts=detected,
                stale=(detected - frame.ts).total_seconds() > self._settings.max_frame_age_s,
            )
            self._queue.publish(SIGNALS, signal.frame_id, signal.encode())
            scored.append((obj, signal, prediction))
        with self._done_lock:
            self._done.update(obj.landing_id for obj, _, _ in scored)
        self.scored += len(scored)
        for _, signal, _ in scored:
            self.last_seen[signal.device] = detected
        metrics.observe_frames("scored", len(scored))
        metrics.observe_predictions(model.model_version, (s.signal for _, s, _ in scored))
        with self._done_lock:
            self._unpersisted += 1
        self._persist.put(_Scored(scored, messages))

    def _skip(self, landing_id: str) -> bool:
        with self._done_lock:
            if landing_id in self._done:
                return True
        staging = self._env.staging
        return (
            staging.is_processed(landing_id)
            or (staging.root / QUARANTINE_DIR / "_files" / f"{landing_id}.json").exists()
        )

    def _quarantine(self, obj: LandingObject, reason: str) -> None:
        self._env.staging.record_file_error(obj.landing_id, obj.source, reason)
        metrics.observe_frames("quarantined")
        metrics.observe_quarantined_file(obj.source)
        self.errors.append(reason)

    # -- persistence ------------------------------------------------------------------------

    def _persist_loop(self) -> None:
        """Persist what was scored, gathering at most ``PERSIST_EVERY_S`` of batches into one
        write: one file per device and one ``syncfs`` a second instead of one per batch."""
        stopping = False
        while not stopping:
            first = self._persist.get()
            if first is None:
                return
            batches = [first]
            deadline = time.monotonic() + PERSIST_EVERY_S
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    more = self._persist.get(timeout=remaining)
                except queue_mod.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batches.append(more)
            merged = _Scored(
                [row for b in batches for row in b.rows],
                [m for b in batches for m in b.messages],
            )
            try:
                self._write(merged)
                self._lineage(merged)
            except Exception:  # not committed: the frames come back after a restart/rescan
                logger.exception("persisting %d scored frames failed", len(merged.rows))
                with self._done_lock:
                    self._done.difference_update(obj.landing_id for obj, _, _ in merged.rows)
            finally:
                with self._done_lock:
                    self._unpersisted -= len(batches)

    def _write(self, batch: _Scored) -> None:
        staging = self._env.staging
        if batch.rows:
            parts = [
                (obj, signal_rows([(s.frame_id, s.device, s.ts, p)], s.model_version))
                for obj, s, p in batch.rows
            ]
            staging.stage_new_keys(IMG_SIGNALS, parts)
            staging.mark_processed_many(
                {obj.landing_id: {IMG_SIGNALS.name: 1} for obj, _, _ in batch.rows}
            )
        if batch.messages and self._consumer is not None:
            self._consumer.commit(batch.messages)

    def _lineage(self, batch: _Scored) -> None:
        """One ``stream.cv`` run per persisted window (at most one a second, never per frame):
        the frames' landing objects in, ``img_signals`` and the ``signals`` topic out."""
        if not batch.rows:
            return
        landing_url, queue = self._env.landing.url, self._settings.queue
        inputs = [
            datasets.landing_object(landing_url, o.source, o.landing_id) for o, _, _ in batch.rows
        ]
        if batch.messages:
            inputs.append(datasets.topic(queue, FRAMES))
        outputs = [
            *datasets.staging_tables(self._env.staging.root, [IMG_SIGNALS.name]),
            datasets.topic(queue, SIGNALS),
        ]
        started = min(signal.detected_ts for _, signal, _ in batch.rows)
        self._env.ops.completed("stream.cv", started, inputs, outputs)

    def _remember_staged(self) -> None:
        """Landing ids with a staged ``img_signals`` row: a crash between the file and the
        markers must not stage a frame twice."""
        files = self._env.staging.files(IMG_SIGNALS.name)
        if not files:
            return
        staged = self._env.staging.read_files(files, ["landing_id"])["landing_id"].to_list()
        with self._done_lock:
            self._done.update(staged)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every scored batch is persisted (tests, benchmarks, shutdown)."""
        stop = threading.Event()
        for _ in range(int(timeout_s / 0.01)):
            with self._done_lock:
                if self._unpersisted == 0:
                    return True
            stop.wait(0.01)
        return False


def _use_threads(count: int) -> None:
    """Model threads for this process: ``[stream] cv_threads``, 0 (default) = torch's own
    choice (one per core).

    Measured on the shared 2-core machine at load average 4-5 (``benchmarks/realtime.py``,
    12 s runs alternated): the pipeline's p50 was 49 and 69 ms with 2 threads, 84 and 87 ms
    with 1, although one frame's bare decode + model in an otherwise idle process was faster
    with 1 thread (32-42 ms against 101-117 ms: OpenMP threads spin when the cores are
    oversubscribed). Set 1 where other work must keep a core.
    """
    if count > 0:
        import torch

        torch.set_num_threads(count)
