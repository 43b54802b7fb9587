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
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tradelake import atomic_files
from tradelake.config import Settings, load_settings, validate_timezone
from tradelake.errors import FeatureStoreError
from tradelake.features import FeatureStore, RefreshResult
from tradelake.features.analyst import analyst_page, analyst_query
from tradelake.instruments import InstrumentTable
from tradelake.jobs import ingest as ingest_job
from tradelake.jobs import replay as replay_job
from tradelake.jobs import vision as vision_job
from tradelake.jobs import vision_evaluate as vision_eval_job
from tradelake.jobs.faults import crash_point
from tradelake.landing import LandingStore
from tradelake.landing.verify import Verification, seal_landing, verify_landing
from tradelake.sources import screens
from tradelake.staging import StagingWriter
from tradelake.stream import lineage
from tradelake.stream.settings import StreamSettings, stream_settings
from tradelake.write_lock import LOCK_FILE, WriteLock

if TYPE_CHECKING:
    from tradelake.jobs.feeds import FeedConfig
    from tradelake.jobs.pull import PullResult
    from tradelake.ml.vision import ChartClassifier
    from tradelake.publish import PublishReport
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
        # Screenshots ingested in this process are scored by the configured [vision] model.
        screens.use_model(settings.vision_model, settings.mlflow_tracking_uri)
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
        return StagingWriter(self.settings.staging_url)

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
        the published catalog is the one switch)."""
        with self.write_lock.held():
            replay_job.follow_published_staging(Path(self.settings.staging_url), self.features)
            yield

    @cached_property
    def features(self) -> FeatureStore:
        return FeatureStore(self.settings.features_path, self.staging, self.instruments)

    @property
    def ingest_env(self) -> ingest_job.IngestEnv:
        return ingest_job.IngestEnv(self.landing, self.staging, self.instruments)

    def ingest(
        self, paths: Sequence[Path], *, tz: str | None = None, progress: Progress | None = None
    ) -> IngestReport:
        """Land, parse, validate and stage each file, then refresh the feature store once.

        Under the data home's write lock (:meth:`writing`): a second writer waits for this one,
        then stages against what this one staged and refreshes after it.

        Partition files are written behind (:meth:`StagingWriter.writing_behind`): the refresh
        computes from the staged rows in memory while the last file's partitions are written.
        A file whose partitions could not be written, or whose rows break a table contract, is
        reported as an error (it has no processed marker, so the next ingest of it starts
        again).
        """
        timezone = validate_timezone(tz, "--tz") if tz else self.settings.atas_timezone
        self.sweep_temp_files()
        files = ingest_job.expand_paths(paths)
        with self.writing():
            return self._ingest(files, timezone, progress)

    def _ingest(self, files: list[Path], timezone: str, progress: Progress | None) -> IngestReport:
        env = self.ingest_env
        # Processed markers are written when this block ends, after the refresh that serves
        # the files has been published (none if it fails: the next ingest stages them again).
        with self.staging.writing_behind():
            results = ingest_job.ingest_paths(env, files[:-1], timezone=timezone, progress=progress)
            # The refresh's connection and catalog are prepared while the last file is parsed.
            with self.features.connecting_ahead():
                results += ingest_job.ingest_paths(
                    env, files[-1:], timezone=timezone, progress=progress
                )
                # Always refresh: it is incremental (a no-op when staging is unchanged), and it
                # repairs a store left behind by a crash between staging and refresh even when
                # every file is a duplicate now.
                crash_point("before_refresh")
                refresh = self.features.refresh()
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

    def refresh(self) -> RefreshResult:
        with self.writing():
            return self.features.refresh()

    def replay(
        self, *, progress: Progress | None = None, verified: Verification | None = None
    ) -> replay_job.ReplayResult:
        with self.writing():
            return replay_job.replay(
                self.ingest_env,
                self.features,
                Path(self.settings.staging_url),
                progress=progress,
                verified=verified,
            )

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
        date_from: date | None = None,
        date_to: date | None = None,
        instrument: str | None = None,
    ) -> pl.DataFrame:
        """Daily P&L by session date, account and contract, oldest first."""
        clauses, params = _filters(account, date_from, date_to, ("instrument", instrument))
        return self.features.query(
            "SELECT session_date, account, instrument, gross_pnl, commission, net_pnl, fills, "
            f"round_trips FROM daily_pnl {clauses} ORDER BY session_date, account, instrument",
            params,
        )

    def round_trips(
        self,
        *,
        account: str | None = None,
        symbol: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 1000,
    ) -> pl.DataFrame:
        """Round trips (flat to flat) newest first: the journal's trade list."""
        clauses, params = _filters(account, date_from, date_to, ("symbol", symbol))
        return self.features.query(
            "SELECT round_trip_id, account, symbol, direction, open_ts, close_ts, session_date, "
            "qty, entry_price, exit_price, gross_pnl, commission, net_pnl, fills, duration_s, "
            f"currency FROM round_trips {clauses} ORDER BY close_ts DESC, round_trip_id LIMIT ?",
            [*params, limit],
        )

    def feed_status(self) -> list[dict[str, Any]]:
        """Each ``[[feeds]]`` entry's last run, success, error and lag (``tradelake status``)."""
        from tradelake.jobs.feed_state import FeedStateStore, utc_now
        from tradelake.jobs.feed_status import status_row

        states = FeedStateStore(self.settings.state_dir)
        now = utc_now()
        return [status_row(feed, states.load(feed.name), now) for feed in self.feeds()]

    def statistics(self, dimension: str = "all") -> pl.DataFrame:
        """Journal statistics overall (``all``) or by account, instrument, weekday or hour."""
        return self.features.query(
            "SELECT * EXCLUDE (dimension) FROM journal_stats WHERE dimension = ? ORDER BY key",
            [dimension],
        )

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
        return analyst_query(self.features, query)

    def sql_page(self, query: str, *, limit: int) -> tuple[pl.DataFrame, int]:
        """The first ``limit`` rows of an analyst's query and its full row count."""
        return analyst_page(self.features, query, limit=limit)

    # -- chart vision (issue 4) -------------------------------------------------------------

    def chart_classifier(self) -> ChartClassifier:
        """The ``[vision] model`` classifier, loaded once per process (shared with ingest)."""
        return screens.classifier()

    def classify_images(self, paths: Sequence[Path]) -> list[vision_job.ImageResult]:
        """Signal and calibrated probabilities per screenshot; folders are walked."""
        return vision_job.classify_paths(self.chart_classifier(), paths)

    def evaluate_images(
        self,
        folder: Path,
        labels_csv: Path | None = None,
        progress: Progress | None = None,
    ) -> vision_eval_job.FolderEvaluation:
        """Per-class P/R/F1, macro-F1, confusion matrix and ECE on a labelled folder."""
        return vision_eval_job.evaluate_folder(
            self.chart_classifier(), folder, labels_csv, progress
        )

    def similar_setups(self, image: Path, *, k: int = 5) -> vision_job.SimilarResult:
        """The ``k`` stored frames (``img_signals``) most similar to ``image``."""
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
        return vision_job.train_and_publish(
            home=self.settings.home,
            tracking_uri=self.settings.mlflow_tracking_uri,
            epochs=epochs,
            n_train=n_train,
            seed=seed,
            time_budget=time_budget,
            progress=progress,
        )

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

        return StreamRuntime(
            self.ingest_env,
            self.stream_settings,
            state_dir=self.settings.state_dir,
            model=self.settings.vision_model,
            tracking_uri=self.settings.mlflow_tracking_uri,
            roles=roles or ROLES,
            queue=queue,
            refresh=self.refresh,  # under the write lock, like every writer
        )

    def publish(
        self, *, to: str | None = None, tables: Sequence[str] = (), full: bool = False
    ) -> PublishReport:
        """Copy the feature tables (and the alerts) to the analytics database: ``to``, else
        ``[publish]``. Only new and changed rows are written; a re-run changes nothing."""
        from tradelake import publish

        settings = publish.publish_settings(self.settings.raw, to)
        chosen = publish.select_tables(list(tables))
        frames = [(table, self._published_rows(table.name)) for table in chosen]
        return publish.destination(settings).publish(frames, full=full)

    def _published_rows(self, name: str) -> pl.DataFrame | None:
        if name == "alerts":
            from tradelake.publish.tables import alerts_frame

            alerts = self.alerts(limit=ALL_ALERTS)
            return alerts_frame(alerts) if alerts else None
        return self.features.table(name) if self.features.has(name) else None

    def alerts(self, since: datetime | None = None, *, limit: int = 1000) -> list[Alert]:
        """Stored alerts sent at or after ``since``, oldest first."""
        return lineage.stored_alerts(self.settings.state_dir, since, limit)

    def alert_frame(self, alert_id: str) -> tuple[bytes, str]:
        """The screen frame an alert fired on, and its content type."""
        return lineage.alert_frame(self.settings.state_dir, self.landing, alert_id)

    def alert_chain(self, alert_id: str) -> lineage.AlertChain:
        """Alert → signal (``img_signals``) → frame → landed image, each checked."""
        return lineage.alert_chain(self.settings.state_dir, self.landing, self.staging, alert_id)


def _filters(
    account: str | None,
    date_from: date | None,
    date_to: date | None,
    *equal: tuple[str, str | None],
) -> tuple[str, list[object]]:
    """A WHERE clause and its parameters; ``equal`` adds (trusted column, value) pairs."""
    conditions: list[str] = []
    params: list[object] = []
    for column, value in equal:
        if value:
            conditions.append(f"{column} = ?")
            params.append(value)
    if account:
        conditions.append("account = ?")
        params.append(account)
    if date_from:
        conditions.append("session_date >= ?")
        params.append(date_from)
    if date_to:
        conditions.append("session_date <= ?")
        params.append(date_to)
    return ("WHERE " + " AND ".join(conditions) if conditions else ""), params
