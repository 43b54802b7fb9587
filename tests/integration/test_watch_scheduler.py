"""``tradelake run``'s watcher: its batches take ``Platform.ingest``'s path (warnings included),
and a busy store delays a batch or a refresh without losing it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from fixtures.atas import export
from tradelake.errors import StoreBusyError
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.ingest import FileResult
from tradelake.jobs.scheduler import FeedScheduler, WatchConfig
from tradelake.jobs.watch import WatchTiming
from tradelake.platform import Platform


def run_until(scheduler: FeedScheduler, done: Callable[[], bool], limit_s: float = 30) -> None:
    """Run the scheduler's loop on a thread until ``done()`` (or ``limit_s``), then stop it."""
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run, args=(stop,))
    loop.start()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not done():
        time.sleep(0.02)
    stop.set()
    loop.join(timeout=10)
    assert not loop.is_alive()


def test_the_run_watcher_ingests_through_the_platform_and_warns_of_the_fallback_zone(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ATAS zone configured: `tradelake ingest` warns per file, and so must `run`."""
    monkeypatch.delenv("TRADELAKE_SOURCES__ATAS__TIMEZONE", raising=False)
    (home / "tradelake.toml").write_text("[watch]\nsettle_s = 0\n", encoding="utf-8")
    (home / "input").mkdir()
    (home / "input" / "drop.xlsx").write_bytes(export(fills=60, seed=72)[0])
    platform = Platform.open(home)
    assert platform.settings.atas_timezone_configured is None
    reports: list[str] = []
    scheduler = platform.feed_scheduler(report=reports.append)
    scheduler.tick_s = 0.02

    run_until(scheduler, lambda: any("warning:" in line for line in reports))

    assert any(line.endswith("drop.xlsx: ingested, 81 rows") for line in reports), reports
    (warning,) = [line for line in reports if line.startswith("warning:")]
    assert warning.startswith("warning: drop.xlsx: no time zone is configured for ATAS"), warning
    assert "set [sources.atas] timezone in tradelake.toml (or pass --tz ZONE)" in warning
    # ... and Platform.ingest refreshed the store that serves the file.
    assert platform.features.query("SELECT count(*) AS n FROM trades").item() == 60


def test_a_batch_the_busy_store_refused_is_handed_out_again_after_retry_s(home: Path) -> None:
    (home / "input").mkdir()
    (home / "input" / "drop.xlsx").write_bytes(export(fills=60, seed=73)[0])
    platform = Platform.open(home)
    calls: list[float] = []

    def ingest(batch: list[Path]) -> Sequence[FileResult]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise StoreBusyError("cannot open features.duckdb (Conflicting lock is held)")
        return platform.ingest(batch, tz="UTC").files

    reports: list[str] = []
    scheduler = FeedScheduler(
        platform.ingest_env,
        [],
        FeedStateStore(home / "state"),
        refresh=platform.refresh,
        watch=WatchConfig(home / "input", ingest, WatchTiming(settle_s=0.0, retry_s=0.2)),
        tick_s=0.02,
        report=reports.append,
    )
    run_until(scheduler, lambda: any("ingested" in line for line in reports))

    assert len(calls) == 2 and calls[1] - calls[0] >= 0.2  # the same file, after retry_s
    postponed = [line for line in reports if "postponed" in line]
    assert len(postponed) == 1 and "Conflicting lock is held" in postponed[0]
    assert any(line.endswith("drop.xlsx: ingested, 81 rows") for line in reports), reports
    assert not any(line.startswith("warning:") for line in reports)  # a zone was given


def test_a_refresh_the_busy_store_refused_is_retried_by_the_loop(home: Path) -> None:
    calls: list[float] = []

    def refresh() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise StoreBusyError("cannot open features.duckdb (Conflicting lock is held)")

    reports: list[str] = []
    scheduler = FeedScheduler(
        Platform.open(home).ingest_env,
        [],
        FeedStateStore(home / "state"),
        refresh=refresh,
        tick_s=0.02,
        report=reports.append,
        refresh_retry_s=0.2,
    )
    scheduler.refresh()  # what a pull that staged rows does
    run_until(scheduler, lambda: len(calls) >= 2, limit_s=20)

    assert len(calls) == 2 and calls[1] - calls[0] >= 0.2  # retried once, after retry_s
    postponed = [line for line in reports if "refresh postponed" in line]
    assert len(postponed) == 1 and "trying again in 0.2 s" in postponed[0]
