"""Deliver each alert to its rule's sinks: one thread and queue per sink, retries with backoff.

A sink that fails is retried ``retries`` times, waiting ``backoff_s``, then twice that, and so
on; meanwhile the other sinks go on, because each drains its own queue. An alert a sink still
refuses after its retries is logged with the reason (it stays in the ``alerts`` table).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Sequence

from tradelake.errors import SinkError
from tradelake.stream.alerts.record import Notice
from tradelake.stream.alerts.sinks.base import Sink

logger = logging.getLogger(__name__)


class _Lane:
    """One sink's queue and worker thread."""

    def __init__(self, sink: Sink, stop: threading.Event) -> None:
        self.sink = sink
        self.pending: queue.Queue[Notice | None] = queue.Queue()
        self.delivered = 0
        self.failed: list[tuple[str, str]] = []  # (alert_id, last error)
        self._stop = stop
        self.thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            alert = self.pending.get()
            if alert is None:
                return
            self._deliver(alert)

    def _deliver(self, alert: Notice) -> None:
        delay = self.sink.backoff_s
        for attempt in range(self.sink.retries + 1):
            try:
                self.sink.send(alert)
                self.delivered += 1
                return
            except SinkError as exc:
                error = str(exc)
            except Exception as exc:  # a sink bug must not kill its lane
                error = f"{type(exc).__name__}: {exc}"
            if attempt < self.sink.retries and not self._stop.wait(delay):
                delay *= 2
                continue
            break
        self.failed.append((alert.alert_id, error))
        logger.error(
            "sink %s gave up on alert %s after %d attempts: %s",
            self.sink.name,
            alert.alert_id,
            attempt + 1,
            error,
        )


class Dispatcher:
    """Routes alerts to named sinks without letting one sink block another."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self._stop = threading.Event()
        self.lanes = {sink.name: _Lane(sink, self._stop) for sink in sinks}

    def send(self, alert: Notice, sinks: Sequence[str]) -> None:
        for name in sinks:
            self.lanes[name].pending.put(alert)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (retries cut short), then close the sinks."""
        self._stop.set()
        for lane in self.lanes.values():
            lane.pending.put(None)
        for lane in self.lanes.values():
            lane.thread.join(timeout_s)
            lane.sink.close()
