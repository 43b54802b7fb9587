"""Screen capture for real, on a virtual X display (Xvfb, white root window)."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from fixtures.xvfb import Display, xvfb  # noqa: F401  (fixture)
from tradelake.errors import CaptureError
from tradelake.stream.capture import Region, capture_frames


def _white_fraction(image: Image.Image) -> float:
    histogram = image.convert("L").histogram()
    return histogram[255] / (image.width * image.height)


def test_png_frames_of_the_whole_monitor_are_the_screen(xvfb: Display) -> None:  # noqa: F811
    frames = list(capture_frames(fps=20, monitor=1, image_format="png", max_frames=3))
    assert len(frames) == 3
    for frame in frames:
        assert frame.content_type == "image/png"
        assert (frame.width, frame.height) == (xvfb.width, xvfb.height)
        image = Image.open(io.BytesIO(frame.data))
        assert image.format == "PNG" and image.size == (xvfb.width, xvfb.height)
        assert _white_fraction(image) == 1.0
    stamps = [f.captured_at for f in frames]
    assert stamps == sorted(stamps) and stamps[0].tzinfo is not None


def test_jpeg_frames_of_a_region_have_the_region_size(xvfb: Display) -> None:  # noqa: F811
    region = Region.parse("10,20,100,50")
    (frame,) = capture_frames(fps=5, region=region, image_format="jpeg", max_frames=1)
    image = Image.open(io.BytesIO(frame.data))
    assert frame.content_type == "image/jpeg" and image.format == "JPEG"
    assert image.size == (100, 50)
    assert _white_fraction(image) > 0.99


def test_frames_are_paced_at_the_requested_rate(xvfb: Display) -> None:  # noqa: F811
    started = time.monotonic()
    frames = list(capture_frames(fps=10, max_frames=4))
    elapsed = time.monotonic() - started
    assert len(frames) == 4
    assert 0.28 <= elapsed < 2.0  # three periods of 0.1 s between four grabs


def test_a_missing_monitor_names_the_ones_there_are(xvfb: Display) -> None:  # noqa: F811
    with pytest.raises(CaptureError, match=r"--monitor 5 does not exist.*monitors 1\.\.1"):
        next(capture_frames(monitor=5, max_frames=1))


def test_no_display_is_one_line_saying_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":199")  # no X server there
    with pytest.raises(CaptureError, match="DISPLAY") as caught:
        next(capture_frames(max_frames=1))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,0,0,10", "-1,0,10,10"])
def test_a_bad_region_is_refused(text: str) -> None:
    with pytest.raises(CaptureError, match="--region"):
        Region.parse(text)


def test_a_bad_rate_is_refused() -> None:
    with pytest.raises(CaptureError, match="--fps"):
        next(capture_frames(fps=0))
