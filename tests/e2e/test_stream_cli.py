"""The real-time path as a trader runs it: `tradelake serve` in its own process (signals,
clean exit), `screen send` and `alerts` through Typer's CliRunner (in process: each
subprocess would spend seconds importing the platform)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from fixtures.stream import PRODUCER_TOKEN, VIEWER_TOKEN, screen_png, write_stream_config
from tradelake.cli import app

pytestmark = pytest.mark.slow
TOKENS = {"TRADELAKE_PRODUCER_TOKEN": PRODUCER_TOKEN, "TRADELAKE_VIEWER_TOKEN": VIEWER_TOKEN}


def run_cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def json_out(result: Any) -> Any:
    return json.loads(result.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_send_list_and_show(home: Path, tmp_path: Path) -> None:
    write_stream_config(home)
    shots = tmp_path / "shots"
    shots.mkdir()
    for seed in (1, 2, 3):
        (shots / f"shot-{seed}.png").write_bytes(screen_png(seed))
    (shots / "notes.txt").write_text("not a screenshot")  # skipped: not an image suffix
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADELAKE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "tradelake", "serve", "--port", str(port), "--home", str(home)],
        env={**env, **TOKENS},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(port, server)
        url = f"ws://127.0.0.1:{port}"
        sent = run_cli(
            "screen",
            "send",
            str(shots),
            "--device",
            "desk1",
            "--fps",
            "20",
            "--url",
            url,
            "--home",
            str(home),
            "--json",
            env=TOKENS,
        )
        assert sent.exit_code == 0, sent.stderr
        report = json_out(sent)
        assert (report["sent"], report["accepted"], report["errors"]) == (3, 3, [])

        no_token = run_cli(
            "screen", "send", str(shots), "--device", "desk1", "--url", url, "--home", str(home)
        )
        assert no_token.exit_code == 1
        assert "no producer token" in no_token.stderr and "Traceback" not in no_token.stderr

        history = f"http://127.0.0.1:{port}/api/alerts?token={VIEWER_TOKEN}"
        for _ in range(200):  # alerts are pushed within ~0.1 s; the history API says when
            if len(httpx.get(history).json()) == 3:
                break
            time.sleep(0.05)
        alerts = json_out(run_cli("alerts", "--json", "--home", str(home)))
        assert sorted(a["frame_id"] for a in alerts) == sorted(
            a["frame_id"] for a in report["answers"]
        )
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "Traceback" not in err

    first = alerts[0]
    shown = run_cli("alerts", "show", str(first["alert_id"]), "--json", "--home", str(home))
    assert shown.exit_code == 0, shown.stderr
    chain = json_out(shown)
    assert chain["alert"]["alert_id"] == first["alert_id"]
    assert chain["signal"]["frame_id"] == first["frame_id"]
    assert chain["signal"]["signal"] == first["signal"]
    assert chain["sha256"] == first["landing_id"] and chain["image_verified"] is True
    image = Path(chain["image_path"])
    assert image.is_file() and image.parent.parts[-4] == "screen:desk1"

    text = run_cli("alerts", "show", str(first["alert_id"]), "--home", str(home))
    assert f"sha256 {first['landing_id']} (verified)" in text.stdout
    missing = run_cli("alerts", "show", "nope", "--home", str(home))
    assert missing.exit_code == 1 and "no alert 'nope'" in missing.stderr


def _wait_healthy(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited: {server.communicate()[1]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("serve did not come up in 60 s")
