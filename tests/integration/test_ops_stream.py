"""Operations of ``tradelake serve``: ``/metrics`` after frames went through, and an alert's
lineage back to the landed pixels, read from the events the CV service and alert engine wrote."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.stream import PRODUCER_TOKEN, VIEWER_TOKEN, frames, listening, write_stream_config
from tradelake.config import load_settings
from tradelake.ops import metrics
from tradelake.ops.lineage import EVENTS_FILE, read_events
from tradelake.platform import Platform
from tradelake.stream.producer import FrameSender
from tradelake.web.server import serving_in_thread

pytestmark = pytest.mark.slow


def values(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(
    got: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return sum(v for (n, lab), v in got.items() if n == name and set(labels.items()) <= lab)


@pytest.fixture
def served(home: Path) -> Iterator[tuple[Platform, str]]:
    metrics.disable()
    write_stream_config(home)
    platform = Platform(load_settings(home, env={}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRADELAKE_PRODUCER_TOKEN", PRODUCER_TOKEN)
        patch.setenv("TRADELAKE_VIEWER_TOKEN", VIEWER_TOKEN)
        runtime = platform.stream_runtime()
    with serving_in_thread(runtime) as port:
        yield platform, f"127.0.0.1:{port}"
    metrics.disable()


def test_metrics_and_alert_lineage_after_frames(served: tuple[Platform, str]) -> None:
    platform, address = served
    sent = frames("desk7", range(30, 35))
    with listening(f"ws://{address}/ws/alerts") as listener:
        report = FrameSender(f"ws://{address}/ws/frames/desk7", PRODUCER_TOKEN).send_all(sent)
        again = FrameSender(f"ws://{address}/ws/frames/desk7", PRODUCER_TOKEN).send_all(sent[:1])
        alerts = listener.wait_for(len(sent))
    assert (report.accepted, again.duplicate, len(alerts)) == (5, 1, 5)

    # The CV window's lineage is written after persisting (up to a second after the alert).
    events_file = platform.settings.home / EVENTS_FILE
    for _ in range(200):
        jobs = [e["job"]["name"] for e in read_events(events_file) if e["eventType"] == "COMPLETE"]
        scored = sum(
            len([d for d in e["inputs"] if d["name"].startswith("screen:desk7/")])
            for e in read_events(events_file)
            if e["job"]["name"] == "stream.cv" and e["eventType"] == "COMPLETE"
        )
        if scored >= 5 and "stream.alerts" in jobs:
            break
        threading.Event().wait(0.05)

    text = httpx.get(f"http://{address}/metrics").text
    got = values(text)
    assert total(got, "tradelake_stream_frames_total", stage="accepted") == 5
    assert total(got, "tradelake_stream_frames_total", stage="duplicate") == 1
    assert total(got, "tradelake_stream_frames_total", stage="scored") == 5
    assert total(got, "tradelake_predictions_total") == 5
    by_signal: dict[str, int] = {}
    for alert in alerts:
        by_signal[alert["signal"]] = by_signal.get(alert["signal"], 0) + 1
    for signal, count in by_signal.items():
        assert total(got, "tradelake_predictions_total", signal=signal) == count
    versions = {a["model_version"] for a in alerts}
    assert {
        dict(lab)["model_version"]
        for (n, lab), v in got.items()
        if n == "tradelake_model_info" and v == 1
    } == versions
    assert total(got, "tradelake_frame_to_alert_seconds_count") == 5
    assert 0 < total(got, "tradelake_frame_to_alert_seconds_sum") < 5 * 20
    assert total(got, "tradelake_alerts_fired_total", rule="every-pattern") == 5
    assert total(got, "tradelake_queue_lag_seconds_count", topic="frames") >= 5
    assert total(got, "tradelake_queue_lag_seconds_count", topic="signals") == 5

    # An alert's lineage: the alert run read its frame's landing object (the pixels), and the
    # CV window that scored that very frame is found upstream of the signals topic first.
    alert = alerts[0]
    result = platform.lineage_of(alert["alert_id"])
    (node,) = result["datasets"]
    assert node["name"] == f"alerts/{alert['alert_id']}"
    (alert_run,) = node["upstream"]
    assert alert_run["job"] == "stream.alerts" and alert_run["state"] == "COMPLETE"
    frame_name = f"screen:desk7/{alert['landing_id']}"
    inputs = {d["name"]: d for d in alert_run["inputs"]}
    assert frame_name in inputs
    frame_ns = inputs[frame_name]["namespace"]
    assert frame_ns == (platform.settings.home / "landing").resolve().as_uri()
    cv_run = inputs["signals"]["written_by"][0]
    assert cv_run["job"] == "stream.cv"
    assert frame_name in {d["name"] for d in cv_run["inputs"]}
    # ... and those pixels are the bytes landed under that sha256.
    assert platform.landing.describe(alert["landing_id"]).source == "screen:desk7"
