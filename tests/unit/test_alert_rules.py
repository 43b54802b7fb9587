"""Alert rules, cooldown on capture time, idempotent storage, and the engine over a queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tradelake.config import load_settings
from tradelake.errors import ConfigError
from tradelake.stream.alerts import AlertEngine, AlertStore, alert_id
from tradelake.stream.alerts.rules import RuleBook, matches
from tradelake.stream.hub import AlertHub
from tradelake.stream.messages import SignalMessage
from tradelake.stream.queue import SIGNALS, open_queue
from tradelake.stream.settings import AlertRule, stream_settings

T0 = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
FLAGS = AlertRule("flags", ("bull_flag", "bear_flag"), min_prob=0.7, cooldown_s=30)


def _signal(
    frame: str,
    seconds: float = 0,
    *,
    signal: str = "bull_flag",
    prob: float = 0.9,
    device: str = "desk1",
    stale: bool = False,
) -> SignalMessage:
    ts = T0 + timedelta(seconds=seconds)
    return SignalMessage(frame, device, ts, signal, prob, "1+abc", "l" * 64, ts, stale)


def test_conditions_signal_probability_device_and_staleness() -> None:
    assert matches(FLAGS, _signal("a"))
    assert not matches(FLAGS, _signal("a", signal="double_top"))
    assert not matches(FLAGS, _signal("a", prob=0.69))
    assert not matches(FLAGS, _signal("a", stale=True))
    desk2_only = AlertRule("d2", ("bull_flag",), devices=("desk2",))
    assert not matches(desk2_only, _signal("a"))
    assert matches(desk2_only, _signal("a", device="desk2"))


def test_cooldown_is_per_rule_and_device_on_capture_time() -> None:
    book = RuleBook([FLAGS])
    fired = [
        bool(book.fire(_signal(f, s, device=d), T0))
        for f, s, d in [
            ("a", 0, "desk1"),
            ("b", 10, "desk1"),  # within 30 s of a: suppressed
            ("c", 10, "desk2"),  # another device has its own cooldown
            ("d", 31, "desk1"),
            ("a", 0, "desk1"),  # a redelivery of a: older than d, never fires again
            ("e", 70, "desk1"),
            ("b", 10, "desk1"),  # b redelivered: outside e's window, but older: still silent
        ]
    ]
    assert fired == [True, False, True, True, False, True, False]


def test_cooldown_state_is_recovered_from_the_table(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts.sqlite")
    first = RuleBook([FLAGS]).fire(_signal("a", 0), T0)[0][1]
    assert store.add(first)
    restarted = RuleBook([FLAGS], store.last_fired())
    assert restarted.fire(_signal("b", 5), T0) == []
    assert len(restarted.fire(_signal("c", 45), T0)) == 1


def test_store_is_idempotent_on_alert_id_and_filters_by_time(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts.sqlite")
    alert = RuleBook([FLAGS]).fire(_signal("a"), T0)[0][1]
    assert alert.alert_id == alert_id("flags", "a")
    assert store.add(alert) is True
    assert store.add(alert) is False
    assert store.get(alert.alert_id) == alert
    assert store.since(T0 - timedelta(seconds=1)) == [alert]
    assert store.since(T0 + timedelta(seconds=1)) == []
    assert store.since(T0.replace(tzinfo=None) - timedelta(seconds=1)) == [alert]  # naive = UTC
    reader = AlertStore(tmp_path / "alerts.sqlite", read_only=True)
    assert [a.alert_id for a in reader.since()] == [alert.alert_id]
    assert AlertStore(tmp_path / "none.sqlite", read_only=True).since() == []


def test_engine_fires_once_per_frame_even_when_signals_are_redelivered(
    tmp_path: Path,
) -> None:
    (tmp_path / "tradelake.toml").write_text(
        '[[alerts]]\nname = "any"\nsignals = ["bull_flag"]\nsinks = ["log"]\n'
    )
    settings = stream_settings(load_settings(tmp_path, env={}))
    queue = open_queue("memory")
    engine = AlertEngine(queue, AlertStore(tmp_path / "a.sqlite"), AlertHub(), settings)
    for frame in ("a", "b", "a"):
        queue.publish(SIGNALS, frame, _signal(frame).encode())
    engine.start()
    try:
        for _ in range(200):
            if queue.pending(SIGNALS, "alerts") == 0:
                break
            threading_wait(0.01)
    finally:
        engine.stop()
    assert engine.fired == 2
    assert sorted(a.frame_id for a in engine.store.since()) == ["a", "b"]
    assert engine.dispatcher.lanes["log"].delivered == 2


def test_rules_naming_unknown_sinks_are_refused(tmp_path: Path) -> None:
    (tmp_path / "tradelake.toml").write_text(
        '[[alerts]]\nname = "x"\nsignals = ["bull_flag"]\nsinks = ["slack"]\n'
    )
    with pytest.raises(ConfigError, match="unknown sinks \\['slack'\\]"):
        stream_settings(load_settings(tmp_path, env={}))


def threading_wait(seconds: float) -> None:
    import threading

    threading.Event().wait(seconds)
