"""Alert sinks: dashboard push, Slack-compatible webhook, ntfy-style phone push, log."""

from tradelake.stream.alerts.sinks.base import SINKS, Sink, SinkContext, open_sink, register_sink

__all__ = ["SINKS", "Sink", "SinkContext", "open_sink", "register_sink"]
