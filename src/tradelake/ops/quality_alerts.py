"""Data-quality alerts: one message to the configured sinks per new problem, never twice.

Four checks, each run where its facts are known:

- ``quarantine``: a file (or pulled page) whose quarantined rows exceed ``quarantined_rows``
  (checked when it is staged: ingest, watch, pull, replay);
- ``reconciliation``: rows of ``journal_reconciliation`` not ``matched`` (after a refresh);
- ``feed_failing``: a feed that failed ``feed_failures`` times in a row (after each pull);
  ``feed_late``: a feed with no success ``feed_late_s`` after a scheduled fire (``tradelake run``);
- ``stream_stale``: a device whose frames stopped for ``stream_stale_s`` (``tradelake serve``).

Each problem has a key (file + table + rule; reconciliation row; feed + its last success;
device + its last frame) kept in ``<home>/state/quality_alerts.sqlite``: a key already there
sends nothing, so a re-run, a replay or another process never repeats an alert, while a new
rule on the same file, or a new failure streak, does. One message per check carries every new
key with its counts.

Delivery reuses the stream's alert sinks (``[[sinks]]``: Slack-compatible ``webhook`` first,
``ntfy``, ``log``) through their dispatcher: one thread per sink, retries with backoff, so a
slow webhook never holds up an ingest; what is queued when the process ends is delivered
first (at most ``timeout`` per sink). ``[quality_alerts] sinks`` empty (the default) turns the
alerts off; ``tradelake quality`` shows the same facts on demand.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tradelake.errors import ConfigError
from tradelake.ops import metrics
from tradelake.redaction import redact

if TYPE_CHECKING:
    import polars as pl

    from tradelake.config import Settings
    from tradelake.stream.alerts.dispatch import Dispatcher
    from tradelake.stream.settings import SinkConfig

logger = logging.getLogger(__name__)
STATE_FILE = "quality_alerts.sqlite"
KINDS = ("quarantine", "reconciliation", "feed_failing", "feed_late", "stream_stale")
EXAMPLES = 5  # mismatches listed in one reconciliation message


@dataclass(frozen=True)
class QualityConfig:
    """``[quality_alerts]``; see ``docs/operations.md``."""

    sinks: tuple[str, ...] = ()
    quarantined_rows: int = 0
    feed_failures: int = 3
    feed_late_s: float = 900.0
    stream_stale_s: float = 120.0
    late_check_s: float = 30.0
    stale_check_s: float = 5.0


@dataclass(frozen=True)
class QualityAlert:
    """What the sinks receive: ``text`` for chat, the rest as data (``kind``, ``subject``:
    the file, feed or device; ``counts``; ``details``)."""

    alert_id: str
    kind: str
    subject: str
    message: str
    counts: Mapping[str, int]
    details: Mapping[str, Any] = field(default_factory=dict)
    raised_ts: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def rule(self) -> str:
        return f"quality:{self.kind}"

    def text(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "kind": self.kind,
            "subject": self.subject,
            "counts": dict(self.counts),
            "details": dict(self.details),
            "raised_ts": self.raised_ts.isoformat(timespec="seconds"),
        }


class LandedObject(Protocol):
    @property
    def landing_id(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def original_name(self) -> str: ...


class StagedTable(Protocol):
    @property
    def rows_in(self) -> int: ...

    @property
    def quarantined(self) -> int: ...

    @property
    def quarantine_rules(self) -> dict[str, int]: ...


class FeedSchedule(Protocol):
    @property
    def name(self) -> str: ...

    def next_run(self, after: datetime) -> datetime: ...


class FeedHistory(Protocol):
    @property
    def last_success_ts(self) -> datetime | None: ...

    @property
    def consecutive_failures(self) -> int: ...

    @property
    def last_error(self) -> str | None: ...


class QualityAlerts:
    """Runs the checks and sends what is new (see the module docstring)."""

    def __init__(
        self,
        config: QualityConfig,
        sinks: Sequence[SinkConfig],
        state_file: Path,
        *,
        now: Any = None,
    ) -> None:
        self.config = config
        self._sinks = list(sinks)
        self._state_file = state_file
        self._now = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._dispatcher: Dispatcher | None = None

    # -- checks ------------------------------------------------------------------------------

    def check_file(self, obj: LandedObject, tables: Mapping[str, StagedTable]) -> None:
        quarantined = sum(t.quarantined for t in tables.values())
        if quarantined <= self.config.quarantined_rows:
            return
        counts = {
            f"{table}/{rule}": count
            for table, result in tables.items()
            for rule, count in result.quarantine_rules.items()
        }
        new = self._claim({f"quarantine\0{obj.landing_id}\0{key}": key for key in counts})
        if not new:
            return
        rows_in = sum(t.rows_in for t in tables.values())
        listed = ", ".join(f"{key} {counts[key]}" for key in sorted(new))
        self._send(
            "quarantine",
            obj.original_name,
            f"data quality: {quarantined} of {rows_in} rows quarantined in {obj.original_name} "
            f"({obj.source}, landing {obj.landing_id[:12]}): {listed}",
            {key: counts[key] for key in new},
            {"landing_id": obj.landing_id, "source": obj.source, "rows_in": rows_in,
             "quarantined": quarantined},
        )  # fmt: skip

    def check_reconciliation(self, mismatches: pl.DataFrame) -> None:
        """``mismatches``: rows of ``journal_reconciliation`` whose status is not ``matched``."""
        if mismatches.height == 0:
            return
        rows = mismatches.select(
            "status", "account", "symbol", "round_trip_id", "journal_id", "open_ts"
        ).to_dicts()
        keyed = {"reconciliation\0" + "\0".join(str(v) for v in row.values()): row for row in rows}
        new = self._claim({key: key for key in keyed})
        if not new:
            return
        fresh = [keyed[key] for key in sorted(new)]
        by_status = Counter(str(row["status"]) for row in fresh)
        examples = "; ".join(
            f"{row['status']} {row['account']} {row['symbol']} opened {row['open_ts']}"
            for row in fresh[:EXAMPLES]
        )
        self._send(
            "reconciliation",
            "journal_reconciliation",
            f"reconciliation: {len(fresh)} new mismatch(es) against the ATAS journal "
            f"({', '.join(f'{s} {n}' for s, n in sorted(by_status.items()))}): {examples}",
            dict(by_status),
            {"examples": [{k: str(v) for k, v in row.items()} for row in fresh[:EXAMPLES]]},
        )

    def check_feed_failures(self, feed: str, state: FeedHistory) -> None:
        failures = state.consecutive_failures
        if self.config.feed_failures <= 0 or failures < self.config.feed_failures:
            return
        since = _iso(state.last_success_ts)
        if not self._claim({f"feed_failing\0{feed}\0{since}": feed}):
            return
        self._send(
            "feed_failing",
            feed,
            f"feed {feed} failed {failures} times in a row (last success: {since}); last error: "
            f"{state.last_error or 'unknown'}",
            {"consecutive_failures": failures},
            {"last_success_ts": since, "last_error": state.last_error},
        )

    def check_feed_late(self, feed: FeedSchedule, state: FeedHistory, now: datetime) -> None:
        if self.config.feed_late_s <= 0 or state.last_success_ts is None:
            return
        due = feed.next_run(state.last_success_ts)
        late = (now - due).total_seconds()
        if late <= self.config.feed_late_s:
            return
        since = _iso(state.last_success_ts)
        if not self._claim({f"feed_late\0{feed.name}\0{since}": feed.name}):
            return
        self._send(
            "feed_late",
            feed.name,
            f"feed {feed.name} is late: no success since {since}; its run due at {_iso(due)} "
            f"is {late:.0f} s overdue (grace {self.config.feed_late_s:g} s)",
            {"late_s": int(late)},
            {"last_success_ts": since, "due_ts": _iso(due)},
        )

    def check_stale_streams(self, last_seen: Mapping[str, datetime]) -> None:
        if self.config.stream_stale_s <= 0:
            return
        now = self._now()
        for device, seen in sorted(last_seen.items()):
            quiet = (now - seen).total_seconds()
            if quiet <= self.config.stream_stale_s:
                continue
            if not self._claim({f"stream_stale\0{device}\0{_iso(seen)}": device}):
                continue
            self._send(
                "stream_stale",
                device,
                f"stream {device} is stale: no frame scored for {quiet:.0f} s (last at "
                f"{_iso(seen)}; limit {self.config.stream_stale_s:g} s)",
                {"quiet_s": int(quiet)},
                {"last_frame_ts": _iso(seen)},
            )

    # -- delivery ------------------------------------------------------------------------------

    def close(self) -> None:
        """Deliver what is queued (retries cut short), then stop the sinks' threads."""
        with self._lock:
            dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            dispatcher.close()

    def _claim(self, keys: Mapping[str, str]) -> list[str]:
        """The values of ``keys`` not seen before, recording them (across processes)."""
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        new = []
        with self._lock, sqlite3.connect(self._state_file, timeout=30) as con:
            con.execute("CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, sent_ts TEXT)")
            stamp = self._now().isoformat()
            for key, value in keys.items():
                digest = hashlib.sha256(key.encode()).hexdigest()
                cursor = con.execute("INSERT OR IGNORE INTO sent VALUES (?, ?)", (digest, stamp))
                if cursor.rowcount:
                    new.append(value)
        return new

    def _send(
        self,
        kind: str,
        subject: str,
        message: str,
        counts: Mapping[str, int],
        details: Mapping[str, Any],
    ) -> None:
        raised = self._now()
        alert_id = hashlib.sha256(f"{kind}\0{subject}\0{raised.isoformat()}".encode()).hexdigest()
        alert = QualityAlert(
            alert_id=alert_id[:20],
            kind=kind,
            subject=redact(subject),
            message=redact(message),
            counts=dict(counts),
            details={k: redact(v) if isinstance(v, str) else v for k, v in details.items()},
            raised_ts=raised,
        )
        logger.info("%s", alert.message)
        self._dispatch().send(alert, self.config.sinks)
        metrics.observe_quality_alert(kind)

    def _dispatch(self) -> Dispatcher:
        """The sinks' dispatcher, opened on the first alert (no threads while all is well)."""
        from tradelake.stream.alerts.dispatch import Dispatcher
        from tradelake.stream.alerts.sinks.base import SinkContext, open_sink
        from tradelake.stream.hub import AlertHub

        with self._lock:
            if self._dispatcher is None:
                context = SinkContext(AlertHub())
                self._dispatcher = Dispatcher(open_sink(c, context) for c in self._sinks)
                atexit.register(self.close)
            return self._dispatcher


