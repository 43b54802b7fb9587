"""Latency/throughput of the chart classifier and the embedding search, with baselines.

Run: ``python benchmarks/vision.py`` (uses the shipped checkpoint, 2 torch threads).
Prints each figure next to its target and the speed-up over a naive baseline measured in
the same run: Lanczos resize of the full decoded image with the default (NCHW) memory
layout for the model, and a float64 brute-force full sort for the search.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from tradelake.ml.charts import CLASSES, generate_chart
from tradelake.ml.similarity import EmbeddingIndex
from tradelake.ml.vision import ChartClassifier, ChartNet, decode

W, H = 1280, 720


def _pngs(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = generate_chart(rng, CLASSES[i % len(CLASSES)]).image.resize((W, H))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _times(fn: Callable[[], object], runs: int, warmup: int = 10) -> np.ndarray:
    for _ in range(warmup):
        fn()
    t = np.empty(runs)
    for i in range(runs):
        s = time.perf_counter()
        fn()
        t[i] = time.perf_counter() - s
    return t * 1000.0


def _naive(clf: ChartClassifier) -> tuple[ChartNet, Callable[[list[bytes]], torch.Tensor]]:
    raw = ChartClassifier.load(fuse=False).model  # same weights, BatchNorm not folded
    model = raw.eval().to(memory_format=torch.contiguous_format)
    h, w = clf.input_size

    @torch.inference_mode()
    def run(blobs: list[bytes]) -> torch.Tensor:
        arrs = [np.asarray(decode(b).resize((w, h), Image.Resampling.LANCZOS)) for b in blobs]
        x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().sub(127.5).div(64.0)
        return torch.softmax(model(x.contiguous())[0] / clf.temperature, 1)

    return model, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--n-embeddings", type=int, default=1_000_000)
    a = ap.parse_args()
    torch.set_num_threads(2)
    clf = ChartClassifier.load()
    blobs = _pngs(64)
    print(
        f"model {clf.model_version}; torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}; input {W}x{H} PNG ({len(blobs[0]) // 1024} KiB)"
    )

    single = _times(lambda: clf.predict([blobs[0]]), a.runs)
    _, naive = _naive(clf)
    base = _times(lambda: naive([blobs[0]]), max(50, a.runs // 4))
    p50, p99 = np.percentile(single, [50, 99])
    b50, b99 = np.percentile(base, [50, 99])
    print(
        f"single PNG->prediction  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (target p99 <= 25 ms)"
        f"  {'OK' if p99 <= 25 else 'MISS'}"
    )
    print(
        f"  naive baseline        p50 {b50:6.1f} ms  p99 {b99:6.1f} ms  -> speed-up "
        f"{b50 / p50:.1f}x (p50)"
    )

    batch = 32

    def run_batches() -> None:
        for i in range(0, len(blobs), batch):
            clf.predict_many(blobs[i : i + batch])

    def run_naive() -> None:
        for i in range(0, len(blobs), batch):
            naive(blobs[i : i + batch])

    t = _times(run_batches, 3, warmup=1).sum() / 1000
    tb = _times(run_naive, 2, warmup=1).sum() / 1000
    ips, ips_b = 3 * len(blobs) / t, 2 * len(blobs) / tb
    print(
        f"batched (32/batch, incl. decode) {ips:6.1f} images/s  (target >= 150)  "
        f"{'OK' if ips >= 150 else 'MISS'};  naive {ips_b:.1f} images/s -> {ips / ips_b:.1f}x"
    )

    rng = np.random.default_rng(0)
    n = a.n_embeddings
    emb = np.empty((n, 128), np.float32)
    for s in range(0, n, 100_000):
        emb[s : s + 100_000] = rng.standard_normal((min(100_000, n - s), 128), np.float32)
    index = EmbeddingIndex(emb, normalized=False)
    del emb
    queries = rng.standard_normal((20, 128)).astype(np.float32)
    it = iter(range(10**9))
    st = _times(lambda: index.search(queries[next(it) % 20], 10), 20, warmup=2)
    mat64 = index._mat.astype(np.float64)

    def brute() -> list[int]:
        q = queries[0].astype(np.float64)
        scores = mat64 @ (q / np.linalg.norm(q))
        return np.argsort(-scores)[:10].tolist()

    sb = _times(brute, 3, warmup=1)
    assert [i for i, _ in index.search(queries[0], 10)] == brute()
    s50, smax = np.percentile(st, 50), st.max()
    print(
        f"search top-10 of {n:,} x 128  p50 {s50:6.1f} ms  max {smax:6.1f} ms  "
        f"(target <= 200 ms)  {'OK' if smax <= 200 else 'MISS'};  float64 full-sort "
        f"baseline {np.median(sb):.0f} ms -> {np.median(sb) / s50:.1f}x"
    )


if __name__ == "__main__":
    main()
