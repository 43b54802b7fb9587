"""The chart CNN: preprocessing, training signal, shipped checkpoint, errors, similarity."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tradelake.ml.charts import CLASSES, generate_chart
from tradelake.ml.similarity import EmbeddingIndex
from tradelake.ml.train_vision import augment, make_dataset, normalise, train
from tradelake.ml.vision import (
    INPUT_SIZE,
    WEIGHTS,
    ChartClassifier,
    ChartNet,
    Prediction,
    VisionError,
    decode,
    expected_calibration_error,
    fit_temperature,
    preprocess,
    to_tensor,
)

# Narrow layers (8 channels) crash oneDNN backward in channels_last on torch 2.13 CPU.
TINY = (16, 16, 32, 32)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def shipped() -> ChartClassifier:
    return ChartClassifier.load()


@pytest.fixture(scope="module")
def charts() -> list[bytes]:
    rng = np.random.default_rng(42)
    return [_png(generate_chart(rng, c).image) for c in ("double_top", "bull_flag", "none")]


def test_preprocess_trims_borders_and_sizes_input() -> None:
    img = generate_chart(np.random.default_rng(1), "double_bottom").image
    arr = preprocess(img)
    assert arr.shape == (*INPUT_SIZE, 3) and arr.dtype == np.uint8
    padded = Image.new("RGB", (img.width + 400, img.height + 200), (255, 0, 255))
    padded.paste(img, (200, 100))
    # A uniform frame around the screenshot is trimmed away: same input, up to resampling.
    diff = np.abs(preprocess(padded).astype(int) - arr.astype(int)).mean()
    assert diff < 20


def test_model_shapes_and_unit_embedding() -> None:
    model = ChartNet(widths=TINY).eval()
    x = to_tensor(np.zeros((2, *INPUT_SIZE, 3), np.uint8))
    logits, emb = model(x)
    assert logits.shape == (2, len(CLASSES)) and emb.shape == (2, 128)
    assert torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_loss_falls_on_a_tiny_set() -> None:
    torch.manual_seed(0)
    x, y = make_dataset(14, seed=3, workers=1)
    model = ChartNet(widths=TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    xb, yb = normalise(torch.from_numpy(x)), torch.from_numpy(y)
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(model(xb)[0], yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])


def test_augment_keeps_shapes_and_mirrors_labels() -> None:
    x = torch.zeros((64, *INPUT_SIZE, 3), dtype=torch.uint8)
    y = torch.full((64,), CLASSES.index("bull_flag"))
    xa, ya = augment(x, y, torch.Generator().manual_seed(0))
    assert xa.shape == (64, 3, *INPUT_SIZE)
    assert set(ya.tolist()) == {CLASSES.index("bull_flag"), CLASSES.index("bear_flag")}


def test_train_end_to_end_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    res = train(
        epochs=1,
        n_train=56,
        seed=1,
        n_val=14,
        n_test_per_class=2,
        batch_size=14,
        workers=1,
        widths=TINY,
        out=tmp_path / "m.pt",
        log=False,
    )
    assert res.path is not None and res.path.stat().st_size < 2_000_000
    m = res.metrics["heldout"]
    assert m["n"] == 14 and 0.0 <= m["macro_f1"] <= 1.0
    assert len(m["confusion"]) == len(CLASSES)
    assert res.metrics["temperature"] > 0
    clf = ChartClassifier.load(res.path)
    img = generate_chart(np.random.default_rng(0), "none").image
    (p,) = clf.predict([img])
    assert p.signal in CLASSES


def test_shipped_checkpoint_is_small_and_deterministic(
    shipped: ChartClassifier, charts: list[bytes]
) -> None:
    assert WEIGHTS.stat().st_size < 8_000_000
    assert shipped.classes == CLASSES and shipped.model_version
    assert shipped.metrics["heldout"]["macro_f1"] >= 0.0
    a = shipped.predict(charts)
    b = shipped.predict(charts)
    for pa, pb in zip(a, b, strict=True):
        assert isinstance(pa, Prediction)
        assert pa.signal == pb.signal and pa.probs == pb.probs
        assert np.array_equal(pa.embedding, pb.embedding)
        assert pa.embedding.dtype == np.float32 and pa.embedding.shape == (128,)
        assert abs(float(np.linalg.norm(pa.embedding)) - 1.0) < 1e-4
        assert abs(sum(pa.probs.values()) - 1.0) < 1e-5
        assert pa.prob == max(pa.probs.values()) and pa.signal in CLASSES
    # One image alone gives the same answer as inside a batch.
    (single,) = shipped.predict([charts[1]])
    assert single.signal == a[1].signal
    assert np.allclose(single.embedding, a[1].embedding, atol=1e-4)


def test_corrupt_inputs_get_clear_errors_and_the_batch_goes_on(
    shipped: ChartClassifier, charts: list[bytes], tmp_path: Path
) -> None:
    truncated = charts[0][: len(charts[0]) // 3]
    batch: list[bytes | Image.Image] = [
        charts[0],
        b"not an image",
        truncated,
        b"",
        Image.new("RGB", (10, 10)),
        charts[2],
    ]
    out = shipped.predict_many(batch)
    assert isinstance(out[0], Prediction) and isinstance(out[5], Prediction)
    assert all(isinstance(r, VisionError) for r in out[1:5])
    assert "PNG, JPEG or WebP" in str(out[1])
    assert "empty" in str(out[3]) and "10x10" in str(out[4])
    with pytest.raises(VisionError, match="input 1"):
        shipped.predict(batch)
    good, bad = tmp_path / "a.png", tmp_path / "b.png"
    good.write_bytes(charts[1])
    bad.write_text("hello")
    res = dict(shipped.classify_files([good, bad, tmp_path / "missing.png"]))
    assert isinstance(res[good], Prediction)
    assert isinstance(res[bad], VisionError) and "b.png" in str(res[bad])
    assert "cannot read" in str(res[tmp_path / "missing.png"])


def test_jpeg_is_decoded_at_reduced_scale_with_the_same_answer(shipped: ChartClassifier) -> None:
    rng = np.random.default_rng(8)
    blobs = []
    for label in ("bear_flag", "inverse_head_and_shoulders", "double_bottom"):
        buf = io.BytesIO()
        generate_chart(rng, label).image.resize((1280, 720)).save(buf, format="JPEG", quality=90)
        blobs.append(buf.getvalue())
    assert decode(blobs[0], INPUT_SIZE).size == (640, 360)  # libjpeg 1/2 scale, not 1280x720
    assert decode(blobs[0]).size == (1280, 720)
    drafted = shipped.predict(blobs)
    # a decoded PIL image skips the draft: the full-size decode, preprocessed the same way
    full = shipped.predict_arrays(np.stack([shipped.prepare(decode(b)) for b in blobs]))
    for a, b in zip(drafted, full, strict=True):
        assert a.signal == b.signal and abs(a.prob - b.prob) < 0.05
        assert float(a.embedding @ b.embedding) > 0.999


def test_bad_checkpoint_path_is_a_vision_error(tmp_path: Path) -> None:
    with pytest.raises(VisionError, match="no checkpoint"):
        ChartClassifier.load(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(VisionError, match="not a chart_cnn checkpoint"):
        ChartClassifier.load(junk)


def test_temperature_scaling_reduces_calibration_error() -> None:
    rng = np.random.default_rng(0)
    n, k = 6000, len(CLASSES)
    true_logits = rng.normal(0, 1.5, (n, k))
    p_true = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(k, p=p) for p in p_true])  # calibrated at T = 1
    logits = 3.0 * true_logits  # the model is over-confident by a factor 3
    t = fit_temperature(torch.tensor(logits), torch.tensor(labels))
    assert 2.5 < t < 3.5

    def probs(temp: float) -> np.ndarray:
        return torch.softmax(torch.tensor(logits) / temp, 1).numpy()

    before = expected_calibration_error(probs(1.0), labels)
    after = expected_calibration_error(probs(t), labels)
    assert after < 0.3 * before and after < 0.03


def test_similarity_search_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5000, 128)).astype(np.float32)
    ids = [f"chart-{i}" for i in range(5000)]
    index = EmbeddingIndex(emb, ids)
    q = emb[123] + 0.01 * rng.normal(size=128).astype(np.float32)
    hits = index.search(q, k=5)
    assert hits[0][0] == "chart-123" and hits[0][1] > 0.99
    norm = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    brute = np.argsort(-(norm @ (q / np.linalg.norm(q))))[:5]
    assert [h[0] for h in hits] == [ids[i] for i in brute]
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    half = EmbeddingIndex(emb, ids, dtype=np.float16)
    assert [h[0] for h in half.search(q, 1)] == ["chart-123"]
    index.add(emb[:2], ["x", "y"])
    assert len(index) == 5002 and index.search(emb[0], 2)[0][1] > 0.999
    assert index.search(q, 0) == [] and len(index.search(q, 10_000)) == 5002
