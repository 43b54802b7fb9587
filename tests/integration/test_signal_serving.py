"""POST /api/score: token auth, and a hot swap of the champion under a stream of requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from fixtures.signal import trained
from fixtures.stream import PRODUCER_TOKEN, VIEWER_TOKEN, write_stream_config
from tradelake.config import load_settings
from tradelake.ml.model_registry import CHAMPION, default_tracking_uri
from tradelake.ml.signal_card import signal_card
from tradelake.ml.signal_registry import MODEL_NAME, publish_signal
from tradelake.platform import Platform
from tradelake.web.server import serving_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[dict]]]:
    home = tmp_path_factory.mktemp("score-home")
    write_stream_config(home, "\n[ensemble]\npoll_s = 1.0\n")
    skilled, rows = trained(240, seed=1, plant_before=True)
    noise, noise_rows = trained(240, seed=2)
    assert publish_signal(skilled, card=signal_card(skilled, rows), home=home).promoted
    assert not publish_signal(noise, card=signal_card(noise, noise_rows), home=home).promoted
    platform = Platform(load_settings(home, env={}))
    with pytest.MonkeyPatch.context() as patch:  # tokens are read once, when the roles start
        patch.setenv("TRADELAKE_PRODUCER_TOKEN", PRODUCER_TOKEN)
        patch.setenv("TRADELAKE_VIEWER_TOKEN", VIEWER_TOKEN)
        runtime = platform.stream_runtime()
    payload = rows.head(8).drop("open_ts", "close_ts").to_dicts()
    with serving_in_thread(runtime) as port:
        yield f"http://127.0.0.1:{port}/api/score", home, payload


def test_score_needs_the_viewer_token(served: tuple[str, Path, list[dict]]) -> None:
    url, _, rows = served
    assert httpx.post(url, json={"rows": rows}).status_code == 401
    producer = {"Authorization": f"Bearer {PRODUCER_TOKEN}"}
    assert httpx.post(url, json={"rows": rows}, headers=producer).status_code == 403
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    answer = httpx.post(url, json={"rows": rows}, headers=viewer)
    assert answer.status_code == 200
    body = answer.json()
    assert len(body["probs"]) == 8 and all(0 <= p <= 1 for p in body["probs"])
    assert body["take"] == [p >= 0.5 for p in body["probs"]]
    bad = httpx.post(url, json={"rows": [{"chart_prob": 1}, {"chart_prob": "x"}]}, headers=viewer)
    assert bad.status_code == 422
    assert httpx.post(url, json={"nope": 1}, headers=viewer).status_code == 422


def test_champion_moves_during_a_stream_of_requests(served: tuple[str, Path, list[dict]]) -> None:
    url, home, rows = served
    headers = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    seen: list[tuple[float, int, str | None]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(headers=headers, timeout=10) as client:
            while not stop.is_set():
                try:
                    answer = client.post(url, json={"rows": rows})
                    version = answer.json().get("model_version") if answer.is_success else None
                    seen.append((time.monotonic(), answer.status_code, version))
                except httpx.HTTPError:
                    seen.append((time.monotonic(), 0, None))

    clients = [threading.Thread(target=stream) for _ in range(3)]
    for client in clients:
        client.start()
    time.sleep(1.5)
    uri = default_tracking_uri(home)
    moved = time.monotonic()
    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(
        MODEL_NAME, CHAMPION, "2"
    )
    time.sleep(5)
    stop.set()
    for client in clients:
        client.join()

    assert len(seen) > 50
    failed = [s for s in seen if s[1] != 200]
    assert failed == []
    before = [v for t, _, v in seen if t < moved]
    assert before and set(before) == {"1"}
    first_new = min(t for t, _, v in seen if v == "2")
    print(f"{len(seen)} requests, 0 failed, new version first served {first_new - moved:.2f} s")
    assert first_new - moved < 3.0
    # Once a request got the new version, every request that started later did too.
    ordered = sorted(seen)
    after = [v for t, _, v in ordered if t > first_new + 0.5]
    assert after and set(after) == {"2"}
