"""The built-in scheduler: every feed and ``[[jobs]]`` entry on its cron schedule, plus the
``input/`` folder watcher.

One loop on the main thread decides what is due (croniter; 6-field schedules fire on seconds)
and hands pulls and watcher batches to a small thread pool, so a slow provider never delays
the others. Guarantees a caller may rely on:

- A feed that fails keeps failing alone: its error goes to its state file and the loop goes on.
- At most one pull per feed runs at a time; fires missed while it runs are coalesced into one.
- A feed never pulled runs at start. After a restart, a feed whose saved ``next_run_ts`` passed
  while we were down runs at once, once (its cursor then asks only for what it missed);
  otherwise it waits for its next cron fire.
- Fetches run in parallel; staging is serialised (``pull.STAGING_LOCK``) so concurrent objects
  never both claim version 1 of a key. Feature-store refreshes run after pulls that staged
  rows, one at a time. A watcher batch is handed to ``WatchConfig.ingest``:
  ``Platform.ingest``, the path of ``tradelake ingest`` and ``watch`` (its refresh, lineage
  and warnings, such as an ATAS file read in the fallback time zone, included). Watcher
  batches and refreshes hold the data home's write lock (``writing``,
  :mod:`tradelake.write_lock`), so they also wait for other processes' writers; a batch the
  lock or a busy store refused is handed out again after ``[watch] retry_s``.
- A ``[[jobs]]`` entry (model training, :mod:`tradelake.jobs.scheduled`) runs on the pool at
  each cron fire, at most one run per job at a time; a failure is reported and the next fire
  tries again. Jobs are not caught up after downtime.
- ``stop`` (set by SIGTERM/SIGINT in ``tradelake run``) ends the loop: no new work starts,
  in-flight pulls finish and save their state, then :meth:`FeedScheduler.run` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from tradelake.errors import TradelakeError, TransientError
from tradelake.jobs.feed_state import FeedStateStore
from tradelake.jobs.feeds import FeedConfig
from tradelake.jobs.ingest import FileResult, IngestEnv
from tradelake.jobs.pull import (
    STAGING_LOCK,
    PullOptions,
    PullResult,
    RateLimits,
    pull_and_record,
)
from tradelake.jobs.scheduled import JobConfig
from tradelake.jobs.watch import FolderWatcher, WatchTiming

logger = logging.getLogger("tradelake.scheduler")

Report = Callable[[str], None]
_T = TypeVar("_T")


@dataclass
class _Slot:
    """One feed's place in the schedule."""

    feed: FeedConfig
    next_run: datetime
    running: Future[PullResult | None] | None = field(default=None)


@dataclass
class _JobSlot:
    """One ``[[jobs]]`` entry's place in the schedule."""

    job: JobConfig
    next_run: datetime
    running: Future[None] | None = field(default=None)


IngestFiles = Callable[[list[Path]], Sequence[FileResult]]


@dataclass(frozen=True)
class WatchConfig:
    """The folder the scheduler also watches, what ingests a batch of its files
    (:meth:`Platform.ingest <tradelake.platform.Platform.ingest>`, which also refreshes the
    store) and the watcher's timing."""

    folder: Path
    ingest: IngestFiles
    timing: WatchTiming = field(default_factory=WatchTiming)


