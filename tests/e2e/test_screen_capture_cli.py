"""``tradelake screen capture`` for real: a virtual X display grabbed and sent to ``serve``."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from e2e.helpers import json_out, run_cli
from fixtures.stream import PRODUCER_TOKEN, VIEWER_TOKEN, write_stream_config
from fixtures.xvfb import Display, xvfb  # noqa: F401  (fixture)
from tradelake.platform import Platform
from tradelake.web.server import serving_in_thread

pytestmark = pytest.mark.slow


@pytest.fixture
def served(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Platform, int]]:
    monkeypatch.setenv("TRADELAKE_PRODUCER_TOKEN", PRODUCER_TOKEN)
    monkeypatch.setenv("TRADELAKE_VIEWER_TOKEN", VIEWER_TOKEN)
    write_stream_config(home)
    platform = Platform.open(home)
    with serving_in_thread(platform.stream_runtime()) as port:
        yield platform, port


def test_capture_sends_the_screen_once_and_repeats_are_duplicates(
    served: tuple[Platform, int],
    xvfb: Display,  # noqa: F811
    home: Path,
) -> None:
    platform, port = served
    result = run_cli(
        "screen", "capture", "--device", "desk1", "--fps", "5", "--frames", "3",
        "--url", f"ws://127.0.0.1:{port}", "--token", PRODUCER_TOKEN,
        "--home", str(home), "--json",
        env={"DISPLAY": xvfb.name},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json_out(result)
    # The white screen does not change: one landed frame, two answered duplicate.
    assert (report["sent"], report["accepted"], report["duplicate"]) == (3, 1, 2)
    assert report["errors"] == []

    landed = [o for o in platform.landing.list() if o.source == "screen:desk1"]
    assert len(landed) == 1
    image = Image.open(io.BytesIO(platform.landing.get(landed[0].landing_id)))
    assert image.format == "PNG" and image.size == (xvfb.width, xvfb.height)
    assert image.convert("L").getextrema() == (255, 255)

    for _ in range(200):
        rows = platform.staging.read("img_signals")
        if rows.height:
            break
        threading.Event().wait(0.05)
    assert rows["landing_id"].to_list() == [landed[0].landing_id]


def test_capture_without_a_display_is_one_line(home: Path) -> None:
    result = run_cli(
        "screen", "capture", "--device", "desk1", "--frames", "1", "--token", "t",
        "--home", str(home),
        env={"DISPLAY": ":199"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "DISPLAY" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
