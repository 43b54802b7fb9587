"""The alert engine: ``signals`` → rules → ``alerts`` table → sinks.

Consumes the ``signals`` topic (group ``alerts``). For each signal, the rules that fire
(:class:`~tradelake.stream.alerts.rules.RuleBook`) make alerts with a deterministic
``alert_id``; an alert is stored first (``INSERT OR IGNORE``: a redelivered signal stores and
sends nothing new) and then queued to its rule's sinks, and the signal is committed after.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

from tradelake.errors import TransientError
from tradelake.ops import datasets, metrics
from tradelake.ops.observer import NO_OPS, Observer
from tradelake.sources.screens import SCREEN_SOURCE_PREFIX
from tradelake.stream.alerts.dispatch import Dispatcher
from tradelake.stream.alerts.record import Alert
from tradelake.stream.alerts.rules import RuleBook
from tradelake.stream.alerts.sinks.base import BUILT_IN, SinkContext, open_sink
from tradelake.stream.alerts.store import AlertStore
from tradelake.stream.hub import AlertHub
from tradelake.stream.messages import SignalMessage, utc_now
from tradelake.stream.queue import SIGNALS, Consumer, Queue
from tradelake.stream.settings import StreamSettings

logger = logging.getLogger(__name__)
ALERTS_GROUP = "alerts"


class AlertEngine:
    """Turns signals into stored, delivered alerts; see the module docstring."""

    def __init__(
        self,
        queue: Queue,
        store: AlertStore,
        hub: AlertHub,
        settings: StreamSettings,
        *,
        group: str = ALERTS_GROUP,
        ops: Observer = NO_OPS,
        landing_url: str = "",
        alerts_file: Path | None = None,
    ) -> None:
        self._queue = queue
        self._settings = settings
        self._ops, self._landing_url, self._alerts_file = ops, landing_url, alerts_file
        self.store = store
        self.rules = RuleBook(settings.alerts, store.last_fired())
        configured = {sink.name: sink for sink in BUILT_IN}
        configured.update({sink.name: sink for sink in settings.sinks})
        context = SinkContext(hub)
        self.dispatcher = Dispatcher(open_sink(c, context) for c in configured.values())
        self._group = group
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self.fired = 0

    def start(self) -> None:
        self._consumer = self._queue.consumer(SIGNALS, self._group)
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self.dispatcher.close()

    def handle(self, signal: SignalMessage) -> list[Alert]:
        """Store and dispatch the alerts ``signal`` raises; returns the new ones."""
        new = []
        now = utc_now()
        metrics.observe_queue_lag(SIGNALS, (now - signal.detected_ts).total_seconds())
        for rule, alert in self.rules.fire(signal, now):
            if self.store.add(alert):
                self.dispatcher.send(alert, rule.sinks)
                metrics.observe_alert(rule.name, (alert.sent_ts - alert.frame_ts).total_seconds())
                new.append(alert)
        self.fired += len(new)
        return new

    def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            messages = consumer.poll(64, 0.2)
            started, fired = utc_now(), []
            for message in messages:
                try:
                    fired += self.handle(SignalMessage.decode(message.value))
                except (ValueError, KeyError) as exc:
                    logger.error("signals offset %d is not a signal (%s)", message.offset, exc)
                except Exception:  # a bug must not stop alerting; the signal is redelivered
                    logger.exception("alerting on signals offset %d failed", message.offset)
                    continue
            try:
                consumer.commit(messages)
            except TransientError as exc:  # redelivered later; the alerts table ignores repeats
                logger.warning("signals not committed, they will be redelivered: %s", exc)
            if fired:
                self._lineage(started, fired)

    def _lineage(self, started: datetime, fired: list[Alert]) -> None:
        """One ``stream.alerts`` run per batch that raised alerts (after they are sent): the
        ``signals`` topic and each alert's frame (its landed pixels) in, the alerts out."""
        if self._alerts_file is None:
            return
        frames = {
            datasets.landing_object(
                self._landing_url, f"{SCREEN_SOURCE_PREFIX}{a.device}", a.landing_id
            )
            for a in fired
        }
        inputs = [datasets.topic(self._settings.queue, SIGNALS), *sorted(frames)]
        outputs = datasets.alerts(self._alerts_file, [a.alert_id for a in fired])
        try:
            self._ops.completed("stream.alerts", started, inputs, outputs)
        except Exception:  # lineage describes the work; it must not stop alerting
            logger.exception("lineage of %d alerts could not be written", len(fired))
