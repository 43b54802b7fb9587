"""Alert rules as pure logic: which rules fire on a signal, with cooldown per (rule, device).

Cooldown runs on the frame's capture time, not the wall clock, so replaying or redelivering
frames gives the same alerts as the first time: a frame fires only when it was captured at
least ``cooldown_s`` after the last frame that fired for its (rule, device), never when it is
older than that one (a redelivered or late frame). The state is seeded from the ``alerts`` table
on start (:meth:`AlertStore.last_fired`), so a restart never fires twice within a cooldown.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime

from tradelake.stream.alerts.record import Alert, alert_id
from tradelake.stream.messages import SignalMessage
from tradelake.stream.settings import AlertRule


def matches(rule: AlertRule, signal: SignalMessage) -> bool:
    """The rule's signal, probability and device conditions (not the cooldown); a stale frame
    never matches."""
    return (
        not signal.stale
        and signal.signal in rule.signals
        and signal.prob >= rule.min_prob
        and (not rule.devices or signal.device in rule.devices)
    )


class RuleBook:
    """The configured rules and the cooldown state; thread-safe."""

    def __init__(
        self,
        rules: Sequence[AlertRule],
        last_fired: Mapping[tuple[str, str], datetime] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self._last = dict(last_fired or {})
        self._lock = threading.Lock()

    def fire(self, signal: SignalMessage, sent_ts: datetime) -> list[tuple[AlertRule, Alert]]:
        """The alerts ``signal`` raises now; each fired rule starts its cooldown."""
        fired = []
        with self._lock:
            for rule in self.rules:
                if not matches(rule, signal):
                    continue
                key = (rule.name, signal.device)
                last = self._last.get(key)
                if last is not None and (signal.ts - last).total_seconds() < rule.cooldown_s:
                    continue
                if last is not None and signal.ts < last:
                    continue  # older than what fired last: a redelivery or a late frame
                self._last[key] = signal.ts
                fired.append((rule, _alert(rule, signal, sent_ts)))
        return fired


def _alert(rule: AlertRule, signal: SignalMessage, sent_ts: datetime) -> Alert:
    return Alert(
        alert_id=alert_id(rule.name, signal.frame_id),
        rule=rule.name,
        device=signal.device,
        frame_id=signal.frame_id,
        signal=signal.signal,
        prob=signal.prob,
        frame_ts=signal.ts,
        detected_ts=signal.detected_ts,
        sent_ts=sent_ts,
        model_version=signal.model_version,
        landing_id=signal.landing_id,
    )