def open_quality_alerts(settings: Settings) -> QualityAlerts | None:
    """``[quality_alerts]`` of a data home, or None when it names no sinks (the default)."""
    config = quality_config(settings.raw)
    if not config.sinks:
        return None
    from tradelake.stream.alerts.sinks.base import BUILT_IN
    from tradelake.stream.settings import stream_settings

    configured = {sink.name: sink for sink in (*BUILT_IN, *stream_settings(settings).sinks)}
    unknown = sorted(set(config.sinks) - set(configured))
    if unknown:
        raise ConfigError(
            f"[quality_alerts] sinks names unknown sinks {unknown}; add [[sinks]] entries with "
            f"those names, or use some of {sorted(configured)}"
        )
    return QualityAlerts(
        config,
        [configured[name] for name in config.sinks],
        settings.state_dir / STATE_FILE,
    )


def quality_config(raw: Mapping[str, Any]) -> QualityConfig:
    section = dict(raw.get("quality_alerts", {}))
    default = QualityConfig()
    unknown = sorted(set(section) - set(QualityConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(
            f"[quality_alerts] has unknown keys {unknown}; use some of "
            f"{sorted(QualityConfig.__dataclass_fields__)}"
        )
    sinks = section.get("sinks", list(default.sinks))
    if isinstance(sinks, str) or not isinstance(sinks, Iterable):
        raise ConfigError('[quality_alerts] sinks must be a list of sink names, e.g. ["slack"]')
    values: dict[str, Any] = {"sinks": tuple(str(s) for s in sinks)}
    for key in ("quarantined_rows", "feed_failures"):
        values[key] = _number(section, key, int, getattr(default, key))
    for key in ("feed_late_s", "stream_stale_s", "late_check_s", "stale_check_s"):
        values[key] = _number(section, key, float, getattr(default, key))
    return QualityConfig(**values)


def _number(section: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"[quality_alerts] {key} = {value!r} must be a number >= 0; fix tradelake.toml "
            f"(or TRADELAKE_QUALITY_ALERTS__{key.upper()})"
        )
    return kind(value)


def _iso(ts: datetime | None) -> str:
    return ts.isoformat(timespec="seconds") if ts is not None else "never"
