"""What each Airflow task runs: one :class:`Platform` call, returning a small JSON summary.

The summary becomes the task's XCom (what the Airflow UI shows for a run). A task fails, so
Airflow retries it, when the call raises or when what it did is incomplete: a file that could
not be ingested, a feed that failed.
"""

from __future__ import annotations

from typing import Any

from tradelake.errors import TradelakeError
from tradelake.platform import Platform


class TaskFailed(TradelakeError):
    """An Airflow task finished its call but part of the work failed (named in the message)."""


def ingest_input(home: str) -> dict[str, Any]:
    """Ingest what is in ``input/`` (files seen before are no-ops), refreshing the store.

    ``warnings`` lists what ``tradelake ingest`` would warn of (an ATAS file read in the
    fallback time zone): the data went in but may be wrong, so the run says so.
    """
    report = Platform.open(home).ingest_input()
    statuses = [result.status for result in report.files]
    summary = {status: statuses.count(status) for status in sorted(set(statuses))}
    errors = [result.error for result in report.files if result.status == "error"]
    if errors:
        raise TaskFailed(f"{len(errors)} files failed: " + "; ".join(str(e) for e in errors))
    warnings = [warning for result in report.files for warning in result.warnings]
    return {"files": summary, "refreshed": list(report.refresh.rebuilt), "warnings": warnings}


def refresh(home: str) -> dict[str, Any]:
    """Refresh the feature store (incremental: a no-op when staging is unchanged)."""
    result = Platform.open(home).refresh()
    return {"refreshed": list(result.rebuilt)}


def publish(home: str) -> dict[str, Any]:
    """Copy the feature tables to the analytics database of ``[publish]``."""
    return Platform.open(home).publish().to_dict()


def pull(home: str, feed: str) -> dict[str, Any]:
    """Pull one feed once (and refresh if it staged rows)."""
    (result,) = Platform.open(home).pull([feed])
    if not result.ok:
        raise TaskFailed(result.error or f"feed {feed} failed; see `tradelake status`")
    return result.to_dict()


def verify_landing(home: str) -> dict[str, Any]:
    """Check every landed object against its manifest digest and the write-once ledger."""
    verification = Platform.open(home).verify_landing(deep=True)
    if not verification.ok:
        raise TaskFailed("; ".join(verification.lines()))
    return {"objects": len(verification.rows)}


def replay(home: str) -> dict[str, Any]:
    """Rebuild staging and the feature store from landing (the nightly proof they agree)."""
    result = Platform.open(home).replay()
    errors = [r.error for r in result.results if r.status == "error"]
    if errors:
        raise TaskFailed(
            f"{len(errors)} landing objects failed to replay: " + "; ".join(str(e) for e in errors)
        )
    return {"objects": result.objects, "notes": result.notes}


def run_job(home: str, job: str) -> dict[str, Any]:
    """Run one ``[[jobs]]`` job (model training) through the same Platform method as
    ``tradelake run``."""
    result = Platform.open(home).run_job(job)
    to_dict = getattr(result, "to_dict", None)
    return to_dict() if callable(to_dict) else {"result": str(result)}
