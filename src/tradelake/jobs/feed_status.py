"""One feed's status row: its state plus the schedule, as `tradelake status` and the desk's
Data page show it (one function, so both show the same numbers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from tradelake.jobs.feed_state import FeedState
from tradelake.jobs.feeds import FeedConfig


def status_row(feed: FeedConfig, state: FeedState, now: datetime) -> dict[str, Any]:
    """State plus the schedule; the next run is recomputed when no scheduler keeps it current."""
    next_run = state.next_run_ts
    if next_run is None or next_run < now:
        next_run = feed.next_run(now)
    row = {"feed": feed.name, "kind": feed.kind, "schedule": feed.schedule}
    row.update(state.to_dict())
    row["next_run_ts"] = next_run.isoformat()
    for private in ("name", "etag", "last_modified"):
        row.pop(private)
    return row


def add_freshness(
    rows: list[dict[str, Any]],
    feeds: Sequence[FeedConfig],
    fresh: Mapping[str, dict[str, Any]],
) -> None:
    """Publication → scoring p50 / p99 per story for news feeds (None for other kinds)."""
    empty = {"fresh_p50_s": None, "fresh_p99_s": None, "fresh_max_s": None, "fresh_stories": 0}
    for row, feed in zip(rows, feeds, strict=True):
        if feed.profile.news:
            row.update(fresh.get(feed.name, empty))
