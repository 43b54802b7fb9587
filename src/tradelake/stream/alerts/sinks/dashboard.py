"""``dashboard``: push the alert to every WebSocket and server-sent-events client now."""

from __future__ import annotations

from tradelake.stream.alerts.record import Notice
from tradelake.stream.alerts.sinks.base import SinkContext, register_sink, retry_options
from tradelake.stream.hub import AlertHub
from tradelake.stream.settings import SinkConfig


class DashboardSink:
    """Hands the alert to the :class:`AlertHub` the web app's clients listen on."""

    def __init__(self, name: str, hub: AlertHub, retries: int, backoff_s: float) -> None:
        self.name, self.retries, self.backoff_s = name, retries, backoff_s
        self._hub = hub

    def send(self, alert: Notice) -> None:
        self._hub.publish(alert.to_dict())

    def close(self) -> None:
        return None


@register_sink("dashboard")
def open_dashboard(config: SinkConfig, context: SinkContext) -> DashboardSink:
    return DashboardSink(config.name, context.hub, *retry_options(config))