class FeedScheduler:
    """Runs feeds on their schedules and the folder watcher until ``stop`` is set."""

    def __init__(
        self,
        env: IngestEnv,
        feeds: Sequence[FeedConfig],
        states: FeedStateStore,
        *,
        refresh: Callable[[], object],
        writing: Callable[[], AbstractContextManager[object]] = nullcontext,
        watch: WatchConfig | None = None,
        options: PullOptions | None = None,
        workers: int = 2,
        tick_s: float = 0.5,
        report: Report = logger.info,
        refresh_retry_s: float = 5.0,
        jobs: Sequence[JobConfig] = (),
        run_job: Callable[[str], object] | None = None,
    ) -> None:
        self.env, self.states, self.watch = env, states, watch
        self.options = options or PullOptions()
        self.limits = RateLimits(feeds, self.options)
        self.tick_s = tick_s
        self.report = report
        self._refresh = refresh
        self._writing = writing
        self._refresh_lock = threading.Lock()
        self.refresh_retry_s = refresh_retry_s
        self._refresh_due: float | None = None  # monotonic time of a postponed refresh
        self._refresh_retry: Future[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tradelake-pull")
        self._watch_busy: Future[None] | None = None
        self._late_checked = 0.0  # monotonic time of the last late-feed check
        now = self.options.now()
        self.slots = [self._schedule(feed, now) for feed in feeds]
        if jobs and run_job is None:
            raise ValueError("[[jobs]] need run_job (Platform.run_job)")
        self._run_job = run_job
        self.job_slots = [_JobSlot(job, job.next_run(now)) for job in jobs]

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set, then let in-flight work finish (see module docstring)."""
        watcher = None
        if self.watch:
            folder, timing = self.watch.folder, self.watch.timing
            watcher = FolderWatcher(folder, timing.settle_s, timing.give_up_s, self.report)
        try:
            while not stop.is_set():
                now = self.options.now()
                self.submit_due(now)
                self.submit_due_jobs(now)
                if watcher:
                    self._poll(watcher)
                self._retry_refresh()
                self._check_late(now)
                stop.wait(self._sleep_for(self.options.now()))
        finally:
            self._pool.shutdown(wait=True)

    def submit_due(self, now: datetime) -> list[str]:
        """Start every feed whose time has come and is not running; returns their names."""
        started = []
        for slot in self.slots:
            if slot.next_run > now:
                continue
            slot.next_run = slot.feed.next_run(now)
            if slot.running is not None and not slot.running.done():
                logger.info("feed %s still running; skipping this fire", slot.feed.name)
                continue
            slot.running = self._pool.submit(self._guarded, self._pull, slot.feed, slot.next_run)
            started.append(slot.feed.name)
        return started

    def submit_due_jobs(self, now: datetime) -> list[str]:
        """Start every ``[[jobs]]`` entry whose cron fire has come and that is not running."""
        started = []
        for slot in self.job_slots:
            if slot.next_run > now:
                continue
            slot.next_run = slot.job.next_run(now)
            if slot.running is not None and not slot.running.done():
                self.report(f"job {slot.job.name} still running; skipping this fire")
                continue
            slot.running = self._pool.submit(self._guarded, self._job, slot.job)
            started.append(slot.job.name)
        return started

    def _job(self, job: JobConfig) -> None:
        assert self._run_job is not None
        started = time.monotonic()
        try:
            self._run_job(job.job)
        except TradelakeError as exc:
            self.report(f"job {job.name}: failed: {exc}")
            return
        self.report(f"job {job.name}: done in {time.monotonic() - started:.1f} s")

    def _pull(self, feed: FeedConfig, next_run: datetime) -> PullResult:
        result = pull_and_record(
            self.env, feed, self.states, self.limits, self.options, next_run=next_run
        )
        self.report(_describe(result))
        if result.rows:
            self.refresh()
        return result

    def refresh(self) -> None:
        """Refresh the feature store; serialised, and a failure is reported, not raised.

        A transient failure (the store busy in another process) is tried again by the loop
        after ``refresh_retry_s``, so staged rows reach the store without waiting for new ones.
        """
        with self._refresh_lock:
            try:
                self._refresh()
            except TransientError as exc:
                self._refresh_due = time.monotonic() + self.refresh_retry_s
                self.report(
                    f"feature-store refresh postponed ({exc}); trying again in "
                    f"{self.refresh_retry_s:g} s"
                )
            except TradelakeError as exc:
                self.report(f"feature-store refresh failed ({exc}); the next refresh retries")
            else:
                self._refresh_due = None

    def _retry_refresh(self) -> None:
        due = self._refresh_due
        running = self._refresh_retry is not None and not self._refresh_retry.done()
        if due is not None and time.monotonic() >= due and not running:
            self._refresh_due = None
            self._refresh_retry = self._pool.submit(self._guarded, self.refresh)

    def _check_late(self, now: datetime) -> None:
        """Feeds with no success since a fire that is past its grace ([quality_alerts]
        feed_late_s) raise a quality alert; checked every ``late_check_s``."""
        quality = self.env.ops.quality
        if quality is None or time.monotonic() - self._late_checked < quality.config.late_check_s:
            return
        self._late_checked = time.monotonic()
        for slot in self.slots:
            quality.check_feed_late(slot.feed, self.states.load(slot.feed.name), now)

    def _guarded(self, work: Callable[..., _T], *args: object) -> _T | None:
        """Run pool work so that a bug is logged with its traceback instead of lost in a Future."""
        try:
            return work(*args)
        except Exception:
            logger.exception("scheduled work failed; the loop goes on")
            return None

    def _poll(self, watcher: FolderWatcher) -> None:
        if self._watch_busy is not None and not self._watch_busy.done():
            return
        batch = watcher.ready()
        if batch:
            self._watch_busy = self._pool.submit(self._guarded, self._ingest, watcher, batch)

    def _ingest(self, watcher: FolderWatcher, batch: list[Path]) -> None:
        assert self.watch is not None
        try:
            # The write lock first, as a pull's refresh takes it: then no pull stages beside us.
            with self._writing(), STAGING_LOCK:
                results = self.watch.ingest(batch)
        except TransientError as exc:  # the write lock's timeout, a busy store's refresh
            watcher.retry_later(batch, self.watch.timing.retry_s)
            self.report(f"ingest of {len(batch)} file(s) postponed ({exc}); trying again soon")
            return
        except TradelakeError as exc:
            self.report(f"ingest of {len(batch)} file(s) failed ({exc}); retried when they change")
            return
        for result in results:
            detail = f" ({result.error})" if result.error else ""
            self.report(f"ingest {result.path}: {result.status}, {result.rows} rows{detail}")
            for warning in result.warnings:
                self.report(f"warning: {warning}")

    def _schedule(self, feed: FeedConfig, now: datetime) -> _Slot:
        """The first run: at once for a feed never pulled or whose saved next run passed while
        we were down (a missed run is caught up once, not once per missed fire); else by cron."""
        state = self.states.load(feed.name)
        missed = state.next_run_ts is not None and state.next_run_ts <= now
        state.next_run_ts = now if missed or state.last_run_ts is None else feed.next_run(now)
        self.states.save(state)
        return _Slot(feed, state.next_run_ts)

    def _sleep_for(self, now: datetime) -> float:
        fires = [slot.next_run for slot in self.slots] + [s.next_run for s in self.job_slots]
        if not fires:
            return self.tick_s
        earliest = min(fires)
        return max(0.0, min(self.tick_s, (earliest - now).total_seconds()))


def _describe(result: PullResult) -> str:
    if result.status == "failed":
        return f"feed {result.feed}: failed: {result.error}"
    extra = f", {len(result.rejected)} payload(s) rejected" if result.rejected else ""
    return f"feed {result.feed}: {result.status}, {result.pages} page(s), {result.rows} rows{extra}"
