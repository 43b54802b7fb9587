"""``tradelake run``'s watcher and refreshes when another process holds the feature store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fixtures.atas import export
from tradelake.errors import StoreBusyError
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.scheduler import FeedScheduler, WatchConfig
from tradelake.platform import Platform


def test_a_refresh_the_busy_store_refused_is_retried_by_the_loop(home: Path) -> None:
    data, _ = export(fills=60, seed=72)  # 60 fills + 21 journal rows
    (home / "input").mkdir()
    (home / "input" / "drop.xlsx").write_bytes(data)
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
        watch=WatchConfig(home / "input", "UTC", settle_s=0.0),
        tick_s=0.02,
        report=reports.append,
        refresh_retry_s=0.2,
    )
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run, args=(stop,))
    loop.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (len(calls) < 2 or time.monotonic() - calls[-1] < 0.5):
        time.sleep(0.02)
    stop.set()
    loop.join(timeout=10)

    assert not loop.is_alive()
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.2  # retried once, after retry_s
    assert any(line.endswith("drop.xlsx: ingested, 81 rows") for line in reports), reports
    postponed = [line for line in reports if "refresh postponed" in line]
    assert len(postponed) == 1 and "trying again in 0.2 s" in postponed[0]
