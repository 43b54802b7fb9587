"""Import every alert-sink kind so each registers itself (one line per kind)."""

from tradelake.stream.alerts.sinks import dashboard, log, ntfy, webhook  # noqa: F401
