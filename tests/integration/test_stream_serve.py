"""The embedded real-time path end to end on 127.0.0.1: producer → gateway → landing →
in-process queue → CV service → img_signals + signals → alert engine → WS/SSE/history."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import polars as pl
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fixtures.charts import CORRUPT_PNG
from fixtures.stream import (
    PRODUCER_TOKEN,
    VIEWER_TOKEN,
    frames,
    listening,
    screen_png,
    write_stream_config,
)
from tradelake.config import load_settings
from tradelake.platform import Platform
from tradelake.stream.alerts.record import alert_id
from tradelake.stream.producer import FrameSender
from tradelake.web.server import serving_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str]]:
    """One server for the module (each test uses its own devices and frames)."""
    home = tmp_path_factory.mktemp("stream-home")
    write_stream_config(home, '\n[[sinks]]\nname = "unused"\ntype = "log"\n')
    platform = Platform(load_settings(home, env={}))
    with pytest.MonkeyPatch.context() as patch:  # tokens are read once, when the roles start
        patch.setenv("TRADELAKE_PRODUCER_TOKEN", PRODUCER_TOKEN)
        patch.setenv("TRADELAKE_VIEWER_TOKEN", VIEWER_TOKEN)
        runtime = platform.stream_runtime()
    with serving_in_thread(runtime) as port:
        yield platform, f"127.0.0.1:{port}"


def test_frames_are_landed_scored_stored_and_alerted_once(served: tuple[Platform, str]) -> None:
    platform, address = served
    sent = frames("desk1", range(10, 16))
    with listening(f"ws://{address}/ws/alerts") as listener:
        sender = FrameSender(f"ws://{address}/ws/frames/desk1", PRODUCER_TOKEN)
        report = sender.send_all(sent)
        # The same frames again (a producer restart): answered duplicate, no second row or alert.
        again = FrameSender(f"ws://{address}/ws/frames/desk1", PRODUCER_TOKEN).send_all(sent[:2])
        alerts = listener.wait_for(len(sent))
        threading.Event().wait(0.3)  # a duplicate alert would arrive in this window
        alerts = [a for _, a in listener.alerts]

    assert (report.accepted, report.duplicate, report.errors) == (6, 0, [])
    assert (again.accepted, again.duplicate) == (0, 2)
    assert sorted(a["frame_id"] for a in alerts) == sorted(f.frame_id for f in sent)
    by_frame = {a["frame_id"]: a for a in alerts}
    answer = report.answers[0]
    first = by_frame[sent[0].frame_id]
    assert first["landing_id"] == answer["landing_id"]
    assert first["alert_id"] == alert_id("every-pattern", sent[0].frame_id)
    assert first["device"] == "desk1" and first["rule"] == "every-pattern"
    assert first["frame_ts"] <= first["detected_ts"] <= first["sent_ts"]

    staged = _wait_rows(platform, len(sent))  # rows are persisted after the alert is out
    assert sorted(staged["frame_id"].to_list()) == sorted(f.frame_id for f in sent)
    assert staged["version"].to_list() == [1] * len(sent)
    signals = dict(zip(staged["frame_id"].to_list(), staged["signal"].to_list(), strict=True))
    assert all(signals[a["frame_id"]] == a["signal"] for a in alerts)

    history = httpx.get(
        f"http://{address}/api/alerts",
        headers={"Authorization": f"Bearer {VIEWER_TOKEN}"},
        params={"since": "2000-01-01T00:00:00Z"},
    )
    assert history.status_code == 200
    assert sorted(a["alert_id"] for a in history.json()) == sorted(a["alert_id"] for a in alerts)


def test_bad_frames_get_an_error_and_the_connection_stays_up(
    served: tuple[Platform, str],
) -> None:
    platform, address = served
    good = screen_png(7)
    with connect(
        f"ws://{address}/ws/frames/desk2",
        additional_headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
    ) as ws:
        answers = []
        for header, payload in (
            ({"frame_id": "text", "ts": "2026-11-02T14:30:05Z"}, b"hello, not an image"),
            ({"frame_id": "huge"}, b"\x89PNG\r\n\x1a\n" + b"\x00" * (8 * 1024 * 1024)),
            ({"frame_id": "badts", "ts": "yesterday"}, None),
            ({"frame_id": "good", "ts": "2026-11-02T14:30:05Z"}, good),
            ({"frame_id": "corrupt"}, CORRUPT_PNG),
        ):
            ws.send(json.dumps(header))
            if header["frame_id"] == "badts":
                answers.append(json.loads(ws.recv(10)))
                continue
            ws.send(payload)
            answers.append(json.loads(ws.recv(10)))
    assert [a["status"] for a in answers] == ["error", "error", "error", "accepted", "accepted"]
    assert "not a PNG or JPEG" in answers[0]["error"]
    assert "over the 8388608-byte limit" in answers[1]["error"]
    assert "not ISO 8601" in answers[2]["error"]
    assert answers[3]["frame_id"] == "good" and len(answers[3]["landing_id"]) == 64

    with connect(
        f"ws://{address}/ws/frames/bad%20name",
        additional_headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"},
    ) as ws:
        ws.send(good)
        answer = json.loads(ws.recv(10))
    assert answer["status"] == "error" and "unknown device" in answer["error"]

    # A PNG that passes the gateway's check but cannot be decoded: landed, then quarantined as
    # a whole file with the decoder's reason, and never alerted.
    record = platform.staging.root / "_quarantine" / "_files" / f"{answers[4]['landing_id']}.json"
    for _ in range(200):
        if record.exists():
            break
        threading.Event().wait(0.05)
    assert "cannot decode image" in json.loads(record.read_text())["reason"]


def test_tokens_grant_only_their_role(served: tuple[Platform, str]) -> None:
    _, address = served

    def close_code(path: str, token: str | None) -> int | None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with connect(f"ws://{address}{path}", additional_headers=headers) as ws:
            try:
                ws.recv(5)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
        return None

    assert close_code("/ws/alerts", None) == 1008
    assert close_code("/ws/alerts", PRODUCER_TOKEN) == 1008
    assert close_code("/ws/frames/desk1", None) == 1008
    assert close_code("/ws/frames/desk1", VIEWER_TOKEN) == 1008
    assert close_code("/ws/frames/desk1", "wrong") == 1008

    url = f"http://{address}/api/alerts"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {PRODUCER_TOKEN}"}).status_code == 403
    assert httpx.get(url, params={"token": VIEWER_TOKEN}).status_code == 200
    stream = f"http://{address}/api/alerts/stream"
    assert httpx.get(stream, headers={"Authorization": "Bearer nope"}).status_code == 403

    with pytest.raises(Exception, match="refused the token"):
        FrameSender(f"ws://{address}/ws/frames/desk1", VIEWER_TOKEN).send_all(frames("d", range(1)))


def test_alerts_arrive_over_server_sent_events(served: tuple[Platform, str]) -> None:
    _, address = served
    received: list[dict[str, object]] = []
    connected = threading.Event()

    def read_events() -> None:
        headers = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
        with httpx.stream(
            "GET", f"http://{address}/api/alerts/stream", headers=headers, timeout=20
        ) as response:
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[len("data: ") :]))
                    if len(received) == 2:
                        return

    reader = threading.Thread(target=read_events, daemon=True)
    reader.start()
    assert connected.wait(10)
    sent = frames("desk3", range(30, 32))
    FrameSender(f"ws://{address}/ws/frames/desk3", PRODUCER_TOKEN).send_all(sent)
    reader.join(20)
    assert sorted(str(a["frame_id"]) for a in received) == sorted(f.frame_id for f in sent)
    assert all(a["device"] == "desk3" for a in received)


def _wait_rows(platform: Platform, count: int, timeout_s: float = 20.0) -> pl.DataFrame:
    pause = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        rows = platform.staging.read("img_signals")
        if rows.height >= count:
            return rows
        pause.wait(0.05)
    return platform.staging.read("img_signals")
