"""``[[jobs]]``: platform jobs (model training) that ``tradelake run`` fires on a cron schedule.

    [[jobs]]
    name = "signal-hourly"       # any unique name (logs, errors)
    job = "train_signal"         # a key of JOBS
    schedule = "5 * * * *"       # cron: 5 fields, or 6 with seconds first
    schedule_timezone = "UTC"    # zone the cron fields are read in

:data:`JOBS` maps a job to the :class:`~tradelake.platform.Platform` method that runs it, so
the built-in scheduler and an Airflow task (which calls the same method) run the same code.
A new job is one line here plus its Platform method. Jobs are not caught up after downtime:
a retrain missed while nothing ran is simply the next fire's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tradelake.config import validate_timezone
from tradelake.errors import ConfigError
from tradelake.jobs.feeds import next_fire, valid_cron

JOBS: dict[str, str] = {
    "train_signal": "train_signal",  # the signal ensemble, hourly (issue 13)
}
"""Job name -> the Platform method (no arguments) that runs it."""


@dataclass(frozen=True)
class JobConfig:
    name: str
    job: str
    schedule: str
    schedule_timezone: str = "UTC"

    def next_run(self, after: datetime) -> datetime:
        """The first cron fire strictly after ``after``, in UTC."""
        return next_fire(self.schedule, self.schedule_timezone, after)


def parse_jobs(entries: Sequence[Any]) -> list[JobConfig]:
    """Every ``[[jobs]]`` entry, checked; a ConfigError names the entry and the key."""
    jobs: list[JobConfig] = []
    for i, entry in enumerate(entries):
        where = f"[[jobs]] entry {i + 1}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a table with name, job and schedule")
        name = str(entry.get("name") or "").strip()
        where = f"[[jobs]] {name!r}" if name else where
        job = str(entry.get("job") or "").strip()
        schedule = " ".join(str(entry.get("schedule") or "").split())
        unknown = sorted(set(entry) - {"name", "job", "schedule", "schedule_timezone"})
        if not name:
            raise ConfigError(f"{where}: set name (any unique name for logs)")
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        if job not in JOBS:
            raise ConfigError(f"{where}: job = {job!r}; use one of {', '.join(sorted(JOBS))}")
        if not valid_cron(schedule):
            raise ConfigError(
                f"{where}: schedule = {schedule!r} is not a cron expression; e.g. '5 * * * *'"
            )
        zone = validate_timezone(
            str(entry.get("schedule_timezone") or "UTC"), f"{where}.schedule_timezone"
        )
        if any(j.name == name for j in jobs):
            raise ConfigError(f"{where}: two [[jobs]] entries are named {name!r}")
        jobs.append(JobConfig(name, job, schedule, zone))
    return jobs
