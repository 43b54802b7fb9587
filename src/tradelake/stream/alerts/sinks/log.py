"""``log``: one line per alert in the service's log (``tradelake.alerts`` logger)."""

from __future__ import annotations

import logging

from tradelake.stream.alerts.record import Notice
from tradelake.stream.alerts.sinks.base import SinkContext, register_sink, retry_options
from tradelake.stream.settings import SinkConfig

logger = logging.getLogger("tradelake.alerts")


class LogSink:
    def __init__(self, name: str, retries: int, backoff_s: float) -> None:
        self.name, self.retries, self.backoff_s = name, retries, backoff_s

    def send(self, alert: Notice) -> None:
        logger.warning("ALERT %s %s", alert.alert_id, alert.text())

    def close(self) -> None:
        return None


@register_sink("log")
def open_log(config: SinkConfig, context: SinkContext) -> LogSink:
    return LogSink(config.name, *retry_options(config))
