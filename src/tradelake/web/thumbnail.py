"""Small previews of alert frames for the Today page: a 1280x720 screen PNG is 100-300 KB,
a list of twenty of them is too much for a phone; a 320-pixel-wide PNG is a few KB."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

THUMB_SIZE = (320, 180)


def thumbnail(data: bytes, size: tuple[int, int] = THUMB_SIZE) -> bytes:
    """``data`` (PNG or JPEG) scaled to fit ``size``, as PNG; ValueError if not an image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", size)  # JPEG decodes at a reduced scale, much cheaper
            image: Image.Image = opened.convert("RGB")
            factor = max(1, min(image.width // size[0], image.height // size[1]))
            if factor > 1:
                image = image.reduce(factor)  # cheap box reduce before the fine resize
            image.thumbnail(size)
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=False, compress_level=6)
            return out.getvalue()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a PNG or JPEG image ({exc})") from exc
