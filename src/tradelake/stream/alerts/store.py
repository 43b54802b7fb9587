"""The ``alerts`` table: every alert with its lineage, in SQLite (``<home>/state/alerts.sqlite``).

SQLite rather than the DuckDB feature store: the serving process inserts while
``tradelake alerts`` reads from another process, which SQLite's WAL mode allows and a DuckDB
file (one writer process, readers locked out) does not. Inserts are idempotent on
``alert_id`` (``INSERT OR IGNORE``), so a redelivered signal never stores an alert twice.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from tradelake.errors import StreamError
from tradelake.stream.alerts.record import Alert

ALERTS_FILE = "alerts.sqlite"
_COLUMNS = (
    "alert_id",
    "rule",
    "device",
    "frame_id",
    "signal",
    "prob",
    "frame_ts",
    "detected_ts",
    "sent_ts",
    "model_version",
    "landing_id",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, rule TEXT NOT NULL, device TEXT NOT NULL, frame_id TEXT NOT NULL,
    signal TEXT NOT NULL, prob REAL NOT NULL, frame_ts TEXT NOT NULL, detected_ts TEXT NOT NULL,
    sent_ts TEXT NOT NULL, model_version TEXT NOT NULL, landing_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_sent ON alerts (sent_ts);
CREATE INDEX IF NOT EXISTS alerts_rule_device ON alerts (rule, device, frame_ts);
"""
_INSERT = (
    f"INSERT OR IGNORE INTO alerts ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


class AlertStore:
    """Thread-safe access to the ``alerts`` table (one connection, one lock)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        if read_only and not path.exists():
            self._con: sqlite3.Connection | None = None
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._con = sqlite3.connect(path, check_same_thread=False)
                self._con.execute("PRAGMA journal_mode=WAL")
                self._con.execute("PRAGMA synchronous=NORMAL")
                self._con.executescript(_SCHEMA)
            except sqlite3.Error as exc:
                raise StreamError(f"cannot open the alerts table at {path} ({exc})") from exc
        self._lock = threading.Lock()

    def add(self, alert: Alert) -> bool:
        """Store ``alert``; False when its ``alert_id`` was already stored."""
        row = alert.to_dict()
        with self._lock:
            assert self._con is not None
            cursor = self._con.execute(_INSERT, [row[c] for c in _COLUMNS])
            self._con.commit()
            return cursor.rowcount == 1

    def exists(self, alert_id: str) -> bool:
        return bool(self._select("WHERE alert_id = ?", [alert_id]))

    def get(self, alert_id: str) -> Alert | None:
        rows = self._select("WHERE alert_id = ?", [alert_id])
        return rows[0] if rows else None

    def since(self, since: datetime | None = None, limit: int = 1000) -> list[Alert]:
        """Alerts sent at or after ``since`` (all when None; naive means UTC), oldest first.

        Times are stored as ISO text with microseconds in UTC, so text order is time order.
        """
        if since is None:
            return self._select("ORDER BY sent_ts LIMIT ?", [limit])
        start = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
        return self._select(
            "WHERE sent_ts >= ? ORDER BY sent_ts LIMIT ?",
            [start.isoformat(timespec="microseconds"), limit],
        )

    def last_fired(self) -> dict[tuple[str, str], datetime]:
        """The newest alerted capture time per (rule, device): the cooldown state on start."""
        if self._con is None:
            return {}
        with self._lock:
            rows = self._con.execute(
                "SELECT rule, device, max(frame_ts) FROM alerts GROUP BY rule, device"
            ).fetchall()
        return {(rule, device): datetime.fromisoformat(ts) for rule, device, ts in rows}

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def _select(self, clause: str, params: list[object]) -> list[Alert]:
        if self._con is None:
            return []
        with self._lock:
            rows = self._con.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM alerts {clause}", params
            ).fetchall()
        return [Alert.from_dict(dict(zip(_COLUMNS, row, strict=True))) for row in rows]
