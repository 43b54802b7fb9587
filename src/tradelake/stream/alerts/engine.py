"""The alert engine: ``signals`` → rules → ``alerts`` table → sinks.

Consumes the ``signals`` topic (group ``alerts``). For each signal, the rules that fire
(:class:`~tradelake.stream.alerts.rules.RuleBook`) make alerts with a deterministic
``alert_id``; an alert is stored first (``INSERT OR IGNORE``: a redelivered signal stores and
sends nothing new) and then queued to its rule's sinks, and the signal is committed after.
"""

from __future__ import annotations

import logging
import threading

from tradelake.errors import TransientError
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
    ) -> None:
        self._queue = queue
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
        for rule, alert in self.rules.fire(signal, utc_now()):
            if self.store.add(alert):
                self.dispatcher.send(alert, rule.sinks)
                new.append(alert)
        self.fired += len(new)
        return new

    def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            messages = consumer.poll(64, 0.2)
            for message in messages:
                try:
                    self.handle(SignalMessage.decode(message.value))
                except (ValueError, KeyError) as exc:
                    logger.error("signals offset %d is not a signal (%s)", message.offset, exc)
                except Exception:  # a bug must not stop alerting; the signal is redelivered
                    logger.exception("alerting on signals offset %d failed", message.offset)
                    continue
            try:
                consumer.commit(messages)
            except TransientError as exc:  # redelivered later; the alerts table ignores repeats
                logger.warning("signals not committed, they will be redelivered: %s", exc)
