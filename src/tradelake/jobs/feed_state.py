"""Incremental state per pulled feed, kept in ``<home>/state/feeds/<name>.json``.

The state lets a restarted process ask each provider only for what is new: the last response's
cache validators (``ETag`` / ``Last-Modified``), a cursor (last observation date, last seen id,
last publication time), and the bookkeeping ``tradelake status`` shows (last success, last
error, rows staged, next run, news latency). It never holds data: losing it costs a re-download,
never a duplicate, because landing is content-addressed and staging versions rows by content.

A file is replaced atomically (temp file, fsync, rename), so a crash leaves the previous state.
Validators and cursors are saved only after every page of a pull was staged, so a restart never
skips data that was fetched but not staged. All timestamps are UTC.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from tradelake import atomic_files
from tradelake.redaction import redact

logger = logging.getLogger("tradelake.pull")

_TIMESTAMPS = ("last_run_ts", "last_success_ts", "last_error_ts", "next_run_ts")


@dataclass
class FeedState:
    """What the last pulls of one feed left behind (see the module docstring)."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    cursor: dict[str, str] = field(default_factory=dict)
    last_status: str | None = None
    last_run_ts: datetime | None = None
    last_success_ts: datetime | None = None
    last_error: str | None = None
    last_error_ts: datetime | None = None
    consecutive_failures: int = 0
    rows_staged_last: int = 0
    rows_staged_total: int = 0
    objects_landed_total: int = 0
    next_run_ts: datetime | None = None
    latency_p50_s: float | None = None
    latency_max_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        for name in _TIMESTAMPS:
            row[name] = row[name].isoformat() if row[name] else None
        return row

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> FeedState:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in row.items() if k in known}
        for name in _TIMESTAMPS:
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


class FeedStateStore:
    """One JSON file per feed under ``state_dir/feeds``; safe to read while a pull writes."""

    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "feeds"

    def path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def load(self, name: str) -> FeedState:
        """The saved state, or a fresh one (a first run, or an unreadable file: re-download)."""
        target = self.path(name)
        try:
            return FeedState.from_dict(json.loads(target.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return FeedState(name)
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("feed %s: unreadable state %s (%s); starting afresh", name, target, exc)
            return FeedState(name)

    def save(self, state: FeedState) -> None:
        """Write the state; an error text that repeats a provider's key is masked first."""
        text = redact(json.dumps(state.to_dict(), indent=2, sort_keys=True))
        atomic_files.write_text(self.path(state.name), text, durable=True)


class Cursor(Protocol):
    """How an incremental API is asked for new data only, and how a response moves the cursor.

    ``params`` turns the saved cursor into query parameters; ``advance`` reads one page's
    decoded JSON and returns the cursor after it (unchanged when the page says nothing).
    """

    def params(self, cursor: Mapping[str, str], url: str) -> dict[str, str]: ...

    def advance(self, body: Any, cursor: Mapping[str, str]) -> dict[str, str]: ...


@dataclass(frozen=True)
class ObservationDateCursor:
    """FRED: ask from ``observation_start = last date − revision window``.

    FRED revises recent observations (e.g. payrolls for two months), so the window re-fetches
    them; unchanged rows are no-ops in staging and revised ones become a new ``version``.
    """

    revision_window_days: int = 90

    def params(self, cursor: Mapping[str, str], url: str) -> dict[str, str]:
        last = cursor.get("last_date")
        if not last:
            return {}
        start = date.fromisoformat(last) - timedelta(days=self.revision_window_days)
        return {"observation_start": start.isoformat()}

    def advance(self, body: Any, cursor: Mapping[str, str]) -> dict[str, str]:
        rows = body.get("observations") if isinstance(body, dict) else None
        dates = [r["date"] for r in rows or [] if isinstance(r, dict) and _is_date(r.get("date"))]
        return _with_max(cursor, "last_date", dates)


@dataclass(frozen=True)
class MaxIdCursor:
    """Finnhub market news: ``minId`` returns only items with a larger ``id``."""

    def params(self, cursor: Mapping[str, str], url: str) -> dict[str, str]:
        last = cursor.get("last_id")
        return {"minId": last} if last and url.rstrip("/").endswith("/news") else {}

    def advance(self, body: Any, cursor: Mapping[str, str]) -> dict[str, str]:
        ids = [r.get("id") for r in body if isinstance(r, dict)] if isinstance(body, list) else []
        numbers = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        if not numbers:
            return dict(cursor)
        best = max([*numbers, int(cursor.get("last_id", "0"))])
        return {**cursor, "last_id": str(best)}


@dataclass(frozen=True)
class PublishedCursor:
    """NewsAPI ``/v2/everything``: ``from`` = the newest ``publishedAt`` seen (inclusive).

    ``publishedAt`` is ISO 8601 UTC with a ``Z`` suffix, so the text maximum is the time maximum.
    The boundary article comes back once more and is a no-op in staging.
    """

    def params(self, cursor: Mapping[str, str], url: str) -> dict[str, str]:
        last = cursor.get("last_published")
        return {"from": last} if last and url.rstrip("/").endswith("/everything") else {}

    def advance(self, body: Any, cursor: Mapping[str, str]) -> dict[str, str]:
        rows = body.get("articles") if isinstance(body, dict) else None
        stamps = [
            r["publishedAt"]
            for r in rows or []
            if isinstance(r, dict) and isinstance(r.get("publishedAt"), str)
        ]
        return _with_max(cursor, "last_published", stamps)


def _with_max(cursor: Mapping[str, str], key: str, values: list[str]) -> dict[str, str]:
    candidates = values + ([cursor[key]] if key in cursor else [])
    return {**cursor, key: max(candidates)} if candidates else dict(cursor)


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def utc_now() -> datetime:
    """The wall clock in UTC (injected where tests need a fixed time)."""
    return datetime.now(UTC)
