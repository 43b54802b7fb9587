"""``[[jobs]]``: parsed and checked, and fired by the scheduler loop on their cron."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradelake.errors import ConfigError, ModelError
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.ingest import IngestEnv
from tradelake.jobs.scheduled import JobConfig, parse_jobs
from tradelake.jobs.scheduler import FeedScheduler


def test_jobs_are_parsed_and_checked() -> None:
    jobs = parse_jobs([{"name": "hourly", "job": "train_signal", "schedule": "5  * * * *"}])
    assert jobs == [JobConfig("hourly", "train_signal", "5 * * * *", "UTC")]
    after = datetime(2026, 12, 3, 15, 7, tzinfo=UTC)
    assert jobs[0].next_run(after) == datetime(2026, 12, 3, 16, 5, tzinfo=UTC)
    with pytest.raises(ConfigError, match="use one of drift, train_signal"):
        parse_jobs([{"name": "x", "job": "train_everything", "schedule": "5 * * * *"}])
    with pytest.raises(ConfigError, match="not a cron expression"):
        parse_jobs([{"name": "x", "job": "train_signal", "schedule": "hourly"}])
    with pytest.raises(ConfigError, match="unknown key"):
        parse_jobs([{"name": "x", "job": "train_signal", "schedule": "5 * * * *", "cron": 1}])
    twice = {"name": "x", "job": "train_signal", "schedule": "5 * * * *"}
    with pytest.raises(ConfigError, match="two"):
        parse_jobs([twice, twice])


def test_the_loop_fires_jobs_reports_failures_and_never_overlaps_a_job(tmp_path: Path) -> None:
    calls: list[tuple[str, float]] = []

    def run_job(job: str) -> None:
        calls.append((job, time.monotonic()))
        if len(calls) == 1:
            raise ModelError("only 3 round trips to learn from")
        time.sleep(1.3)  # longer than the schedule's period: the next fire is skipped

    reports: list[str] = []
    scheduler = FeedScheduler(
        IngestEnv(None, None, None),  # type: ignore[arg-type]  # no feeds, no watcher
        [],
        FeedStateStore(tmp_path / "state"),
        refresh=lambda: None,
        tick_s=0.02,
        report=reports.append,
        jobs=[JobConfig("every-second", "train_signal", "* * * * * *")],
        run_job=run_job,
    )
    stop = threading.Event()
    loop = threading.Thread(target=scheduler.run, args=(stop,))
    loop.start()
    time.sleep(4.2)
    stop.set()
    loop.join(timeout=10)

    assert not loop.is_alive()
    assert 2 <= len(calls) <= 4 and {job for job, _ in calls} == {"train_signal"}
    assert reports[0] == "job every-second: failed: only 3 round trips to learn from"
    done = [line for line in reports if line.startswith("job every-second: done in ")]
    assert done and all(float(line.split()[-2]) >= 1.25 for line in done)
    assert any("still running; skipping this fire" in line for line in reports)
