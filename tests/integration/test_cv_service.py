"""The CV service over the in-process queue, real landing and staging: exactly one row per
frame whatever is redelivered, stale frames kept but flagged, landing rescanned on start."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.stream import screen_png
from tradelake.jobs.vision import land_frame
from tradelake.platform import Platform
from tradelake.sources.screens import IMG_SIGNALS, signal_rows
from tradelake.stream.cv_service import CvService
from tradelake.stream.messages import FrameMessage, SignalMessage
from tradelake.stream.model_watch import ModelWatcher
from tradelake.stream.queue import FRAMES, SIGNALS, Consumer, open_queue
from tradelake.stream.queue.memory import MemoryQueue

pytestmark = pytest.mark.slow
IMAGES = [screen_png(seed) for seed in (301, 302, 303)]


@pytest.fixture
def platform(home: Path) -> Platform:
    return Platform.open(home)


def _service(platform: Platform, queue: MemoryQueue) -> CvService:
    return CvService(platform.ingest_env, queue, ModelWatcher(None, None), platform.stream_settings)


def _land(platform: Platform, i: int, ts: datetime) -> FrameMessage:
    put = land_frame(platform.landing, IMAGES[i], device="desk1", frame_id=f"f{i}", ts=ts)
    return FrameMessage(f"f{i}", "desk1", ts, put.obj.landing_id, ts)


def _signals(consumer: Consumer, count: int, timeout_s: float = 20) -> list[SignalMessage]:
    got: list[SignalMessage] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got += [SignalMessage.decode(m.value) for m in consumer.poll(16, 0.2)]
    return got


@pytest.fixture
def queue() -> Iterator[MemoryQueue]:
    q = open_queue("memory")
    assert isinstance(q, MemoryQueue)
    yield q
    q.close()


def test_redelivered_frames_change_nothing(platform: Platform, queue: MemoryQueue) -> None:
    signals = queue.consumer(SIGNALS, "test")
    now = datetime.now(UTC)
    frames = [_land(platform, i, now) for i in range(2)]
    service = _service(platform, queue)
    service.start()
    try:
        for frame in frames:
            queue.publish(FRAMES, frame.frame_id, frame.encode())
        first = _signals(signals, 2)
        assert service.drain()
        for frame in frames:  # redelivered (a producer resend, a broker replay)
            queue.publish(FRAMES, frame.frame_id, frame.encode())
        assert _signals(signals, 1, timeout_s=1.0) == []
        for _ in range(100):
            if queue.pending(FRAMES, "cv") == 0:
                break
            time.sleep(0.02)
        assert queue.pending(FRAMES, "cv") == 0  # skipped frames are committed too
    finally:
        service.stop()
    assert sorted(s.frame_id for s in first) == ["f0", "f1"]
    assert all(not s.stale for s in first)
    rows = platform.staging.read(IMG_SIGNALS.name)
    assert sorted(rows["frame_id"].to_list()) == ["f0", "f1"]
    assert all(platform.staging.is_processed(f.landing_id) for f in frames)


def test_old_frames_are_scored_but_stale(platform: Platform, queue: MemoryQueue) -> None:
    signals = queue.consumer(SIGNALS, "test")
    old = _land(platform, 0, datetime.now(UTC) - timedelta(minutes=5))
    service = _service(platform, queue)
    service.start()
    try:
        queue.publish(FRAMES, old.frame_id, old.encode())
        got = _signals(signals, 1)
        assert service.drain()
    finally:
        service.stop()
    assert [(s.frame_id, s.stale) for s in got] == [("f0", True)]
    assert platform.staging.read(IMG_SIGNALS.name)["frame_id"].to_list() == ["f0"]


def test_start_scores_what_landing_has_and_staging_lacks(
    platform: Platform, queue: MemoryQueue
) -> None:
    now = datetime.now(UTC)
    landed = [_land(platform, i, now) for i in range(3)]  # landed; the queue never heard of them
    # A crash after f0's rows were written but before its marker: staged once, never again.
    crashed = platform.ingest_env
    prediction = platform.chart_classifier().predict([IMAGES[0]])[0]
    obj = platform.landing.describe(landed[0].landing_id)
    crashed.staging.stage_new_keys(
        IMG_SIGNALS,
        [(obj, signal_rows([("f0", "desk1", now, prediction)], "crashed-run"))],
    )
    signals = queue.consumer(SIGNALS, "test")
    service = _service(platform, queue)
    service.start()
    try:
        got = _signals(signals, 2)
        assert service.drain()
    finally:
        service.stop()
    assert sorted(s.frame_id for s in got) == ["f1", "f2"]
    rows = platform.staging.read(IMG_SIGNALS.name).sort("frame_id")
    assert rows["frame_id"].to_list() == ["f0", "f1", "f2"]
    assert rows["model_version"][0] == "crashed-run"
    assert all(platform.staging.is_processed(f.landing_id) for f in landed)
