"""Is a dropped file whole? One format check per suffix, each reading only what it must.

A file copied in by hand or over a share can stop growing for seconds mid-copy (measured: a PNG
paused 1 s, an xlsx 13 s), so a stable size and mtime is not enough: the watcher also asks the
format whether its end has arrived. Each check relies on a fact of its format:

- xlsx / xlsm (ZIP, APPNOTE 4.3.16): the end-of-central-directory record is the last thing
  written; ``zipfile`` cannot open the archive without it, and ``testzip`` checks every
  member's CRC, so a body cut short inside is caught too.
- PNG (RFC 2083 §3.2, §4.1.4): the 8-byte signature first, and the IEND chunk last, always the
  same 12 bytes (length 0, type ``IEND``, CRC ``AE 42 60 82``).
- JPEG (ITU T.81 B.1.1.2): starts with SOI ``FF D8`` and ends with EOI ``FF D9``; some writers
  pad after EOI, so trailing NUL bytes are allowed.

A suffix without a check counts as complete once stable. :func:`incomplete_reason` says in words
what is missing, for the one line the watcher prints about a file that never completes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG_SOI, JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_TAIL_BYTES = 64

Check = Callable[[Path], str | None]


def _zip_check(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError):
        return "no readable zip central directory: a partial copy, or not an xlsx at all"
    return f"zip member {broken} fails its CRC check" if broken else None


def _png_check(path: Path) -> str | None:
    head, tail = _ends(path)
    if not head.startswith(PNG_SIGNATURE):
        return "no PNG signature at the start"
    return None if tail.endswith(PNG_IEND) else "no PNG IEND chunk at the end"


def _jpeg_check(path: Path) -> str | None:
    head, tail = _ends(path)
    if not head.startswith(JPEG_SOI):
        return "no JPEG start-of-image marker (FFD8)"
    return None if tail.rstrip(b"\x00").endswith(JPEG_EOI) else "no JPEG end-of-image (FFD9)"


CHECKS: dict[str, Check] = {
    ".xlsx": _zip_check,
    ".xlsm": _zip_check,
    ".png": _png_check,
    ".jpg": _jpeg_check,
    ".jpeg": _jpeg_check,
}


def incomplete_reason(path: Path) -> str | None:
    """What shows ``path`` is not whole yet (or not in its format), or ``None`` if complete."""
    check = CHECKS.get(path.suffix.lower())
    if check is None:
        return None
    try:
        return check(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"


def is_complete(path: Path) -> bool:
    return incomplete_reason(path) is None


def _ends(path: Path) -> tuple[bytes, bytes]:
    with open(path, "rb") as handle:
        head = handle.read(len(PNG_SIGNATURE))
        size = handle.seek(0, 2)
        handle.seek(max(0, size - _TAIL_BYTES))
        return head, handle.read()
