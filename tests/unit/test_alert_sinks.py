"""Alert sinks against a loopback HTTP receiver: payloads, retries with backoff, isolation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tradelake.errors import ConfigError
from tradelake.stream.alerts.dispatch import Dispatcher
from tradelake.stream.alerts.record import Alert
from tradelake.stream.alerts.sinks import SINKS, SinkContext, open_sink
from tradelake.stream.hub import AlertHub
from tradelake.stream.settings import SinkConfig

NOW = datetime(2026, 11, 2, 14, 30, 5, 120000, tzinfo=UTC)
ALERT = Alert("a1", "flags", "desk1", "f1", "bull_flag", 0.91, NOW, NOW, NOW, "1+abc", "l" * 64)


class Receiver:
    """Records every POST; answers ``fail_first`` of them with 500, waits ``delay_s`` each."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.requests: list[tuple[float, dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), dict(self.headers), body))
                time.sleep(delay_s)
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.server.shutdown()


def _context() -> SinkContext:
    return SinkContext(AlertHub())


def test_every_kind_is_registered() -> None:
    open_sink(SinkConfig("x", "log"), _context())  # loads the registry
    assert {"dashboard", "webhook", "ntfy", "log"} <= set(SINKS)
    with pytest.raises(ConfigError, match="no sink type 'pager'"):
        open_sink(SinkConfig("x", "pager"), _context())
    with pytest.raises(ConfigError, match="must be an http"):
        open_sink(SinkConfig("x", "webhook", {"url": "ftp://nope"}), _context())


def test_webhook_retries_with_backoff_until_accepted(receiver: Receiver) -> None:
    sink = open_sink(
        SinkConfig("slack", "webhook", {"url": receiver.url, "backoff_s": 0.05}), _context()
    )
    dispatcher = Dispatcher([sink])
    dispatcher.send(ALERT, ["slack"])
    receiver.wait(3)
    dispatcher.close()
    assert len(receiver.requests) == 3  # two 500s, then delivered
    gaps = [b[0] - a[0] for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09  # 0.05 s, then doubled
    body = json.loads(receiver.requests[-1][2])
    assert body["text"].startswith("flags: bull_flag (91%) on desk1")
    assert body["alert"]["alert_id"] == "a1" and body["alert"]["frame_id"] == "f1"
    assert dispatcher.lanes["slack"].delivered == 1
    assert dispatcher.lanes["slack"].failed == []


def test_ntfy_posts_text_with_title_and_priority(receiver: Receiver) -> None:
    receiver.fail_first = 0
    sink = open_sink(SinkConfig("phone", "ntfy", {"url": receiver.url, "priority": 5}), _context())
    sink.send(ALERT)
    _, headers, body = receiver.requests[0]
    assert body.decode().startswith("flags: bull_flag")
    assert headers["Title"] == "tradelake: flags" and headers["Priority"] == "5"
    assert headers["X-Alert-Id"] == "a1"


def test_a_failing_sink_gives_up_and_never_blocks_the_others() -> None:
    slow = Receiver(fail_first=100, delay_s=0.3)
    try:
        hub = AlertHub()
        delivered: list[float] = []

        class Fast:
            name, retries, backoff_s = "fast", 0, 0.0

            def send(self, alert: Alert) -> None:
                delivered.append(time.monotonic())

            def close(self) -> None:
                return None

        failing = open_sink(
            SinkConfig("down", "webhook", {"url": slow.url, "retries": 2, "backoff_s": 0.01}),
            SinkContext(hub),
        )
        dispatcher = Dispatcher([failing, Fast()])
        started = time.monotonic()
        for _ in range(3):
            dispatcher.send(ALERT, ["down", "fast"])
        deadline = time.monotonic() + 2
        while len(delivered) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(delivered) == 3 and delivered[-1] - started < 0.25
        slow.wait(3)
        dispatcher.close(timeout_s=10)
        lane = dispatcher.lanes["down"]
        assert lane.delivered == 0
        assert lane.failed and "answered 500" in lane.failed[0][1]
    finally:
        slow.server.shutdown()
