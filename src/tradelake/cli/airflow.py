"""``tradelake airflow dags --out DIR``: this data home's DAG file, for an Airflow deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradelake.cli.common import HELP_MARKUP, HomeOpt, JsonOpt, command, open_platform

airflow_app = typer.Typer(
    help="Run the pipeline on Apache Airflow instead of `tradelake run`.",
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
)


def register(app: typer.Typer) -> None:
    """Add ``airflow dags`` to the ``tradelake`` app."""
    app.add_typer(airflow_app, name="airflow")


@airflow_app.command("dags")
def dags(
    out: Annotated[
        Path, typer.Option("--out", help="The deployment's dags/ folder (created if missing).")
    ],
    home: HomeOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write the DAG file of this data home into OUT.

    It builds, when Airflow parses it: the trades ETL (ingest input/, refresh, publish), one
    DAG per [[feeds]] entry on the feed's schedule, one per [[jobs]] entry (model training),
    and the nightly verify + replay. Each task
    calls the same Platform method as the CLI. The Airflow environment needs tradelake
    installed (`pip install tradelake apache-airflow-providers-openlineage`).
    """
    from tradelake.airflow.files import (
        NIGHTLY_DAG,
        TRADES_DAG,
        feed_dag_id,
        job_dag_id,
        write_dag_file,
    )

    with command(json) as console:
        platform = open_platform(home)
        path = write_dag_file(platform.settings.home, out)
        ids = [TRADES_DAG, NIGHTLY_DAG, *(feed_dag_id(feed.name) for feed in platform.feeds())]
        ids += [job_dag_id(job.name) for job in platform.scheduled_jobs()]
        if json:
            console.emit_json({"file": str(path), "dags": ids})
            return
        console.info(f"wrote {path}")
        for dag_id in ids:
            console.info(f"  {dag_id}")
