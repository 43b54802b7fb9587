"""``ntfy``: phone push the ntfy way, a plain-text POST with a title and priority header.

``url`` is the topic's URL (``https://ntfy.sh/<topic>`` or a self-hosted server); ``priority``
(1-5, default 4) and ``tags`` are passed as ntfy's ``Priority`` and ``Tags`` headers.
"""

from __future__ import annotations

from tradelake.stream.alerts.record import Notice
from tradelake.stream.alerts.sinks.base import SinkContext, register_sink, retry_options
from tradelake.stream.alerts.sinks.http_post import HttpPoster
from tradelake.stream.settings import SinkConfig


class NtfySink:
    def __init__(self, config: SinkConfig) -> None:
        self.name = config.name
        self.retries, self.backoff_s = retry_options(config)
        self._http = HttpPoster(config)
        self._priority = str(config.options.get("priority", 4))
        self._tags = str(config.options.get("tags", "chart_with_upwards_trend"))

    def send(self, alert: Notice) -> None:
        headers = {
            "Title": f"tradelake: {alert.rule}",
            "Priority": self._priority,
            "Tags": self._tags,
            "X-Alert-Id": alert.alert_id,
        }
        self._http.post(content=alert.text().encode(), headers=headers)

    def close(self) -> None:
        self._http.close()


@register_sink("ntfy")
def open_ntfy(config: SinkConfig, context: SinkContext) -> NtfySink:
    return NtfySink(config)
