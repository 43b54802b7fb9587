"""``webhook``: Slack-compatible incoming-webhook JSON ``{"text": ..., "alert": {...}}``."""

from __future__ import annotations

from tradelake.stream.alerts.record import Notice
from tradelake.stream.alerts.sinks.base import SinkContext, register_sink, retry_options
from tradelake.stream.alerts.sinks.http_post import HttpPoster
from tradelake.stream.settings import SinkConfig


class WebhookSink:
    """Slack reads ``text``; other receivers get the whole alert beside it."""

    def __init__(self, config: SinkConfig) -> None:
        self.name = config.name
        self.retries, self.backoff_s = retry_options(config)
        self._http = HttpPoster(config)

    def send(self, alert: Notice) -> None:
        self._http.post(json={"text": alert.text(), "alert": alert.to_dict()})

    def close(self) -> None:
        self._http.close()


@register_sink("webhook")
def open_webhook(config: SinkConfig, context: SinkContext) -> WebhookSink:
    return WebhookSink(config)
