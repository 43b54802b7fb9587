"""The DAGs of one data home, built from its configuration when Airflow parses the file.

- ``tradelake_trades_etl``: ingest what is in ``input/`` → refresh → publish (when
  ``[publish]`` names a database), every ``[airflow] trades_schedule`` (5 minutes).
- ``tradelake_feed_<name>``: one per ``[[feeds]]`` entry, on the feed's own cron schedule and
  time zone; one pull task (it refreshes when it staged rows).
- ``tradelake_job_<name>``: one per ``[[jobs]]`` entry (model training), on its cron schedule.
- ``tradelake_nightly``: verify landing → replay (staging and features rebuilt from landing)
  at ``[airflow] nightly_schedule`` (02:00 UTC).

Each task carries ``inlets``/``outlets`` naming the landing zone, staging and the feature
store as Airflow assets, which the OpenLineage provider reports as the run's datasets.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from tradelake.airflow import tasks
from tradelake.airflow.files import NIGHTLY_DAG, TRADES_DAG, feed_dag_id, job_dag_id
from tradelake.jobs.scheduled import JobConfig
from tradelake.platform import Platform

DEFAULT_ARGS: dict[str, Any] = {"retries": 2, "retry_delay": timedelta(minutes=1)}
START = pendulum.datetime(2026, 1, 1, tz="UTC")


def build_dags(home: str) -> dict[str, DAG]:
    """Every DAG of the data home at ``home``, keyed by dag_id (put them in ``globals()``)."""
    platform = Platform.open(home)
    config = dict(platform.settings.raw.get("airflow", {}))
    assets = _Assets(platform)
    dags = [
        trades_etl(home, assets, config, publish="publish" in platform.settings.raw),
        nightly(home, assets, config),
        *(feed_dag(home, assets, feed.name, feed.schedule, feed.schedule_timezone)
          for feed in platform.feeds()),
        *(job_dag(home, assets, job) for job in platform.scheduled_jobs()),
    ]  # fmt: skip
    return {dag.dag_id: dag for dag in dags}


def _dag(dag_id: str, schedule: Any, doc: str, *tags: str) -> DAG:
    """A DAG with the house rules: no catch-up, one run at a time, two retries a minute apart."""
    return DAG(
        dag_id,
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["tradelake", *tags],
        doc_md=doc,
    )


def _cron(schedule: str, timezone: str) -> Any:
    from airflow.timetables.trigger import CronTriggerTimetable

    return CronTriggerTimetable(schedule, timezone=timezone)


def trades_etl(home: str, assets: _Assets, config: dict[str, Any], *, publish: bool) -> DAG:
    with _dag(
        TRADES_DAG,
        str(config.get("trades_schedule", "*/5 * * * *")),
        "Ingest the ATAS exports dropped in input/, refresh the feature store, publish.",
    ) as dag:
        ingest = _task("ingest_input", tasks.ingest_input, home, [assets.input], [assets.landing,
                       assets.staging])  # fmt: skip
        refresh = _task("refresh", tasks.refresh, home, [assets.staging], [assets.features])
        ingest >> refresh
        if publish:
            refresh >> _task("publish", tasks.publish, home, [assets.features], [])
    return dag


def feed_dag(home: str, assets: _Assets, feed: str, schedule: str, timezone: str) -> DAG:
    with _dag(
        feed_dag_id(feed),
        _cron(schedule, timezone),
        f"Pull feed {feed} once: land, stage, refresh.",
        "feed",
    ) as dag:
        _task("pull", tasks.pull, home, [], [assets.landing, assets.staging, assets.features],
              feed)  # fmt: skip
    return dag


def job_dag(home: str, assets: _Assets, job: JobConfig) -> DAG:
    with _dag(
        job_dag_id(job.name),
        _cron(job.schedule, job.schedule_timezone),
        f"Run the {job.job} job ([[jobs]] {job.name}), as `tradelake run` does.",
        "models",
    ) as dag:
        _task("run_job", tasks.run_job, home, [assets.features], [], job.job)
    return dag


def nightly(home: str, assets: _Assets, config: dict[str, Any]) -> DAG:
    with _dag(
        NIGHTLY_DAG,
        str(config.get("nightly_schedule", "0 2 * * *")),
        "Verify the landing zone, then rebuild staging and features from it.",
    ) as dag:
        verify = _task("verify_landing", tasks.verify_landing, home, [assets.landing], [])
        rebuild = _task("replay", tasks.replay, home, [assets.landing], [assets.staging,
                        assets.features])  # fmt: skip
        verify >> rebuild
    return dag


class _Assets:
    """The data home's layers as Airflow assets (OpenLineage datasets)."""

    def __init__(self, platform: Platform) -> None:
        settings = platform.settings
        self.input = Asset(_uri(str(settings.input_dir)), group="tradelake")
        self.landing = Asset(_uri(settings.landing_url), group="tradelake")
        self.staging = Asset(_uri(settings.staging_url), group="tradelake")
        self.features = Asset(_uri(str(settings.features_path)), group="tradelake")


def _task(
    task_id: str, fn: Any, home: str, inlets: list[Asset], outlets: list[Asset], *args: str
) -> PythonOperator:
    return PythonOperator(
        task_id=task_id,
        python_callable=fn,
        op_args=[home, *args],
        inlets=inlets,
        outlets=outlets,
    )


def _uri(location: str) -> str:
    return location if "://" in location else f"file://{location}"
