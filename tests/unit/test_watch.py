"""The folder watcher (issue 10 items 6, 10, 12): complete files only, never dies on one file.

Partial files are real ones cut short: a generated ATAS workbook, a rendered chart PNG and a
JPEG, truncated where a stalled copy leaves them. The clock is injected (``now=``).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from fixtures.atas import export
from fixtures.charts import chart_png
from tradelake.errors import SourceFormatError, StoreBusyError
from tradelake.jobs.completeness import incomplete_reason
from tradelake.jobs.watch import FolderWatcher, WatchTiming, watch


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(buf, format="JPEG")
    return buf.getvalue()


def _payloads() -> dict[str, bytes]:
    return {"drop.xlsx": export(fills=60, seed=71)[0], "shot.png": chart_png("bull_flag", 7)}


@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("drop.xlsx", 0.5),  # the 13 s pause of the issue: half the workbook
        ("drop.xlsx", -22),  # all but the end-of-central-directory record
        ("shot.png", 0.5),
        ("shot.png", -1),  # the 1 s pause: one byte short of IEND's CRC
        ("photo.jpg", -2),  # EOI missing
    ],
)
def test_a_partial_file_is_never_handed_out_and_the_whole_one_is(
    tmp_path: Path, name: str, cut: float
) -> None:
    data = _jpeg() if name.endswith(".jpg") else _payloads()[name]
    target = tmp_path / name
    keep = int(len(data) * cut) if cut > 0 else len(data) + int(cut)
    target.write_bytes(data[:keep])
    lines: list[str] = []
    watcher = FolderWatcher(tmp_path, settle_s=0.5, give_up_s=30.0, report=lines.append)

    assert watcher.ready(now=0.0) == []
    assert watcher.ready(now=5.0) == []  # size and mtime stable, but the format says partial
    assert incomplete_reason(target) is not None
    target.write_bytes(data)  # the copy resumes and ends
    assert watcher.ready(now=6.0) == []  # changed: it must settle again
    assert watcher.ready(now=7.0) == [target]
    assert watcher.ready(now=8.0) == []  # handed out once
    assert lines == []


def test_a_file_that_never_completes_is_reported_once_and_not_landed(tmp_path: Path) -> None:
    data = _payloads()["drop.xlsx"]
    target = tmp_path / "stuck.xlsx"
    target.write_bytes(data[: len(data) // 3])
    lines: list[str] = []
    watcher = FolderWatcher(tmp_path, settle_s=0.5, give_up_s=10.0, report=lines.append)

    handed = [watcher.ready(now=t) for t in (0.0, 5.0, 11.0, 30.0, 300.0)]

    assert handed == [[], [], [], [], []]
    assert len(lines) == 1
    assert lines[0].startswith("stuck.xlsx is still incomplete after 11 s")
    assert "zip central directory" in lines[0] and "copy the file again" in lines[0]
    target.write_bytes(data)  # copied again, whole this time
    assert watcher.ready(now=301.0) == [] and watcher.ready(now=302.0) == [target]


def test_a_folder_named_like_an_export_is_reported_once(tmp_path: Path) -> None:
    (tmp_path / "x.xlsx").mkdir()
    (tmp_path / "y.xlsx").mkdir()
    (tmp_path / "y.xlsx" / "inner.xlsx").write_bytes(_payloads()["drop.xlsx"])
    lines: list[str] = []
    watcher = FolderWatcher(tmp_path, settle_s=0.5, report=lines.append)

    handed = [watcher.ready(now=t) for t in (0.0, 1.0, 2.0, 3.0)]

    assert handed == [[], [], [], []]
    assert sorted(line.split(" ")[0] for line in lines) == ["x.xlsx", "y.xlsx"]
    assert all("is a folder, not a file" in line for line in lines)


def _run_watch(
    folder: Path, handle: Callable[[list[Path]], None], done: Callable[[], bool]
) -> list[str]:
    """Run the real loop on a thread until ``done()`` (or 20 s); returns what it reported."""
    lines: list[str] = []
    deadline = time.monotonic() + 20
    stop = threading.Event()
    timing = WatchTiming(settle_s=0.05, give_up_s=5.0, retry_s=0.2)
    loop = threading.Thread(
        target=watch,
        args=(folder, handle),
        kwargs={
            "interval_s": 0.02,
            "timing": timing,
            "report": lines.append,
            "should_stop": lambda: stop.is_set() or time.monotonic() > deadline,
        },
    )
    loop.start()
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    loop.join(timeout=5)
    assert not loop.is_alive()
    return lines


def test_a_busy_store_is_retried_and_a_failing_file_never_stops_the_loop(tmp_path: Path) -> None:
    data = _payloads()["drop.xlsx"]
    calls: list[tuple[str, float]] = []

    def handle(batch: list[Path]) -> None:
        (name,) = [p.name for p in batch]
        calls.append((name, time.monotonic()))
        if name == "bug.xlsx":
            raise RuntimeError("parser bug")
        if name == "bad.xlsx":
            raise SourceFormatError("bad.xlsx: not an ATAS export")
        if len(calls) == 3:  # good.xlsx's first try; then the other process lets go
            raise StoreBusyError("cannot open features.duckdb (lock held)")

    def seen_then_quiet(name: str) -> Callable[[], bool]:
        """Done 0.8 s (four retry periods) after ``name`` was first handed out."""
        return lambda: any(n == name and time.monotonic() - t > 0.8 for n, t in calls)

    lines: list[str] = []
    for name in ("bug.xlsx", "bad.xlsx"):
        (tmp_path / name).write_bytes(data)
        lines += _run_watch(tmp_path, handle, seen_then_quiet(name))
        (tmp_path / name).unlink()
    (tmp_path / "good.xlsx").write_bytes(data)
    lines += _run_watch(tmp_path, handle, seen_then_quiet("good.xlsx"))

    names = [name for name, _ in calls]
    assert names[:2] == ["bug.xlsx", "bad.xlsx"]  # each failed once, and not again
    assert names[2:] == ["good.xlsx"] * 2  # busy, then ingested (and not again)
    good = [ts for name, ts in calls if name == "good.xlsx"]
    assert good[1] - good[0] >= 0.2  # retried after retry_s, not in a hot loop
    assert any(
        "bug.xlsx" in line and "unexpected RuntimeError: parser bug" in line for line in lines
    )
    assert any("bad.xlsx" in line and "not an ATAS export" in line for line in lines)
    busy = [line for line in lines if "not ingested yet" in line]
    assert len(busy) == 1 and "good.xlsx" in busy[0] and "trying again in 0.2 s" in busy[0]
