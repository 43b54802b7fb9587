"""Hot swap: the champion alias moves mid-stream; every frame keeps exactly one row, and the
rows switch model version once, with no gap and no frame scored by a mix of the two."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from fixtures.stream import screen_png, write_stream_config
from tradelake.ml.registry import CHAMPION, MODEL_NAME, default_tracking_uri, publish
from tradelake.ml.vision import WEIGHTS, ChartClassifier
from tradelake.platform import Platform
from tradelake.stream.messages import SignalMessage
from tradelake.stream.queue import SIGNALS

pytestmark = pytest.mark.slow


def _perturbed(tmp: Path) -> Path:
    """The shipped checkpoint with slightly different weights and a worse recorded score (so
    publishing it does not promote it: the test moves the alias itself)."""
    ckpt = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    gen = torch.Generator().manual_seed(3)
    ckpt["state_dict"] = {
        k: v + 0.01 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
        for k, v in ckpt["state_dict"].items()
    }
    ckpt["metrics"]["heldout"]["macro_f1"] = 0.0
    out = tmp / "perturbed.pt"
    torch.save(ckpt, out)
    return out


def test_champion_moves_mid_stream_without_gap(home: Path, tmp_path: Path) -> None:
    first = publish(WEIGHTS, home=home)
    second = publish(_perturbed(tmp_path), home=home)
    assert first.promoted and not second.promoted
    uri = default_tracking_uri(home)
    old = ChartClassifier.load(f"models:/{MODEL_NAME}/1", tracking_uri=uri).model_version
    new = ChartClassifier.load(f"models:/{MODEL_NAME}/2", tracking_uri=uri).model_version
    assert old != new

    write_stream_config(home, f'\n[vision]\nmodel = "models:/{MODEL_NAME}@{CHAMPION}"\n')
    (home / "tradelake.toml").write_text(
        (home / "tradelake.toml").read_text().replace("[stream]", "[stream]\nmodel_poll_s = 0.1")
    )
    platform = Platform.open(home)
    runtime = platform.stream_runtime()
    assert runtime.gateway is not None and runtime.cv is not None
    signals = runtime.queue.consumer(SIGNALS, "test")
    images = [screen_png(seed) for seed in range(40, 56)]
    runtime.start()
    try:
        sent: list[str] = []

        def stream() -> None:
            for i, data in enumerate(images):
                answer = runtime.gateway.accept(  # type: ignore[union-attr]
                    "desk1", data, frame_id=f"f{i:03d}", ts=datetime.now(UTC)
                )
                assert answer.status == "accepted"
                sent.append(f"f{i:03d}")
                time.sleep(0.05)

        producer = threading.Thread(target=stream)
        producer.start()
        while len(sent) < len(images) // 2:
            time.sleep(0.01)
        MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(
            MODEL_NAME, CHAMPION, "2"
        )
        producer.join()
        got: list[SignalMessage] = []
        deadline = time.monotonic() + 30
        while len(got) < len(images) and time.monotonic() < deadline:
            got += [SignalMessage.decode(m.value) for m in signals.poll(64, 0.5)]
        assert runtime.cv.drain(20)
    finally:
        runtime.stop()

    versions = [s.model_version for s in sorted(got, key=lambda s: s.frame_id)]
    assert len(versions) == len(images)  # no frame lost, none scored twice
    switch = versions.index(new)
    assert versions == [old] * switch + [new] * (len(images) - switch)
    assert 0 < switch < len(images)
    rows = platform.staging.read("img_signals").sort("frame_id")
    assert rows["frame_id"].to_list() == sorted(sent)
    assert rows["model_version"].to_list() == versions
