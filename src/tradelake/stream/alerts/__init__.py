"""Alerts: rules over ``signals``, the ``alerts`` table, and the sinks that deliver them."""

from tradelake.stream.alerts.engine import AlertEngine
from tradelake.stream.alerts.record import Alert, alert_id
from tradelake.stream.alerts.store import AlertStore

__all__ = ["Alert", "AlertEngine", "AlertStore", "alert_id"]
