"""The facade under the CLI, the jobs and (later) the web app: one object per data home.

Each CLI command unpacks its options and calls one method here; the methods wire the layers
(landing → staging → features) together from :class:`~tradelake.config.Settings`, so no caller
needs to know where anything lives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelake import atomic_files
from tradelake.analytics import positions as positions_math
from tradelake.analytics import risk as risk_math
from tradelake.analytics import stats as stats_math
from tradelake.analytics import totals as totals_math
from tradelake.config import Settings, load_settings, validate_timezone
from tradelake.errors import FeatureStoreError, QueryOptionError
from tradelake.features import FeatureStore, RefreshResult
from tradelake.instruments import InstrumentTable
from tradelake.jobs import ingest as ingest_job
from tradelake.jobs import replay as replay_job
from tradelake.jobs.faults import crash_point
from tradelake.landing import LandingStore
from tradelake.landing.verify import Verification, seal_landing, verify_landing
from tradelake.ops import datasets
from tradelake.ops.lineage import (
    EVENTS_FILE,
    Dataset,
    LineageEmitter,
    RunHandle,
    lineage_config,
)
from tradelake.ops.observer import Observer
from tradelake.sources import screens
from tradelake.staging import StagingWriter
from tradelake.stream.settings import StreamSettings, stream_settings
from tradelake.write_lock import LOCK_FILE, WriteLock

if TYPE_CHECKING:
    from tradelake.features.entry_view import EntryView
    from tradelake.features.setup_outcomes import Outcome
    from tradelake.jobs import vision as vision_job
    from tradelake.jobs import vision_evaluate as vision_eval_job
    from tradelake.jobs.demo_story import DemoStory
    from tradelake.jobs.drift import DriftReport
    from tradelake.jobs.feed_state import FeedState
    from tradelake.jobs.feeds import FeedConfig
    from tradelake.jobs.pull import PullResult
    from tradelake.jobs.scheduled import JobConfig
    from tradelake.jobs.scheduler import FeedScheduler
    from tradelake.jobs.sentiment import RescoreResult
    from tradelake.jobs.signal import SignalTrainReport
    from tradelake.jobs.watch import WatchTiming
    from tradelake.ml.champions import Champion, Shipped
    from tradelake.ml.ensemble_settings import EnsembleSettings
    from tradelake.ml.model_registry import VersionInfo
    from tradelake.ml.signal_ensemble import SignalModel
    from tradelake.ml.signal_serving import SignalScorer
    from tradelake.ml.vision import ChartClassifier
    from tradelake.publish import PublishReport
    from tradelake.staging.mirror import StagingMirror
    from tradelake.stream import lineage
    from tradelake.stream.alerts import Alert
    from tradelake.stream.queue import Queue
    from tradelake.stream.runtime import StreamRuntime

Progress = Callable[[str], None]
ALL_ALERTS = 2**62
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    """Per-file results and what the feature-store refresh did."""

    files: list[ingest_job.FileResult]
    refresh: RefreshResult

    @property
    def ok(self) -> bool:
        return all(result.status != "error" for result in self.files)


class Platform:
    """Everything tradelake does, for one data home."""

    def __init__(self, settings: Settings, *, notify: Progress | None = None) -> None:
        self.settings = settings
        self.notify = notify
        # Screenshots are scored by the configured [vision] model, passed with each parse.
        self.chart_model = screens.model_ref(settings.vision_model, settings.mlflow_tracking_uri)
        self._swept = False

    @classmethod
    def open(cls, home: str | Path | None = None, *, notify: Progress | None = None) -> Platform:
        """``notify`` gets the line a writer prints while it waits for another one."""
        return cls(load_settings(home), notify=notify)

    @cached_property
    def instruments(self) -> InstrumentTable:
        return InstrumentTable(self.settings.instruments)

    @cached_property
    def landing(self) -> LandingStore:
        return LandingStore(self.settings.landing_url, self.settings.s3_options)

    @cached_property
    def staging(self) -> StagingWriter:
        """Staging through the configured path: after a replay, a link to the generation the
        store publishes (:mod:`tradelake.jobs.replay`), so a long-running writer follows it."""
        return StagingWriter(self.settings.staging_dir)

    @cached_property
    def staging_mirror(self) -> StagingMirror | None:
        """The object store that staging is synced with (``[staging] url = "s3://..."``), or
        None for local staging. Pulled and pushed by :meth:`writing`."""
        if not self.settings.staging_remote:
            return None
        from tradelake.staging.mirror import StagingMirror

        return StagingMirror(
            self.settings.staging_url, self.settings.s3_options, self.settings.staging_dir
        )

    @cached_property
    def write_lock(self) -> WriteLock:
        """The data home's write lock (:mod:`tradelake.write_lock`)."""
        return WriteLock(
            self.settings.home / LOCK_FILE,
            timeout_s=self.settings.lock_timeout,
            notify=self.notify,
        )

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock; within it, staging links to the generation the store publishes
        (a replay killed after publishing but before re-linking ``staging`` is finished here:
        the published catalog is the one switch). With staging on an object store, the working
        copy is pulled from it first and what the command staged is pushed to it last
        (:mod:`tradelake.staging.mirror`)."""
        with self.write_lock.held():
            replay_job.follow_published_staging(self.settings.staging_dir, self.features)
            mirror = self.staging_mirror
            if mirror is not None:
                mirror.pull()
            yield
            if mirror is not None:  # only a command that finished: see staging.mirror
                mirror.push(before_markers=partial(crash_point, "mirror_before_markers"))

    @cached_property
    def features(self) -> FeatureStore:
        return FeatureStore(self.settings.features_path, self.staging, self.instruments)

    @cached_property
    def ops(self) -> Observer:
        """Lineage (``[lineage]``) and data-quality alerts (``[quality_alerts]``) of this home."""
        from tradelake.ops.quality_alerts import open_quality_alerts

        return Observer(
            LineageEmitter(lineage_config(self.settings.home, self.settings.raw)),
            open_quality_alerts(self.settings),
        )

    @property
    def ingest_env(self) -> ingest_job.IngestEnv:
        return ingest_job.IngestEnv(
            self.landing,
            self.staging,
            self.instruments,
            chart_model=self.chart_model,
            ops=self.ops,
        )

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        tz: str | None = None,
        progress: Progress | None = None,
        stages: ingest_job.Stages | None = None,
    ) -> IngestReport:
        """Land, parse, validate and stage each file, then refresh the feature store once.

        ATAS times are read in ``tz``, else ``[sources.atas] timezone``, else UTC with a
        warning on each file parsed (:attr:`FileResult.warnings`). ``progress`` is called as
        each file is done, ``stages`` as one enters a step (``reading``, ``parsing``,
        ``staging``, then ``refreshing the feature store`` and ``writing staged files`` after
        the last).

        Under the data home's write lock (:meth:`writing`): a second writer waits for this one,
        then stages against what this one staged and refreshes after it.

        Partition files are written behind (:meth:`StagingWriter.writing_behind`): the refresh
        computes from the staged rows in memory while the last file's partitions are written.
        A file whose partitions could not be written, or whose rows break a table contract, is
        reported as an error (it has no processed marker, so the next ingest of it starts
        again).
        """
        configured = self.settings.atas_timezone_configured
        timezone = validate_timezone(tz, "--tz") if tz else self.settings.atas_timezone
        self.sweep_temp_files()
        files = ingest_job.expand_paths(paths)
        with self.writing():
            ingest = partial(
                ingest_job.ingest_paths,
                self.ingest_env,
                timezone=timezone,
                progress=progress,
                zone_is_fallback=not (tz or configured),
                stages=stages,
            )
            inputs = [datasets.dropped_file(path) for path in files]
            with self.ops.run("ingest", inputs=inputs) as run:
                report = self._ingest(files, ingest, stages, run)
                datasets.record_files(
                    run, self.settings.landing_url, self.settings.staging_url, report.files
                )
            return report

    def _ingest(
        self,
        files: list[Path],
        ingest: Callable[[list[Path]], list[ingest_job.FileResult]],
        stages: ingest_job.Stages | None,
        run: RunHandle,
    ) -> IngestReport:
        # Processed markers are written when this block ends, after the refresh that serves
        # the files has been published (none if it fails: the next ingest stages them again).
        with self.staging.writing_behind():
            results = ingest(files[:-1])
            # The refresh's connection and catalog are prepared while the last file is parsed.
            with self.features.connecting_ahead():
                results += ingest(files[-1:])
                # Always refresh: it is incremental (a no-op when staging is unchanged), and it
                # repairs a store left behind by a crash between staging and refresh even when
                # every file is a duplicate now.
                crash_point("before_refresh")
                if stages:
                    stages(ingest_job.REFRESH_STAGE, 0.0)
                refresh = self._refresh(parent=run)
            if stages:
                stages(ingest_job.FLUSH_STAGE, 0.0)
            failures = self.staging.flush()
        for result in results:
            if result.landing_id in failures and result.status == "ingested":
                result.status = "error"
                result.error = (
                    f"{result.path}: staging failed ({failures[result.landing_id]}); "
                    "fix the cause and ingest it again"
                )
        return IngestReport(results, refresh)

    def ingest_input(self, *, progress: Progress | None = None) -> IngestReport:
        """Ingest everything in the input folder (``[sources.atas] input_dir``): what a
        scheduler runs. Files ingested before are reported ``duplicate`` and change nothing."""
        self.settings.input_dir.mkdir(parents=True, exist_ok=True)
        return self.ingest([self.settings.input_dir], progress=progress)

    def watch(
        self,
        *,
        on_result: Callable[[ingest_job.FileResult], None],
        report: Progress,
        should_stop: Callable[[], bool],
        tz: str | None = None,
        settle_s: float | None = None,
    ) -> None:
        """Watch the input folder and :meth:`ingest` each batch of complete files until
        ``should_stop()`` (what ``tradelake watch`` runs).

        Each batch goes through :meth:`ingest`, so it gets the same write lock, lineage run,
        refresh and warnings (an ATAS file read in the fallback time zone) as ``tradelake
        ingest``. ``on_result`` hears every file's outcome; ``report`` gets one line per
        problem a person must act on (a file that never completes, a batch that failed; see
        :mod:`tradelake.jobs.watch` for what is retried).
        """
        from tradelake.jobs.watch import watch as watch_folder

        if tz:
            validate_timezone(tz, "--tz")  # a bad zone stops here, not once per batch
        folder = self.settings.input_dir
        folder.mkdir(parents=True, exist_ok=True)
        self.sweep_temp_files()

        def handle(batch: list[Path]) -> None:
            for result in self.ingest(batch, tz=tz).files:
                on_result(result)

        timing = self.watch_timing(settle_s)
        watch_folder(folder, handle, timing=timing, report=report, should_stop=should_stop)

    def watch_timing(self, settle_s: float | None = None) -> WatchTiming:
        """``[watch]`` of the configuration (``settle_s`` overrides its ``settle_s``)."""
        from tradelake.jobs.watch import WatchTiming

        settings = self.settings
        return WatchTiming(
            settle_s=settings.watch_seconds("settle_s") if settle_s is None else settle_s,
            give_up_s=settings.watch_seconds("give_up_s"),
            retry_s=settings.watch_seconds("retry_s"),
        )

    def demo(
        self,
        *,
        fills: int,
        progress: Progress | None = None,
        stages: ingest_job.Stages | None = None,
    ) -> DemoStory:
        """Generate the demo's ATAS exports into the input folder, :meth:`ingest` them and
        read back what the feature store serves (``tradelake demo``).

        Deterministic: a second run writes the same files, which are all duplicates. A home
        without ``tradelake.toml`` gets one whose ATAS zone is the demo's. ``progress`` hears
        :data:`tradelake.jobs.demo.DEMO_STEPS` items (each export written, then each file
        ingested); ``stages`` the step one is in.
        """
        from tradelake.jobs import demo as demo_job
        from tradelake.jobs.demo_story import collect_story

        demo_job.configure_home(self.settings.home)
        paths = demo_job.write_demo_files(
            self.settings.input_dir, fills=fills, progress=progress, stages=stages
        )
        report = self.ingest(paths, tz=demo_job.DEMO_TIMEZONE, progress=progress, stages=stages)
        return collect_story(self, [result.to_dict() for result in report.files])

    def feeds(self) -> list[FeedConfig]:
        """The ``[[feeds]]`` of the configuration, checked."""
        from tradelake.jobs.feeds import load_feeds

        return load_feeds(self.settings)

    def pull(self, names: Sequence[str] = ()) -> list[PullResult]:
        """Pull the named feeds (all when empty) once, then refresh if any staged rows.

        One feed's failure never stops the others: each result says how its pull went.
        """
        from tradelake.jobs.feed_state import FeedStateStore
        from tradelake.jobs.feeds import select_feeds
        from tradelake.jobs.pull import pull_all

        feeds = select_feeds(self.feeds(), names)
        results = pull_all(self.ingest_env, feeds, FeedStateStore(self.settings.state_dir))
        if any(result.rows for result in results):
            self.refresh()
        return results

    def scheduled_jobs(self) -> list[JobConfig]:
        """The ``[[jobs]]`` of the configuration (model training on a cron), checked."""
        from tradelake.jobs.scheduled import parse_jobs

        return parse_jobs(self.settings.raw.get("jobs", []) or [])

    def feed_states(self) -> list[tuple[FeedConfig, FeedState]]:
        """Each configured feed with its saved state (last run, errors, rows, next run)."""
        from tradelake.jobs.feed_state import FeedStateStore

        states = FeedStateStore(self.settings.state_dir)
        return [(feed, states.load(feed.name)) for feed in self.feeds()]

    def feed_scheduler(self, report: Progress) -> FeedScheduler:
        """Every feed and ``[[jobs]]`` entry on its cron schedule plus the ``input/`` watcher,
        under this home's write lock and refresh: what ``tradelake run`` (and a service
        manager) runs until stopped. ``report`` gets one line per event."""
        from tradelake.jobs.feed_state import FeedStateStore
        from tradelake.jobs.scheduler import FeedScheduler, WatchConfig

        settings = self.settings
        settings.input_dir.mkdir(parents=True, exist_ok=True)
        return FeedScheduler(
            self.ingest_env,
            self.feeds(),
            FeedStateStore(settings.state_dir),
            refresh=self.refresh,
            writing=self.writing,
            # The watcher's batches take the same path as `tradelake ingest` and `watch`.
            watch=WatchConfig(
                settings.input_dir, lambda batch: self.ingest(batch).files, self.watch_timing()
            ),
            report=report,
            refresh_retry_s=settings.watch_seconds("retry_s"),
            jobs=self.scheduled_jobs(),
            run_job=self.run_job,
        )

    def refresh(self) -> RefreshResult:
        with self.writing():
            return self._refresh()

    def _refresh(self, parent: RunHandle | None = None) -> RefreshResult:
        """Refresh the feature store as one lineage run (staged tables in, feature tables
        out), then check the reconciliation for new mismatches (``[quality_alerts]``)."""
        with self.ops.run("refresh", parent=parent) as run:
            result = self.features.refresh()
            run.reads(datasets.staging_tables(self.settings.staging_url, result.tables_changed))
            run.writes(datasets.feature_tables(self.settings.features_path, result.rebuilt))
        quality = self.ops.quality
        if quality is not None and "journal_reconciliation" in result.rebuilt:
            quality.check_reconciliation(self.reconciliation(differences_only=True))
        return result

    def replay(
        self, *, progress: Progress | None = None, verified: Verification | None = None
    ) -> replay_job.ReplayResult:
        with self.writing():
            inputs = [datasets.landing_zone(self.settings.landing_url)]
            with self.ops.run("replay", inputs=inputs) as run:
                result = replay_job.replay(
                    self.ingest_env,
                    self.features,
                    self.settings.staging_dir,
                    progress=progress,
                    verified=verified,
                )
                if self.staging_mirror is not None:  # the bucket becomes the new generation
                    self.staging_mirror.push(exact=True)
                datasets.record_files(
                    run, self.settings.landing_url, self.settings.staging_url, result.results
                )
            return result

    def sweep_temp_files(self) -> list[str]:
        """Remove temp files that writers killed mid-write left in landing, staging, the
        feature tables and state (once per platform: ingest, replay and watch call it first)."""
        if self._swept:
            return []
        self._swept = True
        roots = [self.staging.root, self.features.tables_dir, self.settings.state_dir]
        removed = self.landing.backend.sweep_temp_files()
        removed += [str(path) for path in atomic_files.sweep_temp_files(roots)]
        if removed:
            logger.info("removed %d temp files left by killed writers", len(removed))
        return removed

    def verify_landing(self, *, deep: bool = False) -> Verification:
        """Check the landing zone without changing anything (what replay checks first)."""
        return verify_landing(self.landing, deep=deep)

    def seal_landing(self) -> Verification:
        """Record digests for rows landed before digests; refused if anything else is wrong."""
        return seal_landing(self.landing)

    def daily_pnl(
        self,
        *,
        account: str | None = None,
        instrument: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        unit: risk_math.Unit = "money",
    ) -> pl.DataFrame:
        """Daily P&L by session date, account and contract, oldest first; ``unit="r"`` adds
        ``risk``, ``risk_basis``, ``gross_r`` and ``net_r`` (:mod:`tradelake.analytics.risk`).

        An ``account`` or ``instrument`` (contract, ``MESZ5``) the data never had raises
        :class:`QueryOptionError` listing the ones it has; one that exists but has no rows in
        the dates asked for gives an empty frame.
        """
        self.check_known(account=account, instrument=instrument)
        clauses, params = _filters(
            {"account": account, "instrument": instrument}, date_from, date_to
        )
        daily = self.features.query(
            "SELECT session_date, account, instrument, gross_pnl, commission, net_pnl, fills, "
            f"round_trips FROM daily_pnl {clauses} ORDER BY session_date, account, instrument",
            params,
        )
        return self._in_unit(daily, "instrument", unit)

    def risk_units(self) -> pl.DataFrame:
        """Money per 1R for every account and root: ``[desk] risk_per_trade``, else the
        account's average loss on that root (:mod:`tradelake.analytics.risk`)."""
        trips = self.features.query("SELECT account, root, net_pnl FROM round_trips")
        settings = risk_math.risk_settings(self.settings.raw.get("desk", {}) or {})
        return risk_math.risk_table(trips, settings)

    def _in_unit(self, frame: pl.DataFrame, contract: str, unit: risk_math.Unit) -> pl.DataFrame:
        """``frame`` as it is (money), or with its P&L also in R (``contract`` names the
        column holding the contract, whose root picks the risk)."""
        if unit == "money":
            return frame
        roots = self.features.query(f"SELECT DISTINCT symbol AS {contract}, root FROM trades")
        with_root = frame.join(roots, on=contract, how="left", maintain_order="left")
        return risk_math.in_r(with_root, self.risk_units()).drop("root")

    def pnl_totals(
        self,
        by: str,
        *,
        account: str | None = None,
        instrument: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> pl.DataFrame:
        """Daily P&L summed by ``by`` (day, week, month, account or instrument) with a
        ``total`` row per currency (:mod:`tradelake.analytics.totals`); filters as
        :meth:`daily_pnl`."""
        if by not in totals_math.GROUPINGS:
            raise QueryOptionError(
                f"--by {by!r} is not a grouping; use one of {', '.join(totals_math.GROUPINGS)}."
            )
        daily = self.daily_pnl(
            account=account, instrument=instrument, date_from=date_from, date_to=date_to
        )
        roots = self.features.query("SELECT DISTINCT symbol AS instrument, root FROM trades")
        with_root = daily.join(roots, on="instrument", how="left")
        return totals_math.pnl_totals(with_root, by, self.instruments)

    def round_trips(
        self,
        *,
        account: str | None = None,
        symbol: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 1000,
        unit: risk_math.Unit = "money",
    ) -> pl.DataFrame:
        """Round trips (flat to flat) newest first: the journal's trade list (``unit="r"``:
        also in R, as :meth:`daily_pnl`)."""
        clauses, params = _filters({"account": account, "symbol": symbol}, date_from, date_to)
        trips = self.features.query(
            "SELECT round_trip_id, account, symbol, direction, open_ts, close_ts, session_date, "
            "qty, entry_price, exit_price, gross_pnl, commission, net_pnl, fills, duration_s, "
            f"currency FROM round_trips {clauses} ORDER BY close_ts DESC, round_trip_id LIMIT ?",
            [*params, limit],
        )
        return self._in_unit(trips, "symbol", unit)

    def feed_status(self) -> list[dict[str, Any]]:
        """Each ``[[feeds]]`` entry's last run, success, error and lag, and for news feeds the
        publication → scoring freshness per story (``tradelake status``, the desk's Data page)."""
        from tradelake.jobs.feed_state import utc_now
        from tradelake.jobs.feed_status import add_freshness, status_row

        now = utc_now()
        pairs = self.feed_states()
        rows = [status_row(feed, state, now) for feed, state in pairs]
        add_freshness(rows, [feed for feed, _ in pairs], self.news_freshness())
        return rows

    def positions(
        self,
        *,
        account: str | None = None,
        instrument: str | None = None,
        as_of: datetime | None = None,
    ) -> pl.DataFrame:
        """Open positions per account and contract: signed qty, FIFO average price, open P&L
        at the contract's last fill price (``mark_price`` at ``mark_ts``) and the time held
        up to ``as_of`` (default now); see :mod:`tradelake.analytics.positions`."""
        self.check_known(account=account, instrument=instrument)
        clauses, params = _filters({"account": account, "symbol": instrument})
        open_rows = self.features.query(
            "SELECT account, symbol, root, qty, avg_price, opened_ts FROM open_positions "
            f"{clauses}",
            params,
        )
        fills = self.features.query(
            "SELECT symbol, trade_id, timestamp, qty, price FROM trades "
            "WHERE symbol IN (SELECT symbol FROM open_positions)"
        )
        return positions_math.mark_positions(
            open_rows,
            positions_math.last_fills(fills),
            self.instruments,
            as_of or datetime.now(UTC),
        )

    def check_known(self, *, account: str | None = None, instrument: str | None = None) -> None:
        """Raise :class:`QueryOptionError` when ``account`` or ``instrument`` (a contract) has
        no fill at all, naming the ones that do: a typo must not read as an empty book."""
        for option, column, value in (("--account", "account", account),
                                      ("--instrument", "symbol", instrument)):  # fmt: skip
            if value is None:
                continue
            known = self.features.query(f"SELECT DISTINCT {column} FROM trades ORDER BY 1")
            names = known[column].to_list()
            if value not in names:
                raise QueryOptionError(
                    f"{option} {value!r}: no fill has it; the data has "
                    f"{', '.join(map(str, names)) or 'no fills yet (run tradelake ingest)'}."
                )

    def statistics(self, dimension: str = "all") -> pl.DataFrame:
        """Journal statistics overall (``all``) or by account, instrument, weekday or hour, in
        reading order (hours numerically, weekdays by name from Monday)."""
        if dimension not in stats_math.DIMENSIONS:
            raise QueryOptionError(
                f"--by {dimension!r} is not a grouping; use one of "
                f"{', '.join(stats_math.DIMENSIONS)}."
            )
        frame = self.features.query(
            "SELECT * EXCLUDE (dimension) FROM journal_stats WHERE dimension = ?", [dimension]
        )
        return stats_math.in_reading_order(frame, dimension)

    def reconciliation(self, *, differences_only: bool = True) -> pl.DataFrame:
        """Our round trips against the ATAS Journal sheet."""
        where = "WHERE status <> 'matched'" if differences_only else ""
        return self.features.query(f"SELECT * FROM journal_reconciliation {where}")

    def data_quality(self, *, rejected_only: bool = False, last: int = 20) -> pl.DataFrame:
        """The newest data-quality results (one row per ingested object and table)."""
        if not self.features.has("data_quality"):
            raise FeatureStoreError(
                "this store has no data-quality results yet (it was built before they were "
                "recorded): run `tradelake replay` to record them for the files already ingested"
            )
        where = "WHERE quarantined > 0" if rejected_only else ""
        return self.features.query(
            "SELECT ingest_ts, original_name, source, table_name, rows_in, passed, staged, "
            f"unchanged, quarantined, quarantined_by_rule FROM data_quality {where} "
            "ORDER BY ingest_ts DESC, original_name, table_name LIMIT ?",
            [last],
        )

    def sql(self, query: str) -> pl.DataFrame:
        """An analyst's query: one read-only statement in the sandbox (features/analyst.py)."""
        from tradelake.features.analyst import analyst_query

        return analyst_query(self.features, query)

    def sql_page(self, query: str, *, limit: int) -> tuple[pl.DataFrame, int]:
        """The first ``limit`` rows of an analyst's query and its full row count."""
        from tradelake.features.analyst import analyst_page

        return analyst_page(self.features, query, limit=limit)

    # -- chart vision (issue 4) -------------------------------------------------------------

    def chart_classifier(self) -> ChartClassifier:
        """The ``[vision] model`` classifier, loaded once per process (shared with ingest)."""
        return screens.classifier(self.chart_model)

    def classify_images(self, paths: Sequence[Path]) -> list[vision_job.ImageResult]:
        """Signal and calibrated probabilities per screenshot; folders are walked."""
        from tradelake.jobs import vision as vision_job

        return vision_job.classify_paths(self.chart_classifier(), paths)

    def evaluate_images(
        self,
        folder: Path,
        labels_csv: Path | None = None,
        progress: Progress | None = None,
    ) -> vision_eval_job.FolderEvaluation:
        """Per-class P/R/F1, macro-F1, confusion matrix and ECE on a labelled folder."""
        from tradelake.jobs import vision_evaluate as vision_eval_job

        return vision_eval_job.evaluate_folder(
            self.chart_classifier(), folder, labels_csv, progress
        )

    def similar_setups(self, image: Path, *, k: int = 5) -> vision_job.SimilarResult:
        """The ``k`` stored frames (``img_signals``) most similar to ``image``."""
        from tradelake.jobs import vision as vision_job

        return vision_job.similar_setups(self.chart_classifier(), self.features, image, k)

    def train_vision(
        self,
        *,
        epochs: int,
        n_train: int,
        seed: int = 0,
        time_budget: float | None = None,
        progress: Progress | None = None,
    ) -> vision_job.TrainReport:
        """Train, evaluate, log to MLflow, register; promote only if it beats the champion."""
        from tradelake.jobs import vision as vision_job

        charts = Dataset("tradelake://synthetic-charts", f"seed={seed}/n={n_train}")
        with self.ops.run("train.vision", inputs=[charts]) as run:
            report = vision_job.train_and_publish(
                home=self.settings.home,
                tracking_uri=self.settings.mlflow_tracking_uri,
                epochs=epochs,
                n_train=n_train,
                seed=seed,
                time_budget=time_budget,
                progress=progress,
            )
            run.writes([datasets.model(report.tracking_uri, "chart_cnn", report.version)])
        return report

    # -- real-time stream (issue 9) ---------------------------------------------------------

    @cached_property
    def stream_settings(self) -> StreamSettings:
        """``[stream]``, ``[[alerts]]`` and ``[[sinks]]``, checked."""
        return stream_settings(self.settings)

    def stream_runtime(
        self, roles: Sequence[str] | None = None, *, queue: Queue | None = None
    ) -> StreamRuntime:
        """The stream roles of this process (all of them by default), not started yet."""
        from tradelake.stream.runtime import ROLES, StreamRuntime

        roles = roles or ROLES
        return StreamRuntime(
            self.ingest_env,
            self.stream_settings,
            state_dir=self.settings.state_dir,
            model=self.settings.vision_model,
            tracking_uri=self.settings.mlflow_tracking_uri,
            roles=roles,
            queue=queue,
            refresh=self.refresh,  # under the write lock, like every writer
            # The viewer-facing role answers POST /api/score (given the models extra).
            scorer=self._optional_scorer() if "alerts" in roles else None,
        )

    def publish(
        self, *, to: str | None = None, tables: Sequence[str] = (), full: bool = False
    ) -> PublishReport:
        """Copy the feature tables (and the alerts) to the analytics database: ``to``, else
        ``[publish]``. Only new and changed rows are written; a re-run changes nothing."""
        from tradelake import publish

        settings = publish.publish_settings(self.settings.raw, to)
        chosen = publish.select_tables(list(tables))
        sources = [t.name for t in chosen if t.name != "alerts"]
        inputs = datasets.feature_tables(self.settings.features_path, sources)
        if any(t.name == "alerts" for t in chosen):
            inputs += datasets.alerts(self.settings.state_dir / "alerts.sqlite")[:1]
        with self.ops.run("publish", inputs=inputs) as run:
            frames = [(table, self._published_rows(table.name)) for table in chosen]
            report = publish.destination(settings).publish(frames, full=full)
            target = settings.shown_url.split("?")[0]
            run.writes(Dataset(target, f"{report.schema}.{t.table}") for t in report.tables)
        return report

    def _published_rows(self, name: str) -> pl.DataFrame | None:
        if name == "alerts":
            from tradelake.publish.tables import alerts_frame

            alerts = self.alerts(limit=ALL_ALERTS)
            return alerts_frame(alerts) if alerts else None
        return self.features.table(name) if self.features.has(name) else None

    def _optional_scorer(self) -> SignalScorer | None:
        try:
            return self.signal_scorer()
        except ImportError as exc:
            logger.warning(
                "POST /api/score is off: the models extra is missing (%s); "
                "pip install 'tradelake[models]'",
                exc.name,
            )
            return None

    def alerts(self, since: datetime | None = None, *, limit: int = 1000) -> list[Alert]:
        """Stored alerts sent at or after ``since``, oldest first."""
        from tradelake.stream import lineage

        return lineage.stored_alerts(self.settings.state_dir, since, limit)

    def alert_frame(self, alert_id: str) -> tuple[bytes, str]:
        """The screen frame an alert fired on, and its content type."""
        from tradelake.stream import lineage

        return lineage.alert_frame(self.settings.state_dir, self.landing, alert_id)

    # -- operations (issue 14) ---------------------------------------------------------------

    def lineage_of(self, query: str, *, depth: int = 6, limit: int = 5) -> dict[str, Any]:
        """Upstream and downstream of a table, dataset or run, from the lineage events."""
        from tradelake.ops.lineage import read_events
        from tradelake.ops.lineage_graph import lineage_of

        events = read_events(self.ops_lineage_file)
        return lineage_of(events, query, depth=depth, limit=limit)

    def lineage_runs(self, last: int = 20) -> list[dict[str, Any]]:
        """The newest runs in the lineage events, newest first."""
        from tradelake.ops.lineage import read_events
        from tradelake.ops.lineage_graph import recent_runs

        return recent_runs(read_events(self.ops_lineage_file), last)

    @property
    def ops_lineage_file(self) -> Path:
        """``<home>/lineage/events.jsonl``: every run event of this data home."""
        return self.settings.home / EVENTS_FILE

    def alert_chain(self, alert_id: str) -> lineage.AlertChain:
        """Alert → signal (``img_signals``) → frame → landed image, each checked."""
        from tradelake.stream import lineage

        return lineage.alert_chain(self.settings.state_dir, self.landing, self.staging, alert_id)

    # -- signal ensemble (issue 13) ---------------------------------------------------------
    # One method per job, so the CLI, the built-in scheduler ([[jobs]]) and Airflow run the same.

    @cached_property
    def ensemble_settings(self) -> EnsembleSettings:
        """``[[screens]]`` and ``[ensemble]``, checked."""
        from tradelake.ml.ensemble_settings import ensemble_settings

        return ensemble_settings(self.settings)

    def entry_features(self) -> pl.DataFrame:
        """Every round trip's point-in-time feature row (features/entry_features.py)."""
        from tradelake.jobs.signal import entry_rows

        return entry_rows(self.features, self.instruments, self.ensemble_settings)

    def train_signal(self, *, seed: int = 0) -> SignalTrainReport:
        """Walk-forward evaluate, fit, log to MLflow, register; promote only if it beats the
        champion (the hourly job)."""
        from tradelake.jobs.signal import train_and_publish_signal

        return train_and_publish_signal(
            self.features,
            self.instruments,
            self.ensemble_settings,
            home=self.settings.home,
            tracking_uri=self.settings.mlflow_tracking_uri,
            seed=seed,
        )

    def models(self, name: str | None = None) -> list[VersionInfo]:
        """Registered model versions (every model, or ``name``), newest first per model."""
        from tradelake.ml.model_registry import list_versions

        return list_versions(self.settings.mlflow_tracking_uri, [name] if name else None)

    def score_signal(
        self, ids: Sequence[str] = (), *, last: int | None = None, version: str | None = None
    ) -> pl.DataFrame:
        """Score round trips (by id, else the ``last`` entries) with the champion or a version."""
        from tradelake.jobs.signal import score_round_trips

        chosen, model = self._signal_model(version)
        return score_round_trips(self.entry_features(), model, chosen, ids=ids, last=last)

    def _signal_model(self, version: str | None) -> tuple[str, SignalModel]:
        """A signal_ensemble version (None: the champion), loaded; ModelError if none."""
        from tradelake.errors import ModelError
        from tradelake.ml.model_registry import CHAMPION, alias_version
        from tradelake.ml.signal_registry import MODEL_NAME, load_signal_model

        uri = self.settings.mlflow_tracking_uri
        chosen = version or alias_version(uri, MODEL_NAME, CHAMPION)
        if chosen is None:
            raise ModelError(
                f"no {MODEL_NAME}@{CHAMPION} yet; train one with `tradelake model train signal`"
            )
        return chosen, load_signal_model(f"models:/{MODEL_NAME}/{chosen}", tracking_uri=uri)

    def run_job(self, job: str) -> object:
        """Run one ``[[jobs]]`` job by name (:data:`tradelake.jobs.scheduled.JOBS`)."""
        from tradelake.jobs.scheduled import JOBS

        method: Callable[[], object] = getattr(self, JOBS[job])
        return method()

    def signal_scorer(self) -> SignalScorer:
        """The champion of the signal ensemble for ``POST /api/score``, hot-swapped."""
        from tradelake.ml.signal_serving import SignalScorer

        return SignalScorer(self.settings.mlflow_tracking_uri, poll_s=self.ensemble_settings.poll_s)

    # -- news sentiment and model drift (issue 13) -----------------------------------------

    def train_sentiment(
        self,
        data: Path,
        *,
        out_dir: Path | None = None,
        model: str = "tfns_minilm",
        folds: int = 5,
        seed: int = 0,
        publish: bool = True,
        progress: Progress | None = None,
    ) -> dict[str, object]:
        """Train sentiment model kind ``model`` on ``data``, write artefact + card (default
        ``<home>/models/sentiment``), log and register it in MLflow (``news_sentiment``)."""
        from tradelake.ml.train_sentiment import TrainConfig, train

        out = out_dir or self.settings.home / "models" / "sentiment"
        cfg = TrainConfig(model=model, folds=folds, seed=seed)
        report = train(data, out, cfg, progress=progress)
        result: dict[str, object] = report.to_dict()
        if publish:
            from tradelake.ml.sentiment_registry import publish_sentiment

            published = publish_sentiment(
                report, tracking_uri=self.settings.mlflow_tracking_uri, home=self.settings.home
            )
            result["mlflow"] = {
                "run_id": published.run_id,
                "version": published.version,
                "promoted": published.promoted,
                "champion_version": published.champion_version,
            }
        return result

    def rescore_news(self, model: str, *, since: datetime | None = None) -> RescoreResult:
        """Score stored stories with ``model``; each changed story gets a new version."""
        from tradelake.jobs import sentiment as sentiment_job

        with self.writing():
            result = sentiment_job.rescore(self.ingest_env, self.features, model, since=since)
            if result.versions:
                self.features.refresh()
            return result

    def news_freshness(self, *, days: float = 7.0) -> dict[str, dict[str, float | int | None]]:
        """Per feed: publication → first scoring p50 / p99 / max seconds over ``days``."""
        from tradelake.jobs import sentiment as sentiment_job

        return sentiment_job.freshness(self.features, days=days)

    def drift(
        self, models: Sequence[str] | None = None, *, days: float | None = None
    ) -> list[DriftReport]:
        """PSI / KS of each model's training window against the last ``days`` (``[drift]
        days``, default 7); rows go to ``model_drift``, breaches to the ``[drift] sinks``."""
        from tradelake.jobs import drift as drift_job

        raw = dict(self.settings.raw.get("drift", {}))
        names = list(models or raw.get("models") or drift_job.known_models(self.settings.state_dir))
        sinks = drift_job.drift_sinks(self.stream_settings.sinks, raw.get("sinks"))
        with self.writing():
            reports = drift_job.run_checks(
                self.ingest_env,
                self.features,
                self.settings.state_dir,
                names,
                sinks=sinks,
                days=float(days if days is not None else raw.get("days", 7.0)),
                thresholds=drift_job.thresholds_from(raw),
                tracking_uri=self.settings.mlflow_tracking_uri,
            )
            self.features.refresh()
        return reports

    # -- the desk's pages (issue 15) --------------------------------------------------------

    def classify_image(self, data: bytes, name: str) -> vision_job.ImageResult:
        """One screenshot given as bytes (the Setups page's upload), as ``vision classify``
        classifies a file; nothing is landed or stored."""
        from tradelake.jobs import vision as vision_job

        return vision_job.classify_bytes(self.chart_classifier(), data, name)

    def similar_to(self, data: bytes, name: str, *, k: int = 5) -> vision_job.SimilarResult:
        """:meth:`similar_setups` of an image given as bytes; nothing is landed or stored."""
        from tradelake.jobs import vision as vision_job

        return vision_job.similar_to(self.chart_classifier(), self.features, data, name, k)

    def setup_outcomes(self, frames: Sequence[tuple[str, datetime]]) -> list[Outcome]:
        """What the desk traded after each ``(device, capture ts)`` frame
        (:mod:`tradelake.features.setup_outcomes`)."""
        from tradelake.features.setup_outcomes import setup_outcomes

        return setup_outcomes(self.features, frames, self.ensemble_settings.devices)

    def frame_image(self, frame_id: str) -> bytes:
        """The landed screenshot of a stored frame (``img_signals``): only frames, never an
        arbitrary landing object."""
        found = self.features.query(
            "SELECT landing_id FROM img_signals WHERE frame_id = ? LIMIT 1", [frame_id]
        )
        if found.is_empty():
            raise FeatureStoreError(f"no frame {frame_id!r} in img_signals")
        return self.landing.get(found["landing_id"][0])

    def entry_view(self, round_trip_id: str) -> tuple[EntryView, dict[str, Any]]:
        """A round trip as the desk saw it at entry (:mod:`tradelake.features.entry_view`)
        and the signal ensemble champion's score of it (``model_version`` None and a
        ``note`` when there is no champion)."""
        from tradelake.errors import ModelError
        from tradelake.features.entry_view import entry_view
        from tradelake.ml.signal_ensemble import THRESHOLD

        view = entry_view(self.features, self.instruments, self.ensemble_settings, round_trip_id)
        try:
            version, model = self._signal_model(None)
        except (ModelError, ImportError) as exc:
            return view, {"model_version": None, "prob": None, "take": None, "note": str(exc)}
        prob = float(model.predict(view.feature_rows)[0])
        return view, {
            "model_version": version,
            "prob": prob,
            "take": prob >= THRESHOLD,
            "note": f"signal_ensemble version {version} (champion)",
        }

    def model_champions(self) -> list[Champion]:
        """The champion of each desk model with its metrics (:mod:`tradelake.ml.champions`)."""
        from tradelake.ml.champions import champions

        return champions(self.models(), self._shipped_models())

    def _shipped_models(self) -> dict[str, Shipped]:
        """The packaged models a desk runs until one is trained: the chart CNN (when ``[vision]
        model`` is not set and torch is installed) and the default sentiment model."""
        from tradelake.ml.champions import Shipped, heldout_metrics
        from tradelake.ml.sentiment import sentiment_model

        shipped: dict[str, Shipped] = {}
        if self.settings.vision_model is None:
            try:
                clf = self.chart_classifier()
            except ImportError:
                pass  # no vision extra: no chart model to report
            else:
                shipped["chart_cnn"] = Shipped(clf.model_version, heldout_metrics(clf.metrics))
        sentiment = sentiment_model()
        meta = getattr(sentiment, "meta", {}) or {}
        shipped["news_sentiment"] = Shipped(
            sentiment.model_id, heldout_metrics(meta.get("metrics") or {})
        )
        return shipped

    def model_drift(self) -> pl.DataFrame:
        """Each model's latest drift check (``model_drift``, written by ``tradelake drift``):
        one row per feature and one for ``prediction``."""
        return self.features.query(
            "SELECT model, model_version, checked_ts, feature, psi, ks_stat, ks_pvalue, "
            "train_n, recent_n, train_mean, recent_mean, breach, window_start, window_end, "
            "run_id FROM model_drift WHERE run_id IN (SELECT arg_max(run_id, checked_ts) "
            "FROM model_drift GROUP BY model) ORDER BY model, feature = 'prediction' DESC, "
            "feature"
        )


def _filters(
    equal: dict[str, str | None], date_from: date | None = None, date_to: date | None = None
) -> tuple[str, list[object]]:
    """A WHERE clause (and its parameters) for columns equal to the values given (None: any)
    and a session-date range."""
    conditions: list[str] = []
    params: list[object] = []
    for column, value in equal.items():
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if date_from:
        conditions.append("session_date >= ?")
        params.append(date_from)
    if date_to:
        conditions.append("session_date <= ?")
        params.append(date_to)
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), params
