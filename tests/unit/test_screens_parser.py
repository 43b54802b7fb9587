"""The screens parser on plain bytes: ids, devices and capture times, and its errors."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.charts import CORRUPT_PNG, chart_png
from tradelake.errors import SourceFormatError
from tradelake.sources.base import ParseContext, source_for_path
from tradelake.sources.screens import IMG_SIGNALS, parse_screen

LANDED = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def png() -> bytes:
    return chart_png("double_top", 11)


def test_dropped_file_defaults(png: bytes) -> None:
    result = parse_screen(png, "shot.png", ParseContext(source="screens", ingest_ts=LANDED))
    frame = result.frames[IMG_SIGNALS.name]
    assert frame.schema == IMG_SIGNALS.content
    row = frame.row(0, named=True)
    assert row["frame_id"] == hashlib.sha256(png).hexdigest()[:16]
    assert (row["device"], row["ts"], row["signal"]) == ("file", LANDED, "double_top")
    assert json.loads(row["probs"])["double_top"] == row["prob"] > 0.5
    assert result.quarantine[IMG_SIGNALS.name].count == 0


def test_real_time_options_win(png: bytes) -> None:
    options = {"frame_id": "cam-7", "device": "desk-2", "ts": "2026-11-02T14:30:05.120Z"}
    ctx = ParseContext(source="screen:desk-2", options=options, ingest_ts=LANDED)
    row = parse_screen(png, "f.png", ctx).frames[IMG_SIGNALS.name].row(0, named=True)
    assert (row["frame_id"], row["device"]) == ("cam-7", "desk-2")
    assert row["ts"] == datetime(2026, 11, 2, 14, 30, 5, 120000, tzinfo=UTC)


def test_device_from_source_and_naive_time_is_utc(png: bytes) -> None:
    ctx = ParseContext(source="screen:tv-1", options={"ts": "2026-11-02T14:30:05"})
    row = parse_screen(png, "f.png", ctx).frames[IMG_SIGNALS.name].row(0, named=True)
    assert row["device"] == "tv-1" and row["ts"] == datetime(2026, 11, 2, 14, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (CORRUPT_PNG, {}, r"^bad\.png: cannot decode image"),
        (b"", {}, r"^bad\.png: empty input"),
        (None, {"ts": "yesterday"}, r"^bad\.png: capture time 'yesterday' is not ISO 8601"),
    ],
)
def test_errors_are_one_line_naming_the_file(
    png: bytes, data: bytes | None, options: dict[str, str], message: str
) -> None:
    ctx = ParseContext(source="screens", options=options, ingest_ts=LANDED)
    with pytest.raises(SourceFormatError, match=message) as info:
        parse_screen(png if data is None else data, "bad.png", ctx)
    assert "\n" not in str(info.value)


def test_no_capture_time_at_all_is_refused(png: bytes) -> None:
    with pytest.raises(SourceFormatError, match="no capture time"):
        parse_screen(png, "f.png", ParseContext(source="screens"))


@pytest.mark.parametrize("name", ["a.png", "b.PNG", "c.jpg", "d.jpeg"])
def test_image_suffixes_pick_the_screens_parser(name: str) -> None:
    assert source_for_path(Path(name)).name == "screens"
