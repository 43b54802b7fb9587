"""Screenshots through every layer: landing → screens parser → img_signals → DuckDB → replay."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from fixtures.charts import LABELS, chart_png, write_charts
from tradelake.errors import VisionError
from tradelake.features import catalog
from tradelake.features.embeddings import cache_dir, load_embeddings
from tradelake.jobs.vision import ingest_frame
from tradelake.ml.charts import CLASSES
from tradelake.ml.vision import WEIGHTS
from tradelake.platform import Platform


def _shipped_version() -> str:
    """``<version>+<sha256[:12]>`` of the shipped checkpoint, as ChartClassifier names it."""
    raw = WEIGHTS.read_bytes()
    version = torch.load(WEIGHTS, map_location="cpu", weights_only=True)["version"]
    return f"{version}+{hashlib.sha256(raw).hexdigest()[:12]}"


def _signals(platform: Platform) -> pl.DataFrame:
    return platform.sql("SELECT * FROM img_signals ORDER BY frame_id")


def test_ingest_score_reingest_and_replay(home: Path, tmp_path: Path) -> None:
    shots = write_charts(tmp_path / "shots")
    platform = Platform.open(home)

    report = platform.ingest([shots])
    status = {Path(r.path).name: r for r in report.files}
    assert {n: r.status for n, r in status.items()} == {
        "chart-0.png": "ingested",
        "chart-1.png": "ingested",
        "chart-2.png": "ingested",
        "corrupt.png": "error",
    }
    error = status["corrupt.png"].error or ""
    assert error.startswith("corrupt.png: cannot decode image") and "\n" not in error

    frame = _signals(platform)
    assert frame.height == 3
    emb = np.stack(frame["embedding"].to_list()).astype(np.float32)
    assert emb.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    expected_ids = {
        hashlib.sha256(chart_png(label, 100 + i)).hexdigest()[:16]: label
        for i, label in enumerate(LABELS)
    }
    assert set(frame["frame_id"]) == set(expected_ids)
    assert frame["signal"].to_list() == [expected_ids[f] for f in frame["frame_id"]]
    for row in frame.iter_rows(named=True):
        probs = json.loads(row["probs"])
        assert list(probs) == list(CLASSES)
        assert abs(sum(probs.values()) - 1.0) < 1e-5 and probs[row["signal"]] == row["prob"]
        assert row["device"] == "file" and row["source"] == "screens" and row["version"] == 1
        assert row["ts"] == row["ingest_ts"]  # a dropped file's capture time is its landing time
        assert row["model_version"] == _shipped_version()

    again = platform.ingest([shots])
    assert sorted(r.status for r in again.files) == ["duplicate"] * 3 + ["error"]
    assert _signals(platform).equals(frame)

    result = platform.replay()
    assert result.objects == 4
    assert [r.status for r in result.results].count("error") == 1
    assert _signals(platform).equals(frame)


def test_real_time_frames_keep_device_id_and_capture_time(home: Path) -> None:
    platform = Platform.open(home)
    captured = datetime(2026, 11, 2, 14, 30, 5, 120000, tzinfo=UTC)
    result = ingest_frame(
        platform.ingest_env, chart_png("bear_flag", 7), device="desk-1", frame_id="f-1", ts=captured
    )
    assert result.status == "ingested", result.error
    platform.refresh()
    row = _signals(platform).row(0, named=True)
    assert (row["frame_id"], row["device"], row["source"]) == ("f-1", "desk-1", "screen:desk-1")
    assert row["ts"] == captured and row["signal"] == "bear_flag"
    (obj,) = platform.landing.list()
    assert obj.attributes["kind"] == "screens"

    platform.replay()  # dispatches on attributes["kind"]; "screen:desk-1" names no parser
    assert _signals(platform).row(0, named=True) == row


def test_embedding_cache_follows_the_table(home: Path, tmp_path: Path) -> None:
    platform = Platform.open(home)
    # a published store without an img_signals table yet: empty
    catalog.publish(platform.features.catalog_path, catalog.Catalog())
    assert len(load_embeddings(platform.features)) == 0
    platform.ingest([write_charts(tmp_path / "a", LABELS[:2], corrupt=False)])
    first = load_embeddings(platform.features, columns=("signal",))
    assert len(first) == 2 and not isinstance(first.matrix, np.memmap)
    assert first.rows.column_names == ["frame_id", "signal"]
    cached = load_embeddings(platform.features, columns=("signal",))
    assert isinstance(cached.matrix, np.memmap) and cached.fingerprint == first.fingerprint
    np.testing.assert_array_equal(np.asarray(cached.matrix), first.matrix)
    assert cached.rows.equals(first.rows)

    platform.refresh()  # nothing new: the store's stamp may change, the content does not
    assert load_embeddings(platform.features, columns=("signal",)).fingerprint == first.fingerprint
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "new.png").write_bytes(chart_png("none", 5))
    platform.ingest([tmp_path / "b"])
    grown = load_embeddings(platform.features, columns=("signal",))
    assert len(grown) == 3 and grown.fingerprint != first.fingerprint
    # The cache follows the table's rows (this test is not about the model's accuracy).
    table = _signals(platform).select("frame_id", "signal")
    assert sorted(grown.rows.to_pylist(), key=str) == sorted(table.to_dicts(), key=str)
    names = {p.name for p in cache_dir(platform.features).iterdir()}
    assert len(names) == 3 and "img_signals.stamps.json" in names
    assert sum(grown.fingerprint in n for n in names) == 2  # the old pair was deleted


def test_configured_model_scores_and_a_missing_one_fails_per_file(
    home: Path, tmp_path: Path
) -> None:
    (home / "models").mkdir()
    (home / "models" / "mine.pt").write_bytes(WEIGHTS.read_bytes())
    (home / "tradelake.toml").write_text('[vision]\nmodel = "models/mine.pt"\n')
    shot = tmp_path / "one.png"
    shot.write_bytes(chart_png("double_bottom", 3))
    platform = Platform.open(home)
    assert platform.ingest([shot]).ok
    assert _signals(platform)["model_version"][0] == _shipped_version()

    (home / "tradelake.toml").write_text('[vision]\nmodel = "models/gone.pt"\n')
    other = tmp_path / "two.png"
    other.write_bytes(chart_png("bear_flag", 4))
    (result,) = Platform.open(home).ingest([other]).files
    assert result.status == "error" and "no checkpoint at" in (result.error or "")
    assert str(home / "models" / "gone.pt") in (result.error or "")


def test_each_platform_scores_with_its_own_model(home: Path, tmp_path: Path) -> None:
    """The chart model travels with each parse: opening a second data home (another model) in
    the same process does not change which model the first one uses."""
    (home / "models").mkdir()
    (home / "models" / "mine.pt").write_bytes(WEIGHTS.read_bytes())
    (home / "tradelake.toml").write_text('[vision]\nmodel = "models/mine.pt"\n')
    other_home = tmp_path / "other-home"
    other_home.mkdir()
    (other_home / "tradelake.toml").write_text('[vision]\nmodel = "models/gone.pt"\n')
    shot = tmp_path / "one.png"
    shot.write_bytes(chart_png("double_bottom", 3))

    mine = Platform.open(home)
    gone = Platform.open(other_home)  # opened last: a process-global model would be this one

    assert mine.ingest([shot]).ok
    assert _signals(mine)["model_version"][0] == _shipped_version()
    (failed,) = gone.ingest([shot]).files
    assert failed.status == "error" and "no checkpoint at" in (failed.error or "")


def test_similar_searches_only_the_current_models_embeddings(home: Path, tmp_path: Path) -> None:
    shots = write_charts(tmp_path / "shots", corrupt=False)
    platform = Platform.open(home)
    platform.ingest([shots])
    best = platform.similar_setups(shots / "chart-2.png", k=1).matches[0]
    assert best.signal == "head_and_shoulders" and best.score > 0.9999

    ckpt = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    ckpt["metrics"]["note"] = "same weights, other file: another model_version"
    torch.save(ckpt, home / "other.pt")
    (home / "tradelake.toml").write_text('[vision]\nmodel = "other.pt"\n')
    other = Platform.open(home)
    with pytest.raises(VisionError, match="none of the 3 stored frames was embedded by model"):
        other.similar_setups(shots / "chart-2.png")
    other.replay()  # re-scores every frame with the configured model
    assert other.similar_setups(shots / "chart-2.png", k=1).matches[0].frame_id == best.frame_id
