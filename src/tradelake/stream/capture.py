"""Screen capture for the producer: a paced generator of encoded frames (``mss`` + Pillow).

``tradelake screen capture`` feeds these frames to the producer's sender, which owns delivery
(reconnects, resends, one id per frame). This module only grabs and encodes: a whole monitor
(``monitor``, 1-based as ``mss`` numbers them; 0 is every monitor together) or a ``Region`` of
the virtual screen, at most ``fps`` frames per second. A slow grab or encode skips the missed
ticks instead of bursting to catch up, so the producer never sends stale frames in a rush.

Grabbing needs a display (X11 on Linux, or the desktop on macOS and Windows). Without one the
generator raises :class:`~tradelake.errors.CaptureError` with one line saying what to do.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from PIL import Image

from tradelake.errors import CaptureError
from tradelake.stream.producer import Frame

ImageFormat = Literal["png", "jpeg"]
CONTENT_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg"}
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Region:
    """A rectangle of the virtual screen, in pixels from its top-left corner."""

    left: int
    top: int
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Region:
        """``"X,Y,W,H"`` as typed on the command line."""
        parts = [p.strip() for p in text.split(",")]
        try:
            left, top, width, height = (int(p) for p in parts)
        except ValueError:
            raise CaptureError(
                f"--region {text!r} is not X,Y,W,H in whole pixels (e.g. 0,0,1280,720)"
            ) from None
        if width <= 0 or height <= 0 or left < 0 or top < 0:
            raise CaptureError(f"--region {text!r} needs X,Y ≥ 0 and a width and height > 0")
        return cls(left, top, width, height)


@dataclass(frozen=True)
class CapturedFrame:
    """One encoded grab; ``captured_at`` is UTC, taken just before the grab."""

    data: bytes
    content_type: str
    captured_at: datetime
    width: int
    height: int


def as_frames(captured: Iterable[CapturedFrame]) -> Iterator[Frame]:
    """Grabs as the sender's frames. The id is the bytes' sha256 prefix, as for replayed files:
    the sender resends a grab under that id, and an unchanged screen is the same frame (the
    gateway answers ``duplicate``; landing holds identical bytes once)."""
    for grab in captured:
        frame_id = hashlib.sha256(grab.data).hexdigest()[:16]
        yield Frame(frame_id, grab.captured_at, grab.data, grab.content_type)


def encode(image: Image.Image, image_format: ImageFormat) -> bytes:
    """PNG (lossless, what the CV model was trained on) or JPEG (a third of the bytes)."""
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif image_format == "jpeg":
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    else:
        raise CaptureError(f"--format {image_format!r} is not one of: png, jpeg")
    return buffer.getvalue()


def capture_frames(
    *,
    fps: float = 2.0,
    monitor: int = 1,
    region: Region | None = None,
    image_format: ImageFormat = "png",
    max_frames: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[CapturedFrame]:
    """Grab the screen ``fps`` times a second until ``max_frames`` (or forever)."""
    if fps <= 0:
        raise CaptureError(f"--fps {fps} must be greater than 0")
    if image_format not in CONTENT_TYPES:
        raise CaptureError(f"--format {image_format!r} is not one of: png, jpeg")
    grabber = _open_screen()
    try:
        area = _area(grabber, monitor, region)
        period = 1.0 / fps
        next_at = clock()
        count = 0
        while max_frames is None or count < max_frames:
            wait = next_at - clock()
            if wait > 0:
                sleep(wait)
            captured_at = datetime.now(UTC)
            image = _grab(grabber, area)
            yield CapturedFrame(
                data=encode(image, image_format),
                content_type=CONTENT_TYPES[image_format],
                captured_at=captured_at,
                width=image.width,
                height=image.height,
            )
            count += 1
            next_at += period
            if next_at < clock():  # fell behind: skip the missed ticks, do not burst
                next_at = clock() + period
    finally:
        grabber.close()


def _open_screen() -> Any:
    try:
        import mss
        from mss.exception import ScreenShotError
    except ModuleNotFoundError:
        raise CaptureError("screen capture needs mss: pip install 'tradelake[capture]'") from None
    try:
        return mss.mss()
    except ScreenShotError as exc:
        raise CaptureError(
            f"cannot open the screen ({exc}); run on a desktop session, or set DISPLAY to an "
            "X server (e.g. Xvfb :99 with DISPLAY=:99)"
        ) from None


def _area(grabber: Any, monitor: int, region: Region | None) -> dict[str, int]:
    if region is not None:
        return {
            "left": region.left,
            "top": region.top,
            "width": region.width,
            "height": region.height,
        }
    monitors = grabber.monitors
    if not 0 <= monitor < len(monitors):
        raise CaptureError(
            f"--monitor {monitor} does not exist; this screen has monitors 1..{len(monitors) - 1} "
            "(0 = all of them)"
        )
    chosen: dict[str, int] = monitors[monitor]
    return chosen


def _grab(grabber: Any, area: dict[str, int]) -> Image.Image:
    from mss.exception import ScreenShotError

    try:
        shot = grabber.grab(area)
    except ScreenShotError as exc:
        raise CaptureError(
            f"cannot grab {area['width']}x{area['height']} at ({area['left']},{area['top']}): "
            f"{exc}; check that --region lies inside the screen"
        ) from None
    return Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
